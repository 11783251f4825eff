"""Run by test_ddp_metrics.py: validation on two CPU processes (gloo), of tensors through a plain
DataLoader and of the side-by-side files in <output>/pairs/val through PairedDataModule; each rank
writes what it logged, how many batches its extractor saw and which files it evaluated to
<output>/rank<r>.json."""

import json
import sys
from pathlib import Path

from lightning.pytorch import Trainer
from metric_fixtures import NoisyMethod, TinyFeatures, loader, smooth_images

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


def run(devices: int, output: Path) -> dict:
    callback = ImageQualityMetrics(feature_extractor=TinyFeatures(), **SETTINGS)
    trainer = Trainer(
        accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
    )
    (metrics,) = trainer.validate(NoisyMethod(0.2), dataloaders=loader(smooth_images(), batch_size=8), verbose=False)
    extractor_calls = callback.extractor.calls
    (group_metrics,) = trainer.validate(ClassGroups(0.2), dataloaders=loader(smooth_images(), batch_size=8), verbose=False)
    data = PairedDataModule(str(output / "pairs"), preprocess="none", batch_size=4, num_workers=0, test_split=None)
    method = NoisyMethod(0.2)
    (file_metrics,) = trainer.validate(method, datamodule=data, verbose=False)
    return {
        "metrics": metrics, "extractor_calls": extractor_calls, "file_metrics": file_metrics, "group_metrics": group_metrics,
        "evaluated": method.evaluated, "rank": trainer.global_rank,
    }


if __name__ == "__main__":
    output = Path(sys.argv[1])
    report = run(devices=2, output=output)
    (output / f"rank{report['rank']}.json").write_text(json.dumps(report))
