"""Run by test_ddp_metrics.py: validation on two CPU processes (gloo); each rank writes what it
logged and how many batches its extractor saw to <output>/rank<r>.json."""

import json
import sys
from pathlib import Path

from lightning.pytorch import Trainer
from metric_fixtures import NoisyMethod, TinyFeatures, loader, smooth_images

from i2i_zoo.metrics import ImageQualityMetrics

SETTINGS = dict(metrics=["fid", "kid", "psnr", "ssim"], kid_subset_size=64, kid_subsets=1, cache_features=False)


def run(devices: int) -> tuple[dict[str, float], Trainer, ImageQualityMetrics]:
    callback = ImageQualityMetrics(feature_extractor=TinyFeatures(), **SETTINGS)
    trainer = Trainer(
        accelerator="cpu", devices=devices, strategy="ddp" if devices > 1 else "auto", logger=False,
        enable_progress_bar=False, enable_model_summary=False, callbacks=[callback],
    )
    (metrics,) = trainer.validate(NoisyMethod(0.2), dataloaders=loader(smooth_images(), batch_size=8), verbose=False)
    return metrics, trainer, callback


if __name__ == "__main__":
    metrics, trainer, callback = run(devices=2)
    report = {"metrics": metrics, "extractor_calls": callback.extractor.calls}
    (Path(sys.argv[1]) / f"rank{trainer.global_rank}.json").write_text(json.dumps(report))
