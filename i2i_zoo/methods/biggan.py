"""BigGAN: class-conditional image generation (Brock, Donahue and Simonyan, "Large Scale GAN
Training for High Fidelity Natural Image Synthesis", ICLR 2019), trained as BigGAN-PyTorch
(ajbrock/BigGAN-PyTorch) trains it. The zoo's first method that generates rather than translates."""

from __future__ import annotations

from typing import Any, Literal, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from i2i_zoo.data.base import SampleRequests
from i2i_zoo.losses import orthogonal_regularization
from i2i_zoo.methods.base import EvalImages, I2IMethod
from i2i_zoo.methods.optimizers import OptimizerSpec
from i2i_zoo.nets.biggan import BigGANDiscriminator, BigGANGenerator

EVALUATION_GROUPS = ("classes", "all")
EvaluationGroups = Literal[EVALUATION_GROUPS]


class BigGAN(I2IMethod):
    """Generator `G(z, y)` draws an image of class `y` from a latent `z ~ N(0, I)`; the projection
    discriminator `D(x, y)` scores image-class pairs. Hinge loss, spectral norm in both networks,
    two time-scale Adam, optional modified orthogonal regularisation, and a moving average `G_ema`
    of G (its batch-norm statistics included) that generates for validation and predict.

    Each iteration takes a training batch of real images and their class labels and does
    `num_D_steps` discriminator steps, each on its own share of the batch, then one generator
    step; each step accumulates the gradients of `num_D_accumulations` (`num_G_accumulations`)
    micro-batches before it updates, as BigGAN-PyTorch's `GAN_training_function`. Fakes are drawn
    for classes sampled uniformly (BigGAN-PyTorch's `y_.sample_()`), one per real image of the
    micro-batch; the generator step draws `num_G_accumulations` micro-batches of that size. So
    `data.batch_size` = micro-batch x `num_D_steps` x `num_D_accumulations`, BigGAN-PyTorch's
    `batch_size * num_D_steps * num_D_accumulations` loader batch. Logged terms: `D_real`,
    `D_fake` (hinge), `G_fake`, and `D_ortho` / `G_ortho` when those weights are set.

    The defaults are BigGAN-PyTorch's 128 px ImageNet launch script
    (`scripts/launch_BigGAN_bs256x8.sh`, the paper's setting) where it sets a value (lr 1e-4/4e-4,
    Adam betas (0, 0.999) and eps 1e-6, one D step, G_ch/D_ch 96, dim_z 120, shared_dim 128,
    hier, attention at 64 px, G_ortho 0, EMA from iteration 20 000), else the code's own defaults
    (decay 0.9999, D_ortho 0). The accumulation counts default to 1: the script's 8 go with its
    batch of 256 x 8 (recipes/biggan/imagenet128.yaml).

    Args:
        domains: the class names in label order (linked from `data.domains`); they name predict's
            class folders. Or give `n_classes` alone: the folders are then the class indices.
        n_classes: the number of classes when `domains` is not given (1000 for ImageNet).
        image_size: the side of the generated images (linked from the data): 32, 64, 128 or 256.
        G_ch: the generator's channel multiplier.
        D_ch: the discriminator's channel multiplier.
        dim_z: the latent size (rounded down to a multiple of the generator's chunks with `hier`).
        shared_dim: the size of the shared class embedding.
        hier: hierarchical latents (a chunk of z per generator block).
        G_attn: the sides after which the generator has self-attention ([] for none).
        D_attn: the sides after which the discriminator has self-attention.
        lr_g: generator learning rate.
        lr_d: discriminator learning rate (four times the generator's: TTUR).
        betas: Adam betas of both networks.
        adam_eps: Adam's epsilon.
        num_D_steps: discriminator steps per generator step.
        num_G_accumulations: micro-batches whose gradients one generator step sums.
        num_D_accumulations: micro-batches whose gradients one discriminator step sums.
        G_ortho_weight: weight of the modified orthogonal regularisation of G's weights (the
            shared class embedding excluded), BigGAN-PyTorch's G_ortho; 0: none.
        D_ortho_weight: the same for D (D_ortho).
        evaluation_groups: `classes`: validation scores each class's samples against the real
            images of that class (FID/KID per class, averaged as `mfid`: intra-class FID);
            `all`: one group, all samples against all real images (`fid`, the paper's measure;
            for many classes, as ImageNet's 1000, per-class FIDs are noisy and slow to compute).
        samples_per_class: predict writes this many samples of each class.
        predict_classes: the classes predict samples (names or indices); null: all.
        predict_seed: predict's sample `i` of a class draws its latent from a generator seeded
            with (predict_seed, class, i): the same images whatever the batch size or devices.
        ema_decay: decay of the moving average `G_ema`; 0: none (G generates).
        ema_start: iterations before which `G_ema` copies G.
        max_iterations: training batches after which training stops (BigGAN-PyTorch counts
            iterations too); null: the Trainer's limits alone.
    """

    generates = True
    inference_options = ("samples_per_class", "predict_classes", "predict_seed")

    def __init__(
        self,
        domains: list[str] | None = None,
        n_classes: int | None = None,
        image_size: int = 128,
        G_ch: int = 96,
        D_ch: int = 96,
        dim_z: int = 120,
        shared_dim: int = 128,
        hier: bool = True,
        G_attn: list[int] = (64,),
        D_attn: list[int] = (64,),
        lr_g: float = 1e-4,
        lr_d: float = 4e-4,
        betas: tuple[float, float] = (0.0, 0.999),
        adam_eps: float = 1e-6,
        num_D_steps: int = 1,
        num_G_accumulations: int = 1,
        num_D_accumulations: int = 1,
        G_ortho_weight: float = 0.0,
        D_ortho_weight: float = 0.0,
        evaluation_groups: EvaluationGroups = "classes",
        samples_per_class: int = 10,
        predict_classes: list[str] | list[int] | None = None,
        predict_seed: int = 0,
        ema_decay: float = 0.9999,
        ema_start: int = 20000,
        max_iterations: int | None = None,
    ):
        super().__init__(ema_decay=ema_decay, ema_start=ema_start, max_iterations=max_iterations)
        if domains is not None and len(domains) == 0:
            raise ValueError("model.domains is empty: give the class names in label order, or model.n_classes")
        if domains is not None and n_classes is not None and n_classes != len(domains):
            raise ValueError(f"model.n_classes={n_classes} but model.domains names {len(domains)} classes")
        if domains is None and n_classes is None:
            raise ValueError("BigGAN needs its classes: model.domains (linked from data.domains) or model.n_classes")
        if domains is not None and len(set(domains)) != len(domains):
            raise ValueError(f"model.domains has repeated names: {domains}")
        for name, value in (("num_D_steps", num_D_steps), ("num_G_accumulations", num_G_accumulations),
                            ("num_D_accumulations", num_D_accumulations), ("samples_per_class", samples_per_class)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"model.{name}={value!r} must be an integer >= 1")
        if adam_eps <= 0:
            raise ValueError(f"model.adam_eps={adam_eps} must be > 0")
        if evaluation_groups not in EVALUATION_GROUPS:
            raise ValueError(f"model.evaluation_groups={evaluation_groups!r} is unknown; choose one of {EVALUATION_GROUPS}")
        self.save_hyperparameters()
        self.classes = list(domains) if domains is not None else [str(k) for k in range(n_classes)]
        self.G = BigGANGenerator(image_size, G_ch, dim_z, shared_dim, hier, len(self.classes), tuple(G_attn))
        self.D = BigGANDiscriminator(image_size, D_ch, len(self.classes), tuple(D_attn))
        self.lr_g, self.lr_d, self.betas, self.adam_eps = lr_g, lr_d, tuple(betas), adam_eps
        self.num_D_steps, self.num_G_accumulations, self.num_D_accumulations = num_D_steps, num_G_accumulations, num_D_accumulations
        self.G_ortho_weight, self.D_ortho_weight = G_ortho_weight, D_ortho_weight
        self.evaluation_groups = evaluation_groups
        self.samples_per_class, self.predict_seed = samples_per_class, predict_seed
        self.predict_classes = None if predict_classes is None else [self.class_index(c) for c in predict_classes]
        self.init_ema()

    @classmethod
    def from_biggan_pytorch(
        cls, G_path: str, D_path: str | None = None, G_ema_path: str | None = None, **options: Any
    ) -> "BigGAN":
        """A BigGAN holding BigGAN-PyTorch's released or trained networks (`G.pth`, `D.pth`,
        `G_ema.pth`, read by `i2i_zoo.convert.load_biggan_pytorch`, which reads the architecture
        off the shapes): G and D from their files, G_ema from `G_ema_path` (else a copy of G).
        `options` are further `__init__` arguments (`domains`, `ema_decay`, `samples_per_class`,
        ...). Save it with `i2i_zoo.convert.save_checkpoint(model, path)` for predict, or
        fine-tune it from there. Without `D_path` D keeps its initial weights."""
        from i2i_zoo.convert.biggan import load_biggan_pytorch

        G, D = load_biggan_pytorch(G_path, D_path)
        if not G.shared_embedding:
            raise ValueError(f"{G_path} is a generator without a shared class embedding (G_shared False), which the BigGAN method does not build")
        architecture = dict(
            n_classes=G.n_classes, image_size=G.resolution, G_ch=G.ch, dim_z=G.dim_z, shared_dim=G.shared_dim, hier=G.hier,
            G_attn=list(G.attention), D_ch=D.ch if D is not None else G.ch,
            D_attn=list(D.attention) if D is not None else list(G.attention),
        )
        if options.get("domains") is not None:
            architecture.pop("n_classes")
        model = cls(**{**architecture, **options})
        model.G.load_state_dict(G.state_dict())
        if D is not None:
            model.D.load_state_dict(D.state_dict())
        if "G" in model.ema_networks():
            model.G_ema.load_state_dict((load_biggan_pytorch(G_ema_path)[0] if G_ema_path else G).state_dict())
        return model

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    # ------------------------------------------------------------------ optimizers
    def optimizer_specs(self) -> dict[str, OptimizerSpec]:
        adam = {"betas": self.betas, "eps": self.adam_eps}
        return {
            "G": OptimizerSpec(self.G.parameters(), self.lr_g, args=adam, accumulation=self.num_G_accumulations),
            "D": OptimizerSpec(self.D.parameters(), self.lr_d, args=adam, accumulation=self.num_D_accumulations),
        }

    # ------------------------------------------------------------------------ training
    def training_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        x, y = self.require(batch, "image", "label")
        self.check_labels(y)
        per_step = self.num_D_steps * self.num_D_accumulations
        if len(x) % per_step:
            raise ValueError(
                f"a training batch of {len(x)} does not split into model.num_D_steps x model.num_D_accumulations = "
                f"{per_step} equal micro-batches: make data.batch_size a multiple of {per_step}"
            )
        # Discriminator steps, each on its own share of the real images.
        for x_step, y_step in zip(x.chunk(self.num_D_steps), y.chunk(self.num_D_steps)):
            self.optimize("D", self.discriminator_loss, batch={"image": x_step, "label": y_step})
        # Generator step: num_G_accumulations micro-batches of the D steps' micro-batch size, of
        # classes drawn uniformly.
        micro_batch = len(x) // per_step
        self.optimize("G", self.generator_loss, batch={"label": self.sample_labels(micro_batch * self.num_G_accumulations)})

    def discriminator_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """Hinge loss of one micro-batch: relu(1 - D(x, y)) on real images, relu(1 + D(G(z, y'), y'))
        on as many fakes of random classes y', scored together in one D call (BigGAN-PyTorch's G_D)."""
        x_real, y_real = batch["image"], batch["label"]
        n = len(x_real)
        y_fake = self.sample_labels(n)
        with torch.no_grad():
            x_fake = self.G(self.sample_z(n), y_fake)
        scores = self.D(torch.cat([x_fake, x_real.to(x_fake.dtype)]), torch.cat([y_fake, y_real]))
        d_fake, d_real = scores.float().split([n, n])
        terms = {"D_real": F.relu(1.0 - d_real).mean(), "D_fake": F.relu(1.0 + d_fake).mean()}
        if self.D_ortho_weight > 0:
            terms["D_ortho"] = self.D_ortho_weight * orthogonal_regularization(self.D.parameters())
        return sum(terms.values()), terms

    def generator_loss(self, batch: dict[str, Tensor]) -> tuple[Tensor, dict[str, Tensor]]:
        """-D(G(z, y), y) for a micro-batch of classes y (hinge's generator loss)."""
        y = batch["label"]
        terms = {"G_fake": -self.D(self.G(self.sample_z(len(y)), y), y).float().mean()}
        if self.G_ortho_weight > 0:
            # The shared class embedding is excluded, as in BigGAN-PyTorch.
            terms["G_ortho"] = self.G_ortho_weight * orthogonal_regularization(
                self.G.parameters(), exclude=self.G.shared.parameters()
            )
        return sum(terms.values()), terms

    def sample_z(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """Latents z ~ N(0, I), (n, G.dim_z)."""
        return torch.randn(n, self.G.dim_z, device=self.device, generator=generator)

    def sample_labels(self, n: int) -> Tensor:
        """Classes drawn uniformly, (n,) int64."""
        return torch.randint(self.n_classes, (n,), device=self.device)

    def check_labels(self, labels: Tensor, check_range: bool = False) -> None:
        """One class index per image; with `check_range` also within the classes (that check waits
        for the GPU, so training leaves it to the networks' embedding lookups)."""
        if labels.dim() != 1 or labels.is_floating_point():
            raise ValueError(
                f"BigGAN takes one class index per image (label (N,) int64, e.g. MultiDomainDataModule's folders or "
                f"class_folders layout), got {labels.dtype} of shape {tuple(labels.shape)}"
            )
        if check_range and labels.numel() and not (0 <= int(labels.min()) and int(labels.max()) < self.n_classes):
            raise ValueError(f"class labels out of range for the {self.n_classes} classes of model.domains / model.n_classes")

    # ------------------------------------------------------------------------ generation
    def class_index(self, name: str | int) -> int:
        """A class's label from its name (model.domains) or index."""
        return class_index(self.classes, name)

    def generate(self, y: Tensor | Sequence[int | str] | int | str, z: Tensor | None = None) -> Tensor:
        """Images (N, 3, image_size, image_size) in [-1, 1] of the classes `y` (indices (N,), a list of
        names or indices, or one class) from latents `z` (N, G.dim_z; drawn from N(0, I) when
        absent), by G_ema where the model averages G (ema_decay > 0), else G, in its current mode
        (eval: the stored batch-norm statistics, as BigGAN-PyTorch's --G_eval_mode)."""
        if not isinstance(y, Tensor):
            y = [y] if isinstance(y, (str, int)) else list(y)
            y = torch.tensor([self.class_index(c) for c in y], dtype=torch.long)
        y = y.to(self.device).long().reshape(-1)
        self.check_labels(y, check_range=True)
        if z is None:
            z = self.sample_z(len(y))
        return self.inference_net("G")(z.to(self.device), y)

    def translate(self, images: Tensor, **conditions: Any) -> Tensor:
        raise NotImplementedError("BigGAN generates images of a class (generate(y, z)); it translates none")

    def export_generator(self, **conditions: Any) -> nn.Module:
        raise NotImplementedError("i2i-zoo export writes image-to-image networks; BigGAN's generator maps (z, y) to images")

    def input_channels(self) -> int:
        raise NotImplementedError("BigGAN takes no input images")

    # --------------------------------------------------------------------------- predict
    def sample_requests(self) -> SampleRequests:
        """What predict writes: `samples_per_class` images of each of `predict_classes` (default all),
        as `<class>/<index>.png`."""
        classes = self.predict_classes if self.predict_classes is not None else list(range(self.n_classes))
        return SampleRequests([self.classes[k] for k in classes], classes, self.samples_per_class)

    def predict_images(self, batch: dict[str, Any]) -> Tensor:
        labels, indices = self.require(batch, "label", "index")
        z = torch.stack([
            self.sample_z(1, torch.Generator(self.device).manual_seed(_seed(self.predict_seed, int(k), int(i))))[0]
            for k, i in zip(labels, indices)
        ])
        return self.generate(labels, z)

    # ------------------------------------------------------------------------ evaluation
    def evaluation_images(self, batch: dict[str, Any]) -> dict[str, EvalImages]:
        """One sample per real image, of its class (so each class gets as many samples as it has
        real images). `classes`: one group per class, its samples against its real images;
        `all`: one group."""
        images, labels = self.require(batch, "image", "label")
        self.check_labels(labels)
        fakes = self.generate(labels)
        if self.evaluation_groups == "all":
            return {"all": EvalImages(fake=fakes, real=images)}
        return {name: EvalImages(fake=fakes[labels == k], real=images[labels == k]) for k, name in enumerate(self.classes)}

    def visuals(self, batch: dict[str, Any]) -> dict[str, Tensor]:
        """The real images, then one column per class (the first 8): each row one latent, so a row
        shows what the class embedding changes."""
        (images,) = self.require(batch, "image")
        z = self.sample_z(len(images))
        columns = {name: self.generate(torch.full((len(images),), k, dtype=torch.long), z) for k, name in enumerate(self.classes[:8])}
        return {"real": images, **columns}


def class_index(classes: list[str], name: str | int) -> int:
    """The label of a class given by its name (one of `classes`) or index."""
    if isinstance(name, bool) or not isinstance(name, (str, int)):
        raise ValueError(f"a class is named or given by its index, got {name!r}")
    if isinstance(name, int):
        if not 0 <= name < len(classes):
            raise ValueError(f"class index {name} is out of range for the {len(classes)} classes")
        return name
    if name not in classes:
        raise ValueError(f"unknown class {name!r}; the model's classes are {classes[:10]}{' ...' if len(classes) > 10 else ''}")
    return classes.index(name)


def _seed(seed: int, label: int, index: int) -> int:
    """One seed per (predict_seed, class, sample index)."""
    return (seed * 1_000_003 + label) * 1_000_003 + index
