import os
import tempfile
from pathlib import Path

# A hub look-up without network waits ~47 s before failing; nothing in the tests may reach a hub.
os.environ["HF_HUB_OFFLINE"] = "1"
# Demo datasets are generated once into a cache shared by test runs and xdist workers.
os.environ.setdefault("I2I_ZOO_DEMO_DIR", str(Path(tempfile.gettempdir()) / "i2i_zoo_test_demo"))
