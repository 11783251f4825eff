"""Networks as plain nn.Modules: generators, discriminators and the layers they share."""
from i2i_zoo.nets.edsr import EDSR, EDSRResidualBlock
from i2i_zoo.nets.generators import GENERATORS, build_generator
from i2i_zoo.nets.layers import conv_bias, get_norm_layer, init_weights
from i2i_zoo.nets.patchgan import PatchGANDiscriminator
from i2i_zoo.nets.resnet_generator import ResnetBlock, ResnetGenerator
from i2i_zoo.nets.spl_resnet import ReferenceTransfer, SPLResidualBlock, SPLResnetGenerator, spl_generator
from i2i_zoo.nets.srresnet import SRResidualBlock, SRResNet
from i2i_zoo.nets.stargan import (
    FixedLabelGenerator,
    StarGANDiscriminator,
    StarGANGenerator,
    StarGANResidualBlock,
    StarGANTrunk,
    tile_labels,
)
from i2i_zoo.nets.unet import UnetGenerator, UnetSkipBlock

__all__ = [
    "EDSR",
    "EDSRResidualBlock",
    "FixedLabelGenerator",
    "GENERATORS",
    "PatchGANDiscriminator",
    "ReferenceTransfer",
    "ResnetBlock",
    "ResnetGenerator",
    "SPLResidualBlock",
    "SPLResnetGenerator",
    "SRResNet",
    "SRResidualBlock",
    "StarGANDiscriminator",
    "StarGANGenerator",
    "StarGANResidualBlock",
    "StarGANTrunk",
    "UnetGenerator",
    "UnetSkipBlock",
    "build_generator",
    "conv_bias",
    "get_norm_layer",
    "init_weights",
    "spl_generator",
    "tile_labels",
]
