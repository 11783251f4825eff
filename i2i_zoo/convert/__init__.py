"""Importers for checkpoints of the original implementations, and writers back to their layout."""

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

__all__ = [
    "CYCLEGAN_NAMES",
    "PIX2PIX_NAMES",
    "build_generator_from_config",
    "infer_discriminator_config",
    "infer_generator_config",
    "load_checkpoint",
    "load_original_cyclegan",
    "load_original_discriminator",
    "load_original_generator",
    "load_original_pix2pix",
    "original_generator_name",
    "read_state_dict",
    "save_checkpoint",
    "save_original",
    "to_original_state_dicts",
]
