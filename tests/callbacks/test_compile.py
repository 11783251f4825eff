"""CompileNetworks: the networks it names (default: the generators) run compiled in training,
with parameter names and checkpoints unchanged, and give the eager networks' outputs."""

import pytest
import torch
from lightning.pytorch import Trainer

from i2i_zoo.callbacks import CompileNetworks
from i2i_zoo.methods import CycleGAN, Pix2Pix

TINY_CYCLEGAN = dict(ngf=4, ndf=4, generator="resnet_6blocks", image_size=32)
QUIET = dict(max_epochs=1, limit_train_batches=2, limit_val_batches=0, logger=False, enable_progress_bar=False,
             enable_model_summary=False)


def test_compiles_the_generators_in_place_and_checkpoints_keep_their_keys(tmp_path, demo_paired):
    torch.manual_seed(0)
    model = Pix2Pix(ngf=4, ndf=4, num_downs=5, image_size=32)
    eager_keys = list(model.state_dict())
    trainer = Trainer(**QUIET, callbacks=[CompileNetworks(backend="eager")], default_root_dir=tmp_path)
    trainer.fit(model, datamodule=demo_paired(crop_size=32))
    assert model.G._compiled_call_impl is not None and model.D._compiled_call_impl is None
    trainer.save_checkpoint(tmp_path / "compiled.ckpt")
    loaded = Pix2Pix.load_from_checkpoint(tmp_path / "compiled.ckpt")
    assert list(loaded.state_dict()) == eager_keys
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    model.eval()
    loaded.eval()
    with torch.no_grad():
        torch.testing.assert_close(model.G(x), loaded.G(x))


def test_named_networks_and_unknown_names():
    model = CycleGAN(**TINY_CYCLEGAN)
    assert CompileNetworks().modules(model) == [model.G, model.F]
    assert CompileNetworks(["D_A", "D_B"]).modules(model) == [model.D_A, model.D_B]
    with pytest.raises(ValueError, match=r"has no network \['D'\]; its networks are \['G', 'F', 'D_A', 'D_B'\]"):
        CompileNetworks(["D"]).modules(model)
