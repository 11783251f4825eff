"""i2i-zoo: image-to-image translation methods as Lightning modules."""
__version__ = "0.1.0"
