"""Translation methods, one LightningModule each."""

from i2i_zoo.methods.base import I2IMethod
from i2i_zoo.methods.pix2pix import Pix2Pix

__all__ = ["I2IMethod", "Pix2Pix"]
