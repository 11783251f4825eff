"""PredictionWriter's naming rule: a mirror of the input folder, one output per input."""

from pathlib import Path

import numpy as np
import pytest

from i2i_zoo.callbacks import PredictionWriter
from i2i_zoo.callbacks.prediction_writer import output_paths
from i2i_zoo.data import PairedDataModule
from i2i_zoo.methods import METHODS


def test_outputs_mirror_the_inputs_and_formats_that_cannot_be_written_get_png_appended(tmp_path):
    root = tmp_path / "in"
    inputs = [root / "x.png", root / "x.JPG", root / "x.tif", root / "sub" / "x.webp", tmp_path / "elsewhere" / "y.bmp"]
    assert output_paths(inputs, root, Path("out")) == {
        str(root / "x.png"): Path("out/x.png"),
        str(root / "x.JPG"): Path("out/x.JPG"),
        str(root / "x.tif"): Path("out/x.tif.png"),
        str(root / "sub" / "x.webp"): Path("out/sub/x.webp.png"),
        str(tmp_path / "elsewhere" / "y.bmp"): Path("out/y.bmp.png"),  # outside the predict folder: its name
    }


def test_two_inputs_for_one_output_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"x\.tif\.png and .*x\.tif would both be written to out/x\.tif\.png"):
        output_paths([tmp_path / "x.tif", tmp_path / "x.tif.png"], tmp_path, Path("out"))


def test_without_a_checkpoint_the_folder_must_be_named(tmp_path, quiet_trainer, write_rgb_file):
    write_rgb_file(tmp_path / "in" / "a.png", np.zeros((8, 8, 3), np.uint8))
    trainer = quiet_trainer(callbacks=[PredictionWriter()])
    with pytest.raises(ValueError, match="PredictionWriter needs output_dir when predict runs without a checkpoint"):
        trainer.predict(METHODS["Pix2Pix"].build(), datamodule=PairedDataModule(predict_dir=str(tmp_path / "in"), num_workers=0))
    assert not (tmp_path / "predictions").exists()
