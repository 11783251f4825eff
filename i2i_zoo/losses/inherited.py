"""The inherited adversarial loss of BiL-GAN (Cao et al., "Biphasic Learning of GANs for
High-Resolution Image-to-Image Translation", 2019), Eq. 4-5.

In phase 2 a frozen phase-1 discriminator T, the teacher, supervises a new discriminator D: D's
target for a real image x is the teacher's score T(x) instead of 1 (Eq. 4), and the generator's
adversarial loss weighs each image by how hard it is by the teacher's judgement (Eq. 5).

Eq. 5 prints T(x), the teacher's score of the real image, inside the weight, but the text says the
weight favours samples "not good at deceiving the teacher", which are fakes. The method offers
both readings by computing `teacher_scores` on the fake or on the real image; this module only
takes the scores.

All maps are raw (pre-sigmoid) patch maps ``(N, 1, h, w)``; every loss is computed in float32
with autocast off, since the teacher's soft targets make the logs sensitive near 0 and 1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

INHERITED_GAN_MODES = ("lsgan", "vanilla")


def _check_mode(gan_mode: str) -> None:
    if gan_mode not in INHERITED_GAN_MODES:
        raise ValueError(f"unknown gan_mode {gan_mode!r} for the inherited loss; choose one of {', '.join(INHERITED_GAN_MODES)}")


def _check_per_image(values: Tensor, maps: Tensor, name: str) -> None:
    if values.shape != maps.shape[:1]:
        raise ValueError(f"{name} must hold one value per image, shape ({maps.shape[0]},), got {tuple(values.shape)}")


def _per_image(values: Tensor, like: Tensor) -> Tensor:
    """``(N,)`` values shaped to broadcast over maps like ``like``."""
    return values.float().view(-1, *(1,) * (like.dim() - 1))


def teacher_scores(t_map: Tensor, gan_mode: str) -> Tensor:
    """T(x) in [0, 1] per image, ``(N,)``, from the teacher's raw map ``(N, 1, h, w)``: the mean
    of sigmoid(T) over the map for `vanilla`; for `lsgan`, whose real target is 1 and fake 0, the
    mean of the raw map clamped to [0, 1]. Detached: the teacher is frozen."""
    _check_mode(gan_mode)
    with torch.autocast(device_type=t_map.device.type, enabled=False):
        t_map = t_map.detach().float()
        scores = torch.sigmoid(t_map) if gan_mode == "vanilla" else t_map.clamp(0, 1)
        return scores.flatten(1).mean(1)


def importance_weight(t: Tensor) -> Tensor:
    """w = 1 + (T' - min T') / (max T' - min T') with T' = 1 - t, min and max over the batch, so
    the image the teacher scores lowest weighs 2 and the highest 1. Detached, ``(N,)``.

    When max T' == min T' (one image, or all scored alike) no image is harder than another, so
    every weight is 1 (the formula would divide 0 by 0)."""
    with torch.autocast(device_type=t.device.type, enabled=False):
        hardness = 1 - t.detach().float()
        spread = hardness.max() - hardness.min()
        if spread == 0:
            return torch.ones_like(hardness)
        return 1 + (hardness - hardness.min()) / spread


def inherited_d_loss(d_real_map: Tensor, d_fake_map: Tensor, teacher: Tensor, gan_mode: str) -> Tensor:
    """Eq. 4: D's loss with the teacher's score T(x) (``teacher``, ``(N,)``, per real image) as
    the target of the real image, broadcast over D's map.

    vanilla: -log(1 - D(G(x, c))) - T(x) log D(x) - (1 - T(x)) log(1 - D(x)), i.e. the mean
    BCE-with-logits of the fake map against 0 plus that of the real map against T(x);
    lsgan: mean(D(G(x, c))^2) + mean((D(x) - T(x))^2).
    """
    _check_mode(gan_mode)
    _check_per_image(teacher, d_real_map, "teacher")
    with torch.autocast(device_type=d_real_map.device.type, enabled=False):
        real, fake = d_real_map.float(), d_fake_map.float()
        target = _per_image(teacher.detach(), real).expand_as(real)
        if gan_mode == "vanilla":
            return F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake)) + F.binary_cross_entropy_with_logits(
                real, target
            )
        return fake.pow(2).mean() + (real - target).pow(2).mean()


def inherited_g_loss(d_fake_map: Tensor, weight: Tensor, gan_mode: str) -> Tensor:
    """Eq. 5: -(w / 2) log D(G(x, c)) per image, averaged over the images; ``weight`` ``(N,)``
    (see `importance_weight`).

    vanilla: mean over images of w_i / 2 times the mean over the map of BCE-with-logits against 1;
    lsgan: mean over images of w_i / 2 times the mean over the map of (D(G(x, c)) - 1)^2.
    """
    _check_mode(gan_mode)
    _check_per_image(weight, d_fake_map, "weight")
    with torch.autocast(device_type=d_fake_map.device.type, enabled=False):
        fake = d_fake_map.float()
        per_element = F.softplus(-fake) if gan_mode == "vanilla" else (fake - 1).pow(2)
        per_image = per_element.flatten(1).mean(1)
        return (weight.detach().float() / 2 * per_image).mean()
