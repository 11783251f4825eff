"""Importers for checkpoints of the original implementations, and writers back to their layout."""

from i2i_zoo.convert.biggan import (
    infer_biggan_discriminator_config,
    infer_biggan_generator_config,
    load_biggan_pytorch,
)
from i2i_zoo.convert.checkpoint import load_checkpoint, save_checkpoint
from i2i_zoo.convert.original import (
    CYCLEGAN_NAMES,
    PIX2PIX_NAMES,
    build_generator_from_config,
    infer_discriminator_config,
    infer_generator_config,
    load_original_cyclegan,
    load_original_discriminator,
    load_original_generator,
    load_original_pix2pix,
    original_generator_name,
    read_state_dict,
    save_original,
    to_original_state_dicts,
)
from i2i_zoo.convert.stargan import (
    CELEBA_ATTRIBUTES,
    infer_stargan_discriminator_config,
    infer_stargan_generator_config,
    load_original_stargan,
)

__all__ = [
    "CELEBA_ATTRIBUTES",
    "CYCLEGAN_NAMES",
    "PIX2PIX_NAMES",
    "build_generator_from_config",
    "infer_biggan_discriminator_config",
    "infer_biggan_generator_config",
    "infer_discriminator_config",
    "infer_generator_config",
    "infer_stargan_discriminator_config",
    "infer_stargan_generator_config",
    "load_biggan_pytorch",
    "load_checkpoint",
    "load_original_cyclegan",
    "load_original_discriminator",
    "load_original_generator",
    "load_original_pix2pix",
    "load_original_stargan",
    "original_generator_name",
    "read_state_dict",
    "save_checkpoint",
    "save_original",
    "to_original_state_dicts",
]
