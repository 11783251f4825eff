"""BiL-GAN learns on the demo tints in both phases: 16 px (G1, T) for 300 iterations, then 32 px
(G = G1 + G2 under D, taught by the frozen T) for 300 more; the full-resolution translations
reach their target tint at least about as well as phase 1's did."""

import lightning as L
import torch

from i2i_zoo.data import MultiDomainDataModule
from i2i_zoo.data.demo import TINTS, tint_scores
from i2i_zoo.methods.bilgan import BiLGAN

TINT_NAMES = list(TINTS)
SWITCH, ITERATIONS = 300, 600


def tint_accuracy(model: BiLGAN, batch: dict, target: torch.Tensor, enhancing: bool) -> tuple[float, tuple[int, int]]:
    """The fraction of test images whose translation has the target tint (the strongest of
    demo.tint_scores), and the translations' size."""
    model.eval()
    with torch.no_grad():
        output = model.translator(enhancing)(batch["image"], model.label_vectors(target))
    model.train()
    return (tint_scores(output).argmax(1) == target).float().mean().item(), tuple(output.shape[-2:])


def test_both_phases_translate_to_the_target_tint_and_phase_2_at_full_resolution():
    L.seed_everything(0)
    model = BiLGAN(domains=TINT_NAMES, label_type="exclusive", image_size=32, low_size=16, g_conv_dim=16, d_conv_dim=16,
                   g_repeat_num=2, d_repeat_num=3, g2_features=16, g2_blocks=2, identity_encoder="luma_thumbnail",
                   lr_g=5e-4, lr_d=5e-4, phase2_start=SWITCH)  # fmt: skip
    data = MultiDomainDataModule(root="demo:tints", domains=TINT_NAMES, image_size=32, batch_size=16, num_workers=0, flip=False)
    test = MultiDomainDataModule(root="demo:tints", domains=TINT_NAMES, image_size=32, batch_size=160, num_workers=0)
    test.setup("test")
    batch = next(iter(test.test_dataloader()))
    # Each of the 160 test images to a random other tint.
    target = (batch["label"] + torch.randint(1, 4, batch["label"].shape, generator=torch.Generator().manual_seed(1))) % 4
    measured = {}

    class AtTheSwitch(L.Callback):
        def on_train_batch_start(self, trainer, pl_module, b, batch_idx):
            if pl_module.iteration == SWITCH and "phase 1" not in measured:
                measured["phase 1"] = tint_accuracy(pl_module, batch, target, enhancing=False)

    L.Trainer(max_steps=2 * ITERATIONS, logger=False, enable_checkpointing=False, enable_progress_bar=False,
              enable_model_summary=False, limit_val_batches=0, callbacks=[AtTheSwitch()]).fit(model, datamodule=data)  # fmt: skip
    assert model.iteration == ITERATIONS and model.metric_namespace == "phase2/"
    measured["phase 2"] = tint_accuracy(model, batch, target, enhancing=True)
    print(measured)
    (phase_1, low_size), (phase_2, full_size) = measured["phase 1"], measured["phase 2"]
    assert low_size == (16, 16) and full_size == (32, 32)
    # Measured over seeds 0-4 (2-core CPU, about 30 s each): 100% at the switch and 100% at the
    # end for every seed (one dipped to 96% mid-phase 2); with lr 1e-3 one seed in four fell to 24%.
    assert phase_1 >= 0.9, measured
    assert phase_2 >= phase_1 - 0.1, measured
