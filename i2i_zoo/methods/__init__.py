"""Translation methods, one LightningModule each."""

from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.cyclegan import CycleGAN
from i2i_zoo.methods.image_pool import ImagePool
from i2i_zoo.methods.pix2pix import Pix2Pix
from i2i_zoo.methods.spl import SPL, SPLReferenceTransfer, SPLSuperResolution

__all__ = ["CycleGAN", "EvalImages", "I2IMethod", "ImagePool", "Pix2Pix", "SPL", "SPLReferenceTransfer", "SPLSuperResolution"]
