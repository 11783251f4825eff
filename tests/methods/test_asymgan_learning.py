"""AsymGAN learns on the demo data (shapes: label maps A <-> photos B, unpaired; the photos' texture
phase and light direction are what the label maps drop): the X and z cycles fall, z changes F's
output, and a photo's own code E(x) rebuilds it from its label map better than random z do."""

import lightning as L
import torch

from i2i_zoo.data import UnpairedDataModule
from i2i_zoo.methods import AsymGAN

ITERATIONS = 300


class _Terms(L.Callback):
    def __init__(self):
        self.values: dict[str, list[float]] = {"train/cycle_X": [], "train/cycle_z": []}

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        for name, values in self.values.items():
            values.append(float(trainer.callback_metrics[name]))


def train_on_demo(seed: int) -> dict[str, float]:
    """Train the extension version (CIN, no VGG terms) with the paper's rates for ITERATIONS
    iterations on 32 px demo data; the cycle terms' means over the first and last 50 iterations
    and, on the 40 test pairs, the distances of F(y, z) (random z) and F(y, E(x_true)) to x_true
    and between two draws of z."""
    L.seed_everything(seed)
    model = AsymGAN(rich_domain="B", image_size=32, ngf=8, ndf=8, pool_size=10, lambda7=0.0, lambda8=0.0, lr_policy="constant")
    data = UnpairedDataModule(root="demo:shapes", load_size=32, crop_size=32, flip=False, batch_size=4, num_workers=0, pairs_file="pairs.csv")
    terms = _Terms()
    trainer = L.Trainer(
        max_steps=2 * ITERATIONS, limit_val_batches=0, log_every_n_steps=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[terms],
    )  # fmt: skip
    trainer.fit(model, datamodule=data)
    assert model.iteration == ITERATIONS

    model.eval()
    data.setup("test")
    batch = _all_test_pairs(data)
    y, x_true = batch["A"], batch["B_true"]
    with torch.no_grad():
        random = torch.stack([(model.translate(y, seed=s) - x_true).abs().mean() for s in range(4)]).mean()
        encoded = (model.translate(y, reference=x_true) - x_true).abs().mean()
        between = (model.translate(y, seed=10) - model.translate(y, seed=11)).abs().mean()
    measured = {"random": float(random), "encoded": float(encoded), "between_z": float(between)}
    for name, values in terms.values.items():
        key = name.removeprefix("train/")
        measured[f"{key}_first"], measured[f"{key}_last"] = sum(values[:50]) / 50, sum(values[-50:]) / 50
    return measured


def _all_test_pairs(data: UnpairedDataModule) -> dict[str, torch.Tensor]:
    """Every test label map (A) with its true photo (B_true)."""
    batches = list(data.test_dataloader())
    return {key: torch.cat([batch[key] for batch in batches]) for key in ("A", "B_true")}


def test_asymgan_learns_the_cycles_and_uses_z_on_the_demo_data():
    m = train_on_demo(seed=0)
    # Measured over seeds 0-3 (2-core CPU, about 37 s each): cycle_X last/first 0.75, 0.80, 0.73,
    # 0.71; cycle_z 0.88, 0.82, 0.88, 0.94; between two z 0.083, 0.135, 0.136, 0.120; random z
    # minus E(x_true) distance to x_true 0.081, 0.055, 0.112, 0.095.
    assert m["cycle_X_last"] < 0.85 * m["cycle_X_first"], m
    assert m["cycle_z_last"] < 0.97 * m["cycle_z_first"], m
    assert m["between_z"] > 0.03, m
    assert m["encoded"] < m["random"] - 0.03, m
