from i2i_zoo.cli import main

main()
