"""DeepI2I: many-class image-to-image translation by transfer from a pretrained BigGAN (Wang, Yu and
van de Weijer, "DeepI2I: Enabling Deep Hierarchical Image-to-Image Translation by Transferring
from GANs", NeurIPS 2020), trained as the authors' code (yaxingwang/DeepI2I, `DeepI2I_BigGAN/`)
trains it, with the differences the class documents."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.methods.base import EvalImages, I2IMethod, file_seed
from i2i_zoo.methods.biggan import class_index
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.methods.phases import Phase
from i2i_zoo.nets.biggan import BigGANDiscriminator, BigGANGenerator
from i2i_zoo.nets.deepi2i import Adaptors, BigGANEncoder, DeepI2ITranslator, FixedTargetTranslator

FEATURE_DISTANCES = ("l1", "mse")
FEATURE_PAIRS = ("input", "reference")
PRETRAINED_GENERATORS = ("G_ema", "G")
FeatureDistance = Literal[FEATURE_DISTANCES]
FeaturePairs = Literal[FEATURE_PAIRS]
PretrainedGenerator = Literal[PRETRAINED_GENERATORS]
# The authors' weights by side: w_r of the adaptors, alpha_r of the feature loss.
TRANSFER_ADAPTOR_WEIGHT = 0.1
SCRATCH_ADAPTOR_WEIGHTS = {4: 1.0, 8: 1.0, 16: 1.0, 32: 0.1}
FEATURE_WEIGHTS = {4: 0.1, 8: 0.1, 16: 0.1, 32: 0.01}


class DeepI2I(I2IMethod):
    """Translates an image into any of many classes. The encoder `E` (a pretrained BigGAN
    discriminator's blocks) is tapped at several sides r; an adaptor `A_r` maps each tap to the
    pretrained generator's channels, and `G(z, class)` adds `w_r * A_r(E_r(x))` to its hidden
    state of side r. The discriminator `D` (the pretrained one) judges image-class pairs.

    Each iteration takes a training batch of images and their classes and splits it in halves:
    the first half are the real images D sees, the second the sources that are translated into
    classes drawn uniformly (the authors' code draws them from a second, independently shuffled
    loader of the same data). Then:
    - D step: hinge loss, `D_real = mean(relu(1 - D(x, y)))` on the real half,
      `D_fake = mean(relu(1 + D(G(z, c, E(s)), c)))` on translations of the sources, scored in one
      D call;
    - G step (adaptors, G, and E when from scratch): `G_fake = -mean(D(fake, c))` plus
      `G_feature = sum_r alpha_r * distance(D_r(fake), D_r(pair))`, D's features at the tapped
      sides, from the current D.
    Each step sums the gradients of `num_D_accumulations` / `num_G_accumulations` micro-batches
    (the authors' 4 x 8), so `data.batch_size` = 2 x micro-batch x accumulations. Logged: `D_real`,
    `D_fake`, `G_fake`, `G_feature`.

    Phases: for `warmup_iterations` (the authors' 500) only the adaptors (with E from scratch) and
    D train; G is frozen but stays in train mode (its batch-norm statistics and spectral-norm
    vectors still move, as in the authors' code). Then G trains too. The pretrained encoder is
    frozen throughout, held in eval mode (its spectral-norm vectors fixed; the authors' code
    leaves it in train mode, where they drift); from scratch it trains.

    Weights: `pretrained` (a BigGAN checkpoint of this zoo, or a folder of BigGAN-PyTorch's
    `G_ema.pth`/`G.pth` and `D.pth`) is loaded when training starts (not when resuming, which
    restores everything from the checkpoint): E and D from the discriminator, G from
    `pretrained_generator`. The class embeddings (G's shared one, D's projection) keep all their
    rows; class k of `domains` uses row `class_offset + k` (slicing D's spectrally normalised
    embedding would change its sigma).

    Differences from the authors' code, by choice (docs/methods/deepi2i.md):
    - `feature_pairs: input` (default) compares each translation's D features with its own
      input's, with `feature_distance: l1`, the paper's Eq. 3; the code compares rows 0 and 1 of
      the stacked batch [fakes; inputs] with MSE (`feature_pairs: reference`,
      `feature_distance: mse`), on one GPU two translations of different inputs.
    - An adaptor's output is added after a block together with its self-attention (the code adds
      it after each, twice where attention sits at a tapped side; no released setting does).
    - Sides are computed, so any resolution with taps works (the code's adaptor table is written
      for 128 px).

    Args:
        domains: the class names in label order (linked from `data.domains`).
        n_classes: rows of the class embeddings (the pretrained BigGAN's classes, 1000 for
            ImageNet); default `class_offset + len(domains)`.
        class_offset: the embedding row of the first class.
        image_size: the side of the images (linked from the data); 32, 64, 128 or 256.
        G_ch, D_ch, dim_z, shared_dim, hier, G_attn, D_attn: the BigGAN architecture (as the
            `BigGAN` method's; the pretrained networks must have it). Defaults: the authors'
            128 px ImageNet BigGAN.
        pretrained: the BigGAN to transfer from (see above); required unless `from_scratch`.
        pretrained_generator: `G_ema` (the moving average, the authors' choice) or `G`.
        from_scratch: initialise every network (BigGAN's orthogonal initialisation) and train E
            too: the authors' ablation (their foods and birds scripts).
        adaptor_weights: side -> w_r; default 0.1 at every side, from scratch {4: 1, 8: 1, 16: 1,
            32: 0.1} (the authors' values).
        feature_weights: side -> alpha_r; default {4: .1, 8: .1, 16: .1, 32: .01} (the authors').
        feature_weight: a factor of the whole feature loss (1: the authors'; 0 turns it off).
        feature_distance: `l1` or `mse` (mean over elements).
        feature_pairs: `input` or `reference` (see above).
        lr_g: G's learning rate.
        lr_d: D's, and the adaptors' and E's (the authors' code gives them D's rate).
        betas, adam_eps: Adam's, for every network.
        num_G_accumulations, num_D_accumulations: micro-batches per step.
        warmup_iterations: iterations that train the adaptors (and E from scratch) and D only.
        eval_classes: the target classes validation translates into (names or indices); null:
            all. Each class is a group: `val/fid_<class>`, averaged as `val/mfid` (mFID).
        eval_targets_per_image: translations of each validation image, into classes drawn
            uniformly from `eval_classes` (seeded: the same every validation).
        predict_target: the class predict translates into (name or index).
        predict_seed: predict's latent for an input is drawn from a generator seeded with
            (predict_seed, the input's file name): the same output whatever the batch.
        ema_decay, ema_start: moving averages of the adaptors and G (and E from scratch), 0: none
            (the authors' code keeps none; G starts from BigGAN's average).
        max_iterations: training batches after which training stops.
    """

    generator_names = ("E", "A", "G")
    inference_options = ("eval_classes", "eval_targets_per_image", "predict_target", "predict_seed")

    def __init__(
        self,
        domains: list[str] | None = None,
        n_classes: int | None = None,
        class_offset: int = 0,
        image_size: int = 128,
        G_ch: int = 96,
        D_ch: int = 96,
        dim_z: int = 120,
        shared_dim: int = 128,
        hier: bool = True,
        G_attn: list[int] = (64,),
        D_attn: list[int] = (64,),
        pretrained: str | None = None,
        pretrained_generator: PretrainedGenerator = "G_ema",
        from_scratch: bool = False,
        adaptor_weights: dict[int, float] | None = None,
        feature_weights: dict[int, float] | None = None,
        feature_weight: float = 1.0,
        feature_distance: FeatureDistance = "l1",
        feature_pairs: FeaturePairs = "input",
        lr_g: float = 1e-4,
        lr_d: float = 4e-4,
        betas: tuple[float, float] = (0.0, 0.999),
        adam_eps: float = 1e-6,
        num_G_accumulations: int = 1,
        num_D_accumulations: int = 1,
        warmup_iterations: int = 500,
        eval_classes: list[str] | list[int] | None = None,
        eval_targets_per_image: int = 1,
        predict_target: str | int | None = None,
        predict_seed: int = 0,
        ema_decay: float = 0.0,
        ema_start: int = 0,
        max_iterations: int | None = None,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start, max_iterations=max_iterations)
        if not domains or isinstance(domains, str) or len(set(domains)) != len(domains):
            raise ValueError(
                f"DeepI2I needs its classes: model.domains (linked from data.domains) must name each once, in label order; "
                f"got {domains!r}"
            )
        n_classes = class_offset + len(domains) if n_classes is None else n_classes
        if class_offset < 0 or class_offset + len(domains) > n_classes:
            raise ValueError(
                f"model.class_offset={class_offset} + {len(domains)} classes exceed the {n_classes} rows of the class "
                "embeddings (model.n_classes)"
            )
        for name, value in (("num_G_accumulations", num_G_accumulations), ("num_D_accumulations", num_D_accumulations),
                            ("eval_targets_per_image", eval_targets_per_image)):  # fmt: skip
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name}={value!r} must be an integer >= 1")
        if warmup_iterations < 0:
            raise ValueError(f"model.warmup_iterations={warmup_iterations} must be >= 0")
        for name, value, choices in (("feature_distance", feature_distance, FEATURE_DISTANCES),
                                     ("feature_pairs", feature_pairs, FEATURE_PAIRS),
                                     ("pretrained_generator", pretrained_generator, PRETRAINED_GENERATORS)):  # fmt: skip
            if value not in choices:
                raise ValueError(f"model.{name}={value!r} is unknown; choose one of {choices}")
        if from_scratch and pretrained is not None:
            raise ValueError("model.from_scratch trains without the pretrained BigGAN: set model.pretrained to null, or from_scratch false")
        if adam_eps <= 0:
            raise ValueError(f"model.adam_eps={adam_eps} must be > 0")
        self.save_hyperparameters()
        self.classes, self.class_offset, self.from_scratch = list(domains), class_offset, from_scratch
        self.pretrained, self.pretrained_generator = pretrained, pretrained_generator
        init = {"init": "ortho"} if from_scratch else {"skip_init": True}  # pretrained weights replace them
        self.E = BigGANEncoder(image_size, D_ch, D_attn, **init)
        self.G = BigGANGenerator(image_size, G_ch, dim_z, shared_dim, hier, n_classes, tuple(G_attn), **init)
        self.D = BigGANDiscriminator(image_size, D_ch, n_classes, tuple(D_attn), **init)
        self.sides = self.E.sides
        self.A = Adaptors(self.E.widths, {side: self.G.width_at(side) for side in self.sides}, init="ortho" if from_scratch else None)
        default_adaptor = SCRATCH_ADAPTOR_WEIGHTS if from_scratch else dict.fromkeys(self.sides, TRANSFER_ADAPTOR_WEIGHT)
        self.adaptor_weights = _per_side(adaptor_weights, default_adaptor, self.sides, "adaptor_weights")
        self.feature_weights = _per_side(feature_weights, FEATURE_WEIGHTS, self.sides, "feature_weights")
        self.feature_weight, self.feature_distance, self.feature_pairs = feature_weight, feature_distance, feature_pairs
        self.lr_g, self.lr_d, self.betas, self.adam_eps = lr_g, lr_d, tuple(betas), adam_eps
        self.num_G_accumulations, self.num_D_accumulations = num_G_accumulations, num_D_accumulations
        self.warmup_iterations = warmup_iterations
        self.eval_classes = list(range(len(self.classes))) if eval_classes is None else [self.class_index(c) for c in eval_classes]
        if not self.eval_classes:
            raise ValueError("model.eval_classes is empty: name at least one class, or null for all")
        self.eval_targets_per_image = eval_targets_per_image
        self.predict_target = None if predict_target is None else self.class_index(predict_target)
        self.predict_seed = predict_seed
        self._pretrained_loaded = False
        self.init_ema()

    # ------------------------------------------------------------------ weights
    @classmethod
    def from_pretrained(cls, pretrained: str, **options: Any) -> "DeepI2I":
        """A DeepI2I with the BigGAN `pretrained` loaded now (a notebook's way; `fit` loads it
        itself). `options` are the other `__init__` arguments (`domains`, the architecture, ...)."""
        model = cls(pretrained=pretrained, **options)
        model.load_pretrained()
        return model

    def on_fit_start(self) -> None:
        # Transfer starts from the pretrained BigGAN; a resumed run has restored every network from
        # its checkpoint by now (weights loaded in place: the optimizers hold the same tensors).
        if not (self.from_scratch or self._pretrained_loaded or self.trainer.ckpt_path is not None):
            self.load_pretrained()
        super().on_fit_start()

    def load_pretrained(self) -> None:
        """E and D from the pretrained discriminator, G from its `pretrained_generator`; the
        moving averages (if any) restart from the loaded networks."""
        if self.pretrained is None:
            raise ValueError(
                "DeepI2I transfers from a pretrained BigGAN: set model.pretrained to a BigGAN checkpoint (.ckpt, e.g. from "
                "`i2i-zoo fit -c recipes/biggan/demo.yaml`) or a folder with BigGAN-PyTorch's G_ema.pth (or G.pth) and D.pth; "
                "or set model.from_scratch: true"
            )
        generator, discriminator = _read_biggan(self.pretrained, self.pretrained_generator)
        _load(self.G, generator, self.pretrained, "generator")
        _load(self.D, discriminator, self.pretrained, "discriminator")
        _load(self.E, {k: v for k, v in discriminator.items() if k.startswith("blocks.")}, self.pretrained, "discriminator's blocks")
        for net in self.ema_networks():
            getattr(self, f"{net}_ema").load_state_dict(getattr(self, net).state_dict())
        self._pretrained_loaded = True

    # ------------------------------------------------------------------ optimizers and phases
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        adam = {"betas": self.betas, "eps": self.adam_eps}
        translation = [
            {"params": self.G.parameters(), "name": "G"},
            {"params": self.A.parameters(), "lr": self.lr_d, "name": "adaptors"},
            {"params": self.E.parameters(), "lr": self.lr_d, "name": "encoder"},
        ]
        return {
            "G": OptimizerSpec(translation, self.lr_g, args=adam, accumulation=self.num_G_accumulations),
            "D": OptimizerSpec(self.D.parameters(), self.lr_d, args=adam, accumulation=self.num_D_accumulations),
        }

    def phases(self) -> list[Phase]:
        encoder = {} if self.from_scratch else {"E": "eval"}
        train = Phase("train", self.warmup_iterations, encoder)
        return [Phase("warmup", 0, {"G": "train", **encoder}), train] if self.warmup_iterations else [Phase("train", 0, encoder)]

    def ema_networks(self) -> tuple[str, ...]:
        if self.ema_decay <= 0:
            return ()
        return ("E", "A", "G") if self.from_scratch else ("A", "G")

    # ------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, y = self.require(batch, "image", "label")
        self.check_labels(y)
        parts = 2 * math.lcm(self.num_D_accumulations, self.num_G_accumulations)
        if len(x) % parts:
            raise ValueError(
                f"a training batch of {len(x)} does not split into real and source halves of model.num_D_accumulations = "
                f"{self.num_D_accumulations} and model.num_G_accumulations = {self.num_G_accumulations} equal micro-batches: "
                f"make data.batch_size a multiple of {parts}"
            )
        (real, source), (real_labels, _) = x.chunk(2), y.chunk(2)
        self.optimize("D", self.discriminator_loss, batch={"real": real, "label": real_labels, "source": source})
        self.optimize("G", self.generator_loss, batch={"source": source})

    def discriminator_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Hinge loss of a micro-batch: its real images with their classes against translations of
        as many sources into random classes, scored in one D call."""
        real, labels, source = batch["real"], batch["label"], batch["source"]
        targets = self.sample_targets(len(source))
        with torch.no_grad():
            fake = self.translator(inference=False)(source, self.rows(targets), self.sample_z(len(source)))
        scores = self.D(torch.cat([fake, real.to(fake.dtype)]), self.rows(torch.cat([targets, labels])))
        d_fake, d_real = scores.float().split([len(fake), len(real)])
        terms = {"D_real": F.relu(1.0 - d_real).mean(), "D_fake": F.relu(1.0 + d_fake).mean()}
        return sum(terms.values()), terms

    def generator_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """-D(fake, c) and the distance of D's features of the translations to their pairs'."""
        source = batch["source"]
        n = len(source)
        targets = self.sample_targets(n)
        fake = self.translator(inference=False)(source, self.rows(targets), self.sample_z(n))
        # The sources' scores are not used (their classes do not matter); the one call gives D's
        # features of both, as in the authors' code.
        scores, features = self.D.forward_with_features(
            torch.cat([fake, source.to(fake.dtype)]), self.rows(torch.cat([targets, targets])), self.sides
        )
        terms = {"G_fake": -scores[:n].float().mean(), "G_feature": self.feature_weight * self.feature_loss(features, n)}
        return sum(terms.values()), terms

    def feature_loss(self, features: dict[int, Tensor], n: int) -> Tensor:
        """sum_r alpha_r * distance at side r of D's features of the stacked batch [fakes; inputs]
        (n of each): each fake with its input (`input`), or row 0 with row 1 (`reference`)."""
        distance = F.l1_loss if self.feature_distance == "l1" else F.mse_loss
        total = 0.0
        for side, stacked in features.items():
            stacked = stacked.float()
            fake, pair = (stacked[:n], stacked[n:]) if self.feature_pairs == "input" else (stacked[0], stacked[1])
            total = total + self.feature_weights[side] * distance(fake, pair)
        return total

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        return torch.randn(n, self.G.dim_z, device=self.device, generator=generator)

    def sample_targets(self, n: int) -> Tensor:
        """Target classes drawn uniformly (labels, not embedding rows), (n,)."""
        return torch.randint(len(self.classes), (n,), device=self.device)

    def rows(self, labels: Tensor) -> Tensor:
        """The class embedding rows of class labels."""
        return labels + self.class_offset

    def check_labels(self, labels: Tensor) -> None:
        if labels.dim() != 1 or labels.is_floating_point():
            raise ValueError(
                f"DeepI2I takes one class index per image (label (N,) int64, MultiDomainDataModule's folders or "
                f"class_folders layout), got {labels.dtype} of shape {tuple(labels.shape)}"
            )

    # ------------------------------------------------------------------------ translation
    def translator(self, inference: bool = True) -> DeepI2ITranslator:
        """E -> A -> G: the moving averages for inference where there are some."""
        net = self.inference_net if inference else (lambda name: getattr(self, name))
        return DeepI2ITranslator(net("E"), net("A"), net("G"), self.adaptor_weights)

    def class_index(self, name: str | int) -> int:
        """A class's label from its name (model.domains) or index."""
        return class_index(self.classes, name)

    def target_labels(self, target_class: str | int | Sequence[str | int] | Tensor, n: int) -> Tensor:
        """(n,) labels: one class for all, or one per image."""
        if isinstance(target_class, Tensor):
            labels = target_class.to(self.device).long().reshape(-1)
            if labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < len(self.classes)):
                raise ValueError(f"target classes out of range for the {len(self.classes)} classes of model.domains")
        elif isinstance(target_class, (str, int)):
            labels = torch.full((n,), self.class_index(target_class), device=self.device)
        else:
            labels = torch.tensor([self.class_index(c) for c in target_class], device=self.device, dtype=torch.long)
        if len(labels) == 1:
            labels = labels.expand(n)
        if len(labels) != n:
            raise ValueError(f"{len(labels)} target classes for {n} images: give one class, or one per image")
        return labels

    def translate(self, images: Tensor, target_class: str | int | Sequence[str | int] | Tensor | None = None,
                  z: Tensor | None = None) -> Tensor:  # fmt: skip
        """Translations of `images` (N, 3, image_size, image_size) in [-1, 1] into `target_class`
        (a name or index for all, or one per image; default model.predict_target) with latents `z`
        (N, dim_z); z drawn from N(0, I) when not given: several z give several translations of
        one image. Uses the networks in their current mode (call `eval()` first for BigGAN's
        stored statistics)."""
        labels = self.target_labels(self._target(target_class), len(images))
        z = self.sample_z(len(images)) if z is None else z.to(self.device)
        return self.translator()(images.to(self.device), self.rows(labels), z)

    def export_generator(self, target_class: str | int | None = None, z: Tensor | list[float] | None = None) -> nn.Module:
        """Images -> translations into `target_class` (default model.predict_target) with one
        latent `z` (default: drawn from `predict_seed`)."""
        target_class = self._target(target_class)
        if z is None:
            z = self.sample_z(1, torch.Generator(self.device).manual_seed(self.predict_seed))
        z = torch.as_tensor(z, dtype=torch.float32, device=self.device)
        if z.numel() != self.G.dim_z:
            raise ValueError(f"z must have {self.G.dim_z} values (model.dim_z), got {z.numel()}")
        return FixedTargetTranslator(self.translator(), self.rows(torch.tensor(self.class_index(target_class))).item(), z)

    def input_channels(self) -> int:
        return 3

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        """Each image centre-cropped to a square and resized to `image_size` (as training's data),
        translated into `predict_target`."""
        images, paths = self.require(batch, "image", "path")
        if images.shape[1] != 3:
            raise ValueError(f"DeepI2I takes 3-channel images, got {images.shape[1]}")
        generators = [torch.Generator(self.device).manual_seed(file_seed(self.predict_seed, path)) for path in paths]
        z = torch.cat([self.sample_z(1, generator) for generator in generators])
        return self.translate(_square(images, self.hparams.image_size), None, z)

    def _target(self, target_class: Any) -> Any:
        if target_class is None and self.predict_target is None:
            raise ValueError("no target class: give one, or set model.predict_target (--model.init_args.predict_target <class>)")
        return self.predict_target if target_class is None else target_class

    # ------------------------------------------------------------------------ evaluation
    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """Each image translated into `eval_targets_per_image` classes drawn from `eval_classes`;
        one group per class: its translations against its real images (groups with neither in
        this batch are left out)."""
        images, labels = self.require(batch, "image", "label")
        self.check_labels(labels)
        choices = torch.tensor(self.eval_classes, device=self.device)
        targets = choices[torch.randint(len(choices), (len(images), self.eval_targets_per_image), device=self.device)]
        fakes = torch.cat([self.translate(images, targets[:, j]) for j in range(self.eval_targets_per_image)])
        targets = targets.T.reshape(-1)
        groups = {}
        for k in self.eval_classes:
            fake, real = fakes[targets == k], images[labels == k]
            if len(fake) or len(real):
                groups[self.classes[k]] = EvalImages(fake=fake, real=real)
        return groups

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The inputs, then their translations into each of the first 8 classes (one latent per row)."""
        (images,) = self.require(batch, "image")
        z = self.sample_z(len(images))
        return {"input": images, **{name: self.translate(images, k, z) for k, name in enumerate(self.classes[:8])}}


def _per_side(given: dict[int, float] | None, default: dict[int, float], sides: list[int], option: str) -> dict[int, float]:
    weights = default if given is None else {int(side): float(value) for side, value in given.items()}
    bad = {side: value for side, value in weights.items() if not 0 <= value < float("inf")}
    if bad:
        raise ValueError(f"model.{option} has weights {bad}: each must be >= 0 and finite")
    missing, extra = sorted(set(sides) - set(weights)), sorted(set(weights) - set(sides)) if given is not None else []
    if missing or extra:
        raise ValueError(
            f"model.{option} needs a weight for each tapped side {sides} (side -> weight){f', missing {missing}' if missing else ''}"
            f"{f', has sides {extra} that are not tapped' if extra else ''}"
        )
    return {side: weights[side] for side in sides}


def _read_biggan(path: str, generator_name: str) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
    """The generator's and discriminator's state dicts of a BigGAN checkpoint of this zoo or of a
    folder of BigGAN-PyTorch's files."""
    from i2i_zoo.callbacks.checkpoint_io import load_checkpoint_file
    from i2i_zoo.convert.biggan import load_biggan_pytorch

    if Path(path).is_dir():
        files = {name: Path(path) / f"{name}.pth" for name in (generator_name, "D")}
        absent = [str(file) for file in files.values() if not file.is_file()]
        if absent:
            raise FileNotFoundError(
                f"model.pretrained {path} is a folder without {', '.join(absent)}: expected BigGAN-PyTorch's "
                f"{generator_name}.pth and D.pth there (or set model.pretrained_generator)"
            )
        G, D = load_biggan_pytorch(files[generator_name], files["D"])
        return G.state_dict(), D.state_dict()
    checkpoint = load_checkpoint_file(path, option="model.pretrained")
    method = checkpoint.get("hyper_parameters", {}).get("_class_path", "i2i_zoo.methods.biggan.BigGAN")
    if method.rpartition(".")[2] != "BigGAN":
        raise ValueError(f"model.pretrained {path} is a checkpoint of {method}, not of the BigGAN method")
    state = checkpoint.get("state_dict", {})
    parts = {prefix: {k[len(prefix) + 1 :]: v for k, v in state.items() if k.startswith(f"{prefix}.")} for prefix in (generator_name, "D")}
    if not parts["D"] or not parts[generator_name]:
        held = sorted({key.split(".")[0] for key in state})
        raise ValueError(
            f"model.pretrained {path} holds no {generator_name} and D networks (it has {held or 'no state dict'}): expected a "
            f"checkpoint of the BigGAN method{' (trained without ema_decay: set model.pretrained_generator: G)' if 'G' in held and generator_name == 'G_ema' else ''}"
        )
    return parts[generator_name], parts["D"]


def _load(net: nn.Module, state: dict[str, Tensor], path: str, what: str) -> None:
    try:
        net.load_state_dict(state)
    except RuntimeError as error:
        detail = str(error).split("\n\t", 1)[-1].split("\n\t")[:3]
        raise ValueError(
            f"model.pretrained {path}: its {what} does not fit this DeepI2I's architecture (model.image_size, G_ch, D_ch, dim_z, "
            f"shared_dim, hier, G_attn, D_attn, n_classes must be the BigGAN's): {'; '.join(detail)}"
        ) from error


def _square(images: Tensor, size: int) -> Tensor:
    """Centre-crop the long side, then resize to size x size (area when shrinking, bicubic when enlarging)."""
    height, width = images.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    images = images[..., top : top + side, left : left + side]
    if side == size:
        return images
    mode = {"mode": "area"} if side > size else {"mode": "bicubic", "align_corners": False}
    return F.interpolate(images, size=(size, size), **mode).clamp(-1, 1)

