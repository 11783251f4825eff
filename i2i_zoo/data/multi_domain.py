"""The multi-domain layouts (StarGAN, GANimation): images with a domain label, an attribute
vector or a condition vector. Each layout is a row of ``LAYOUTS``; its reader is in
:mod:`i2i_zoo.data.multi_domain_readers`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, NamedTuple

import albumentations as A
import cv2
import numpy as np
import torch

from i2i_zoo.data.base import _apply, _FolderDataModule, document_arguments
from i2i_zoo.data.io import read_image, to_tensor
from i2i_zoo.data.multi_domain_readers import (
    CELEBA_SPLIT_SEED,
    CELEBA_TEST_SIZE,
    SPLITS,
    aligned_domain_paths,
    read_au_conditions,
    read_celeba_attributes,
    read_class_folders,
    read_condition_csv,
    read_domain_folders,
    uv_map_paths,
)
from i2i_zoo.data.stream import _RandomDataset
from i2i_zoo.data.transforms import resize_square, shortest_side_resize


class MultiDomainDataset(_RandomDataset):
    """Images with labels, ``paths[i]`` labelled ``labels[i]``; items are ``image``, ``label``
    and ``path``. ``label`` is an int64 scalar where ``labels`` is an int64 ``(N,)`` array of
    domain indices, a float32 vector where it is a float32 ``(N, C)`` array. Images are read as
    RGB (gray files repeated into three channels).

    With ``aligned_paths`` (for each image, the same scene in every domain, in label order),
    items also hold ``image_true`` (K, 3, H, W), transformed alike: the true translations.
    With ``uv_paths`` (a UV map per image), items also hold ``uv`` (3, H, W): the map resized to
    its image's size, then transformed alike (the same crop, resize and flip).
    With ``target_labels``, items also hold ``target_label``: the label of an item drawn
    uniformly from the whole dataset (itself included) with the item's generator, the target
    GANimation's original draws for each training image (``_generate_random_cond``). Only the
    label is read, never the other image.
    ``float_range`` is passed to :func:`~i2i_zoo.data.io.read_image`."""

    def __init__(
        self,
        paths: list[Path],
        labels: np.ndarray,
        transform: A.Compose | None = None,
        aligned_paths: list[list[Path]] | None = None,
        float_range: tuple[float, float] = (0.0, 1.0),
        uv_paths: list[Path] | None = None,
        target_labels: bool = False,
    ) -> None:
        if len(paths) != len(labels):
            raise ValueError(f"{len(paths)} images but {len(labels)} labels")
        self.paths, self.labels, self.transform, self.aligned_paths = paths, labels, transform, aligned_paths
        self.float_range, self.uv_paths, self.target_labels = float_range, uv_paths, target_labels
        if aligned_paths is not None and transform is not None:
            transform.add_targets({f"true{k}": "image" for k in range(len(aligned_paths[0]))})
        if uv_paths is not None and transform is not None:
            transform.add_targets({"uv": "image"})

    def __len__(self) -> int:
        return len(self.paths)

    def _item(self, index: int, generator: torch.Generator) -> dict[str, torch.Tensor | str]:
        path = self.paths[index]
        images = {"image": read_image(path, 3, float_range=self.float_range)}
        if self.aligned_paths is not None:
            images |= {
                f"true{k}": read_image(other, 3, float_range=self.float_range)
                for k, other in enumerate(self.aligned_paths[index])
            }
        if self.uv_paths is not None:
            uv = read_image(self.uv_paths[index], 3, float_range=self.float_range)
            height, width = images["image"].shape[:2]
            # At the image's size first, so the transform's crop cuts the same region of both.
            images["uv"] = cv2.resize(uv, (width, height), interpolation=cv2.INTER_LINEAR)
        out = {key: to_tensor(value) for key, value in _apply(self.transform, path, generator, **images).items()}
        item = {"image": out["image"], "label": torch.tensor(self.labels[index]), "path": str(path)}
        if self.aligned_paths is not None:
            item["image_true"] = torch.stack([out[f"true{k}"] for k in range(len(self.aligned_paths[index]))])
        if self.uv_paths is not None:
            item["uv"] = out["uv"]
        if self.target_labels:
            # Drawn after the transform's seed, so the item's augmentations are those it had without.
            other = int(torch.randint(len(self.labels), (), generator=generator))
            item["target_label"] = torch.tensor(self.labels[other])
        return item


class _Layout(NamedTuple):
    """What the datamodule knows of a multi-domain layout besides its reader."""

    label_type: str  # exclusive (a domain index), attributes (0/1 each) or continuous
    domains_are: str  # what data.domains names, for errors
    demo: str | None = None  # the demo layout of its demo:<name> roots, None for no demo
    files: tuple[str, str] | None = None  # default images folder and labels file (relative to root)
    crop: int | None = None  # default center crop
    split_seed: int | None = None  # default seed of the layout's split, None for no seeded split


LAYOUTS = {
    "folders": _Layout("exclusive", "the domain folder names", demo="multi_domain"),
    "class_folders": _Layout("exclusive", "the class folder names", split_seed=0),
    # 178: the original StarGAN's CelebA crop (faces in 178x218 images).
    "celeba": _Layout(
        "attributes", "the attribute names", files=("images", "list_attr_celeba.txt"), crop=178, split_seed=CELEBA_SPLIT_SEED
    ),
    "ganimation": _Layout("continuous", "the action-unit names, one per intensity", files=("imgs", "aus_openface.pkl")),
    "csv": _Layout("continuous", "the condition column names", demo="conditions"),
}
MULTI_DOMAIN_LAYOUTS = tuple(LAYOUTS)
MultiDomainLayout = Literal[MULTI_DOMAIN_LAYOUTS]
_MULTI_DOMAIN = (
    "(data.layout folders: root/<split>/<domain>/; class_folders: root/<domain>/; celeba: root/images/ "
    "+ root/list_attr_celeba.txt; ganimation: root/imgs/ + root/aus_openface.pkl + root/<split>_ids.csv; "
    "csv: root/<split>.csv)"
)
DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)


@document_arguments(
    root="dataset folder, or ``demo:<name>`` for a generated demo dataset (``tints`` in the folders "
    "layout, ``levels`` in the csv layout; not needed for ``predict``, which reads ``predict_dir``).",
    layout="``folders``, ``class_folders``, ``celeba``, ``ganimation`` or ``csv`` (see the class docs).",
    domains="in label order, the domain folder names (folders, class_folders), attribute names "
    "(celeba), action-unit names, one per intensity (ganimation), or condition columns (csv). Required.",
    image_size="images are resized to this square size.",
    center_crop="side of the square center crop taken before resizing; 0 for no crop (CelebA-HQ's "
    "whole aligned faces); null for the layout's default: 178 for celeba (the original's), no crop "
    "for the others.",
    square_crop="resize the short side to ``image_size`` and centre-crop the long side, keeping "
    "the aspect ratio (BigGAN-PyTorch's and DeepI2I's preprocessing), instead of resizing to a "
    "square; after ``center_crop``.",
    val_split="the split used for validation (a folder, ``<split>_ids.csv`` or ``<split>.csv``; "
    "celeba: ``train`` or ``test``; class_folders: ``train``, ``val`` or ``test``); null for none.",
    test_split="the split used for testing, as ``val_split``; null for none.",
    images_folder="the images folder under root (celeba: default ``images``; ganimation: default ``imgs``).",
    labels_file="the labels file under root (celeba: default ``list_attr_celeba.txt``; ganimation: "
    "default ``aus_openface.pkl``).",
    aligned_evaluation="(folders layout) the evaluation splits hold every scene in every domain under "
    "the same file name (renderings, or photographs of one pose), so translations are scored "
    "against the true ones (L1, PSNR, SSIM).",
    split_fractions="(class_folders layout) the fractions of each class's images in train, val and "
    "test (non-negative, summing to 1); null for 0.8, 0.1, 0.1. Val and test take the fraction of "
    "a class's images rounded half up, at least one where the fraction is positive; train the rest.",
    split_seed="(class_folders and celeba layouts) the seed of the split; null for the layout's "
    "default. class_folders (default 0): each class's images are shuffled by a generator seeded "
    "from it and the class name, so adding images to one class moves no other class's. celeba "
    "(default 1234, the original StarGAN's): the attribute lines are shuffled by Python's "
    "``random.Random(split_seed)`` and the first ``celeba_test_images`` form the test split.",
    celeba_test_images="(celeba layout) the number of images in the test split, drawn at random "
    "with ``split_seed``; the rest are the train split. 1999 is the original StarGAN's; BiL-GAN "
    "tests on 300 CelebA-HQ images.",
    uv_dir="a folder (relative to root, or absolute) holding a UV map per image (e.g. the 3DMM UV "
    "maps BiL-GAN can take): the file at the image's path relative to the images folder "
    "(celeba, ganimation: ``images_folder``; the other layouts: root), with any image extension, "
    "read as the images are (``float_range`` for floating-point files). Items then hold ``uv`` (3 channels, in [-1, 1]): the map resized to its image's size and "
    "transformed with it (the same crop, resize and flip). Null for none.",
)
class MultiDomainDataModule(_FolderDataModule):
    """Images with domain labels, for multi-domain translation (StarGAN, GANimation).

    Layouts (``layout``), each with splits ``train``, ``val_split`` and ``test_split``:

    - ``folders`` (StarGAN's RaFD): ``root/<split>/<domain>/`` images for each of ``domains``
      (other folders are not read). ``label``: int64 index into ``domains`` (exclusive domains).
    - ``class_folders`` (class datasets that come unsplit): ``root/<domain>/`` images for
      each of ``domains``, cut per class into ``train``, ``val`` and ``test`` by
      ``split_fractions`` with ``split_seed``. ``label``: as ``folders``.
    - ``celeba``: ``root/images/`` and ``root/list_attr_celeba.txt``; ``domains`` picks the
      attributes. Splits ``train`` and ``test`` are the original StarGAN's (the lines shuffled
      with seed 1234, 1999 test images; ``split_seed`` and ``celeba_test_images`` draw another).
      ``label``: float32 0/1 per attribute (1 -> 1, -1 -> 0).

      CelebA-HQ (BiL-GAN) reads through it: an attribute file in ``list_attr_celeba.txt``'s
      format whose first column names the CelebA-HQ files, such as CelebAMask-HQ's
      ``CelebAMask-HQ-attribute-anno.txt`` (``0.jpg`` ... ``29999.jpg``), with
      ``images_folder: CelebA-HQ-img``, ``labels_file: CelebAMask-HQ-attribute-anno.txt``,
      ``center_crop: 0`` (the faces are aligned squares already) and ``celeba_test_images: 300``.
    - ``ganimation``: ``root/imgs/``, ``root/aus_openface.pkl`` (id -> action-unit
      intensities in [0, 5]) and ``root/<split>_ids.csv`` (``train_ids.csv``,
      ``test_ids.csv``). ``label``: float32 intensities / 5, in [0, 1]. Ids without conditions
      are left out, as in the original; ids without images are an error.
    - ``csv``: ``root/<split>.csv`` with a ``path`` column (relative to root) and the number
      columns ``domains``. ``label``: float32 vector of those columns.

    Images are center-cropped (``center_crop``), resized to ``image_size`` squared (area when
    shrinking, bicubic when enlarging) and, for training, flipped horizontally at random.
    Batches hold ``image`` (N, 3, image_size, image_size), ``label`` ((N,) or (N, C)) and
    ``path``; with ``aligned_evaluation`` (folders), evaluation batches also hold
    ``image_true`` (N, K, 3, image_size, image_size): each image's scene in all K domains; with
    ``uv_dir`` (any layout), training and evaluation batches also hold ``uv`` (N, 3, image_size,
    image_size): each image's UV map, cropped, resized and flipped with it. Training batches
    also hold ``target_label``, shaped and typed as ``label``: for each image, the label of an
    image drawn uniformly from the whole training split (itself included), from the item's seed,
    so the same item, epoch and seed draw the same one on any number of processes or workers and
    after a resume (GANimation's targets, as its original's ``_generate_random_cond``).
    ``demo:tints`` (folders) and ``demo:levels`` (csv) are built-in demo datasets.
    """

    _layout_hint = _MULTI_DOMAIN

    def __init__(
        self,
        root: str | None = None,
        layout: MultiDomainLayout = "folders",
        domains: list[str] | None = None,
        image_size: int = 128,
        center_crop: int | None = None,
        square_crop: bool = False,
        flip: bool = True,
        batch_size: int = 16,
        val_split: str | None = "test",
        test_split: str | None = "test",
        images_folder: str | None = None,
        labels_file: str | None = None,
        aligned_evaluation: bool = False,
        split_fractions: list[float] | None = None,
        split_seed: int | None = None,
        celeba_test_images: int = CELEBA_TEST_SIZE,
        uv_dir: str | None = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)

    @property
    def label_type(self) -> str:
        """``exclusive`` (one domain index per image), ``attributes`` (0/1 per domain) or
        ``continuous`` (a number per domain), from the layout."""
        return LAYOUTS[self.hparams.layout].label_type

    @property
    def demo_layout(self) -> str:
        # Layouts without a demo never resolve a demo root (_check_options rejects one).
        return LAYOUTS[self.hparams.layout].demo or "multi_domain"

    def _check_options(self) -> None:
        hp = self.hparams
        if hp.layout not in LAYOUTS:
            raise ValueError(f"data.layout={hp.layout!r} is unknown; use one of {MULTI_DOMAIN_LAYOUTS}")
        layout = LAYOUTS[hp.layout]
        if hp.domains is None or isinstance(hp.domains, str) or not hp.domains:
            raise ValueError(
                f"data.domains is required: a list of {layout.domains_are}, in label order "
                f"(layout {hp.layout}), got {hp.domains!r}"
            )
        if len(set(hp.domains)) < len(hp.domains):
            raise ValueError(f"data.domains={list(hp.domains)} names a domain twice")
        if layout.files is None:
            for option in ("images_folder", "labels_file"):
                if hp[option] is not None:
                    raise ValueError(f"data.{option} applies to the celeba and ganimation layouts, not {hp.layout}")
        if hp.aligned_evaluation and hp.layout != "folders":
            raise ValueError(f"data.aligned_evaluation applies to the folders layout, not {hp.layout}")
        whose, splits = {"celeba": ("CelebA's", ("train", "test")), "class_folders": ("class_folders'", SPLITS)}.get(
            hp.layout, (None, None)
        )
        for option in ("val_split", "test_split") if splits else ():
            if hp[option] not in (None, *splits):
                raise ValueError(
                    f"data.{option}={hp[option]!r}: {whose} splits are {', '.join(splits[:-1])} and "
                    f"{splits[-1]} (or null for none)"
                )
        if isinstance(hp.root, str) and hp.root.startswith("demo:") and layout.demo is None:
            raise ValueError(
                f"data.root={hp.root}: the demo datasets come in the folders (demo:tints) and csv "
                f"(demo:levels) layouts, not {hp.layout}"
            )
        if hp.image_size < 1 or (hp.center_crop is not None and hp.center_crop < 0):
            raise ValueError(
                f"data.image_size={hp.image_size} must be positive and data.center_crop={hp.center_crop} "
                "non-negative (0 for no crop, null for the layout's default)"
            )
        if hp.celeba_test_images < 1:
            raise ValueError(
                f"data.celeba_test_images={hp.celeba_test_images} must be positive (data.test_split: null for no test split)"
            )
        if hp.split_seed is not None and hp.split_seed < 0:
            raise ValueError(f"data.split_seed={hp.split_seed} must be non-negative")
        self._split_fractions()

    def _split_fractions(self) -> tuple[float, float, float]:
        hp = self.hparams
        if hp.layout != "class_folders":
            if hp.split_fractions is not None:
                raise ValueError(f"data.split_fractions applies to the class_folders layout, not {hp.layout}")
            return DEFAULT_SPLIT_FRACTIONS
        if hp.split_fractions is None:
            return DEFAULT_SPLIT_FRACTIONS
        fractions = tuple(float(f) for f in hp.split_fractions)
        if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1) > 1e-6 or fractions[0] == 0:
            raise ValueError(
                f"data.split_fractions={list(hp.split_fractions)} must be three non-negative fractions "
                "(train, val, test) summing to 1, train's positive"
            )
        return fractions

    def _transform(self, train: bool) -> A.Compose:
        hp = self.hparams
        crop = LAYOUTS[hp.layout].crop if hp.center_crop is None else hp.center_crop
        steps: list[A.BasicTransform] = [A.CenterCrop(crop, crop)] if crop else []
        if hp.square_crop:
            steps += [shortest_side_resize(hp.image_size), A.CenterCrop(hp.image_size, hp.image_size)]
        else:
            steps.append(resize_square(hp.image_size))
        if train and hp.flip:
            steps.append(A.HorizontalFlip(p=0.5))
        return A.Compose(steps)

    @property
    def _split_seed(self) -> int | None:
        hp = self.hparams
        return LAYOUTS[hp.layout].split_seed if hp.split_seed is None else hp.split_seed

    def _dataset(self, root: Path, role: str, split: str) -> MultiDomainDataset:
        hp = self.hparams
        domains, train = list(hp.domains), role == "train"
        aligned, images_folder = None, root
        if hp.layout == "folders":
            paths, labels = read_domain_folders(root / split, domains)
            if hp.aligned_evaluation and not train:
                aligned = aligned_domain_paths(root / split, domains, paths, labels)
        elif hp.layout == "class_folders":
            paths, labels = read_class_folders(root, domains, split, self._split_fractions(), self._split_seed)
        elif hp.layout == "csv":
            paths, labels = read_condition_csv(root / f"{split}.csv", root, domains)
        else:
            default_images, default_labels = LAYOUTS[hp.layout].files
            images_folder = root / (hp.images_folder or default_images)
            labels_file = root / (hp.labels_file or default_labels)
            if hp.layout == "celeba":
                paths, labels = read_celeba_attributes(
                    labels_file, images_folder, domains, split, hp.celeba_test_images, self._split_seed
                )
            else:
                ids_file = root / f"{split}_ids.csv"
                paths, labels = read_au_conditions(ids_file, images_folder, labels_file, domains)
        # root / an absolute path is that path.
        uv_paths = None if hp.uv_dir is None else uv_map_paths(root / hp.uv_dir, paths, images_folder)
        return MultiDomainDataset(paths, labels, self._transform(train), aligned, hp.float_range, uv_paths, target_labels=train)
