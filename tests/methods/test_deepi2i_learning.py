"""DeepI2I learns the `tints` demo by transfer: from a tiny BigGAN pretrained on the tints (once per
test run), the adaptors at first add noise that costs many translations their target tint;
after 400 iterations the translations of the test scenes take their target tint."""

import pytest
import torch
from lightning.pytorch import Trainer, seed_everything

from i2i_zoo.convert import save_checkpoint
from i2i_zoo.data import MultiDomainDataModule
from i2i_zoo.data.demo.truth import tint_scores
from i2i_zoo.methods import BigGAN, DeepI2I

TINTS = ["red", "green", "blue", "yellow"]
ARCH = dict(image_size=32, G_ch=4, D_ch=4, dim_z=16, shared_dim=16, G_attn=[], D_attn=[])
QUIET = dict(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
             enable_checkpointing=False, num_sanity_val_steps=0, limit_val_batches=0, max_epochs=-1)  # fmt: skip
# Tint accuracy measured with this test's settings over seeds 0, 1, 2 (2-core CPU, see
# docs/methods/deepi2i.md): 0.587, 0.619, 0.425 before training; 0.800, 0.919, 0.988 after.
MIN_ACCURACY, MIN_GAIN = 0.7, 0.15


def tints(batch_size: int) -> MultiDomainDataModule:
    return MultiDomainDataModule(root="demo:tints", domains=TINTS, image_size=32, flip=False, batch_size=batch_size,
                                 num_workers=0, aligned_evaluation=True)  # fmt: skip


@pytest.fixture(scope="session")
def pretrained_tints_biggan(tmp_path_factory):
    """A tiny BigGAN trained 300 iterations on the tints (its samples have their class's tint), as
    a checkpoint; built once per test run."""
    seed_everything(0)
    model = BigGAN(domains=TINTS, lr_g=8e-4, lr_d=3.2e-3, ema_decay=0.99, ema_start=50, max_iterations=300, **ARCH)
    Trainer(**QUIET).fit(model, datamodule=tints(8))
    return save_checkpoint(model, tmp_path_factory.mktemp("biggan") / "tints.ckpt")


def tint_accuracy(model: DeepI2I) -> float:
    """Each of the 160 test images translated into a random tint: the fraction whose tint (the
    argmax of tint_scores) is the target."""
    data = tints(160)
    data.setup("validate")
    images = next(iter(data.val_dataloader()))["image"]
    model.eval()
    torch.manual_seed(0)
    targets = torch.randint(len(TINTS), (len(images),))
    with torch.no_grad():
        translations = model.translate(images, targets)
    model.train()
    return (tint_scores(translations).argmax(1) == targets).float().mean().item()


def test_deepi2i_learns_the_tints_by_transfer(pretrained_tints_biggan):
    seed_everything(0)
    # Adaptor weight 50: this tiny discriminator's features are ~100x smaller than BigGAN's.
    model = DeepI2I(domains=TINTS, pretrained=str(pretrained_tints_biggan), adaptor_weights={8: 50.0}, lr_g=4e-4,
                    lr_d=1.6e-3, warmup_iterations=20, max_iterations=400, **ARCH)  # fmt: skip
    model.load_pretrained()
    before = tint_accuracy(model)
    Trainer(**QUIET).fit(model, datamodule=tints(8))
    after = tint_accuracy(model)
    assert model.iteration == 400
    assert after >= MIN_ACCURACY and after - before >= MIN_GAIN, (before, after)
