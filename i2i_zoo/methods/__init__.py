"""Translation (and generation) methods, one LightningModule each, and their registry (`METHODS`)."""

from i2i_zoo.methods.asymgan import AsymGAN
from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.biggan import BigGAN
from i2i_zoo.methods.cyclegan import CycleGAN
from i2i_zoo.methods.deepi2i import DeepI2I
from i2i_zoo.methods.ganimation import GANimation
from i2i_zoo.methods.image_pool import ImagePool
from i2i_zoo.methods.optimizers import OptimizerSpec, Schedule
from i2i_zoo.methods.phases import Phase
from i2i_zoo.methods.pix2pix import Pix2Pix
from i2i_zoo.methods.registry import METHODS, MethodEntry, method_class, own_class, register, stored_method_class
from i2i_zoo.methods.spl import SPL, SPLReferenceTransfer, SPLSuperResolution
from i2i_zoo.methods.stargan import StarGAN

__all__ = [
    "METHODS", "AsymGAN", "BigGAN", "CycleGAN", "DeepI2I", "EvalImages", "GANimation", "I2IMethod", "ImagePool", "MethodEntry", "OptimizerSpec", "Phase",
    "Pix2Pix", "SPL", "SPLReferenceTransfer", "SPLSuperResolution", "Schedule", "StarGAN", "method_class", "own_class",
    "register", "stored_method_class",
]
