"""Run by test_ddp_metrics.py: validation on two CPU processes (gloo), of tensors through a plain
DataLoader and of the side-by-side files in <output>/pairs/val through PairedDataModule; each rank
writes what it logged, how many batches its extractor saw, which files it evaluated and which
group sides it folded into sums to <output>/rank<r>.json."""

import json
import sys
from pathlib import Path

import torch.nn.functional as F
from lightning.pytorch import Trainer
from metric_fixtures import NoisyMethod, TinyFeatures, loader, smooth_images
from torch import nn

from i2i_zoo.data import PairedDataModule
from i2i_zoo.methods import EvalImages
from i2i_zoo.metrics import ImageQualityMetrics

SETTINGS = dict(metrics=["fid", "kid", "psnr", "ssim"], kid_subset_size=64, kid_subsets=1, cache_features=False)
# Files in pairs/val: an odd count, which two processes cannot share evenly.
NUM_FILES = 13


class ClassGroups(NoisyMethod):
    """NoisyMethod's translations in groups `c<index % 4>`, FID/KID only: on two processes rank 0
    sees only c0 and c2, rank 1 only c1 and c3 (one class among many that a process never sees)."""

    def evaluation_images(self, batch):
        images, classes = super().evaluation_images(batch)["AtoB"], batch["index"] % 4
        return {f"c{k}": EvalImages(fake=images.fake[classes == k], real=images.real[classes == k]) for k in sorted(set(classes.tolist()))}


class EightFeatures(nn.Module):
    """The 2 x 2 average-pooled red and green: 8 features, so FID-only group sides fold into sums
    at 16 images."""

    def forward(self, images):
        return F.adaptive_avg_pool2d(images[:, :2], 2).flatten(1)


class FoldingGroups(NoisyMethod):
    """NoisyMethod's translations of 96 images in five groups, named after what each process holds
    of them with FID only (on two processes rank 0 takes the even images, rank 1 the odd ones):
    `folded_both` 16 images on each, `folded_0_rows_1` 16 on rank 0 and 4 on rank 1 (kept as
    rows), `folded_0_empty_1` 16 on rank 0 only, `folded_1_empty_0` 16 on rank 1 only,
    `rows_1_only` 12 on rank 1 only. One process folds all but `rows_1_only`."""

    def evaluation_images(self, batch):
        images, index = super().evaluation_images(batch)["AtoB"], batch["index"]
        even, middle = index % 2 == 0, (index >= 32) & (index < 64)
        groups = {
            "folded_both": index < 32,
            "folded_0_rows_1": middle & (even | (index < 40)),
            "folded_0_empty_1": (index >= 64) & even,
            "folded_1_empty_0": (index >= 64) & ~even,
            "rows_1_only": middle & (index >= 40) & ~even,
        }
        return {name: EvalImages(fake=images.fake[chosen], real=images.real[chosen]) for name, chosen in groups.items() if chosen.any()}


class FoldRecorder(ImageQualityMetrics):
    """Records the group sides this process folded before the processes align them, as JSON has them."""

    def _align_groups(self, device):
        self.folded_here = [[group, real] for group, real in sorted(self._features.folded)]
        super()._align_groups(device)


def trainer_with(callback: ImageQualityMetrics, devices: int) -> Trainer:
    return Trainer(
        accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
    )


def run(devices: int, output: Path) -> dict:
    callback = ImageQualityMetrics(feature_extractor=TinyFeatures(), **SETTINGS)
    trainer = trainer_with(callback, devices)
    (metrics,) = trainer.validate(NoisyMethod(0.2), dataloaders=loader(smooth_images(), batch_size=8), verbose=False)
    extractor_calls = callback.extractor.calls
    (group_metrics,) = trainer.validate(ClassGroups(0.2), dataloaders=loader(smooth_images(), batch_size=8), verbose=False)
    data = PairedDataModule(str(output / "pairs"), preprocess="none", batch_size=4, num_workers=0, test_split=None)
    method = NoisyMethod(0.2)
    (file_metrics,) = trainer.validate(method, datamodule=data, verbose=False)
    # FID only, group sides fold into sums; with KID nothing folds: the reference.
    fold_metrics, folded = {}, {}
    for names in (["fid"], ["fid", "kid"]):
        recorder = FoldRecorder(feature_extractor=EightFeatures(), **(SETTINGS | {"metrics": names}))
        (fold_metrics["+".join(names)],) = trainer_with(recorder, devices).validate(
            FoldingGroups(0.2), dataloaders=loader(smooth_images(96), batch_size=8), verbose=False
        )
        folded["+".join(names)] = recorder.folded_here
    return {
        "metrics": metrics, "extractor_calls": extractor_calls, "file_metrics": file_metrics, "group_metrics": group_metrics,
        "evaluated": method.evaluated, "rank": trainer.global_rank, "fold_metrics": fold_metrics, "folded": folded,
    }


if __name__ == "__main__":
    output = Path(sys.argv[1])
    report = run(devices=2, output=output)
    (output / f"rank{report['rank']}.json").write_text(json.dumps(report))
