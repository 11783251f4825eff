"""Translation methods, one LightningModule each."""

from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.pix2pix import Pix2Pix

__all__ = ["EvalImages", "I2IMethod", "Pix2Pix"]
