"""Original dataset releases in the zoo's folder layouts:

    python -m i2i_zoo.data.prepare cityscapes --input CITYSCAPES --output data/cityscapes [--size 128 [--square]]
    python -m i2i_zoo.data.prepare helen --input HELEN --output data/helen [--size 128 [--square]]
    python -m i2i_zoo.data.prepare reference_pairs --input MAKEUP --output data/makeup_pairs \
        --pairs_per_source 10 --warps_file warps.csv --warp_border source [--source_folder non-makeup ...]

Cityscapes (leftImg8bit/ and gtFine/ as the official download unpacks them) becomes the unpaired
layout with photos as domain A and colour label maps as domain B (train -> trainA/trainB, val ->
testA/testB, each image named <city>_<seq>_<frame>.png), and pairs.csv (columns split,A,B) names each
photo's true label map: UnpairedDataModule(pairs_file="pairs.csv") scores translations against
them, while training never sees which images belong together.

Helen (Smith et al., "Exemplar-Based Face Parsing", CVPR 2013: images/<name>.jpg, one soft mask
per face part labels/<name>/<name>_lbl00.png ... _lbl10.png, and the split lists exemplars.txt
(2000 training faces) and testing.txt (100), lines "<number> , <name>") becomes the same layout
with colour label maps: each pixel takes the colour of the part whose mask is strongest there
(`HELEN_PALETTE`, our colours: the dataset ships masks, not colour maps).

reference_pairs writes the fixed pairs that ReferencePairDataModule trains on with
data.pairs_per_source (and evaluates on) as side-by-side source|warped-reference images, the
layout: side_by_side of that datamodule, as the SPL authors write their makeup set once
(create_aligned_set.py).
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import cv2
import numpy as np
import torch

from i2i_zoo.data.io import require_folder, write_image
from i2i_zoo.data.reference import ReferencePairDataModule, WARP_BORDERS

CITYSCAPES_SPLITS = {"train": "train", "val": "test"}  # Cityscapes' split -> the unpaired layout's
_PHOTO_SUFFIX, _LABEL_SUFFIX = "_leftImg8bit.png", "_gtFine_color.png"
HELEN_SPLITS = {"exemplars.txt": "train", "testing.txt": "test"}  # Helen's list -> the unpaired layout's split
# Helen's 11 parts in mask order (_lbl00 ... _lbl10) and the colour (RGB) each is drawn in.
HELEN_PALETTE = {
    "background": (0, 0, 0), "face skin": (255, 204, 153), "left eyebrow": (102, 51, 0), "right eyebrow": (153, 76, 0),
    "left eye": (0, 102, 255), "right eye": (0, 204, 255), "nose": (255, 102, 102), "upper lip": (204, 0, 0),
    "inner mouth": (102, 0, 51), "lower lip": (255, 0, 102), "hair": (102, 255, 102),
}  # fmt: skip


def prepare_cityscapes(
    source: str | os.PathLike, output: str | os.PathLike, size: int | None = None, square: bool = False
) -> dict[str, int]:
    """Write Cityscapes' photos and colour label maps in the unpaired layout under `output` (which
    must not exist or be empty, and must lie outside `source`); with `size`, images are resized to
    that height keeping the aspect ratio, or to size x size with `square` (photos with area
    interpolation, label maps with nearest, so they keep exactly the palette's colours). Returns
    the number of pairs per output split."""
    source, output = Path(source), Path(output)
    _check_output(source, output, size, square)
    rows, counts = [], {}
    for split, target in CITYSCAPES_SPLITS.items():
        photos_root = require_folder(source / "leftImg8bit" / split, "Cityscapes' leftImg8bit/<split>/<city>/*_leftImg8bit.png")
        labels_root = require_folder(source / "gtFine" / split, "Cityscapes' gtFine/<split>/<city>/*_gtFine_color.png")
        photos = sorted(photos_root.glob(f"*/*{_PHOTO_SUFFIX}"))
        if not photos:
            raise FileNotFoundError(f"{photos_root} holds no <city>/*{_PHOTO_SUFFIX}")
        for photo in photos:
            name = photo.name[: -len(_PHOTO_SUFFIX)]
            label = labels_root / photo.parent.name / f"{name}{_LABEL_SUFFIX}"
            if not label.is_file():
                raise FileNotFoundError(f"{photo} has no colour label map: expected {label}")
            a, b = f"{target}A/{name}.png", f"{target}B/{name}.png"
            _write(output / a, _read(photo), size, square, cv2.INTER_AREA)
            _write(output / b, _read(label), size, square, cv2.INTER_NEAREST)
            rows.append({"split": target, "A": a, "B": b})
        counts[target] = len(photos)
    _write_pairs(output, rows)
    return counts


def prepare_helen(
    source: str | os.PathLike, output: str | os.PathLike, size: int | None = None, square: bool = False
) -> dict[str, int]:
    """Write Helen's photos and colour label maps (from its part masks) in the unpaired layout under
    `output`, as `prepare_cityscapes` does; with `size`, resized to that height (size x size with
    `square`; label maps nearest). Returns the number of pairs per output split."""
    source, output = Path(source), Path(output)
    _check_output(source, output, size, square)
    images = require_folder(source / "images", "Helen's images/<name>.jpg")
    masks = require_folder(source / "labels", "Helen's labels/<name>/<name>_lbl00.png ... _lbl10.png")
    palette = np.array(list(HELEN_PALETTE.values()), np.uint8)[:, ::-1]  # BGR, as OpenCV writes
    rows, counts = [], {}
    for listing, target in HELEN_SPLITS.items():
        names = _helen_names(source / listing)
        for name in names:
            photo = _read(_only(images, name))
            parts = np.stack([_read_mask(masks / name / f"{name}_lbl{k:02d}.png") for k in range(len(HELEN_PALETTE))])
            if parts.shape[1:] != photo.shape[:2]:
                raise ValueError(f"{masks / name} masks are {parts.shape[1:]}, the photo {photo.shape[:2]}: expected the same size")
            a, b = f"{target}A/{name}.png", f"{target}B/{name}.png"
            _write(output / a, photo, size, square, cv2.INTER_AREA)
            _write(output / b, palette[parts.argmax(0)], size, square, cv2.INTER_NEAREST)
            rows.append({"split": target, "A": a, "B": b})
        counts[target] = len(names)
    _write_pairs(output, rows)
    return counts


def prepare_reference_pairs(
    source: str | os.PathLike, output: str | os.PathLike, pairs_per_source: int, pairing_seed: int = 0,
    warps_file: str | None = None, warp_border: str = "replicate", source_folder: str = "source",
    reference_folder: str = "reference",
) -> dict[str, int]:
    """Write the pairs of ``ReferencePairDataModule(source, random_pairing=False, ...)`` with the
    other arguments as its options (``source``: its root, a folder or ``demo:<name>``) under
    `output` (new or empty, outside the dataset) as side-by-side ``<split>/<number>_<source
    stem>_<reference stem>.png``: training's ``pairs_per_source`` fixed pairs and, where the
    dataset has ``val`` or ``test``, their pairs by index, each reference warped as training
    warps it, at the source's size. Returns the number of pairs per split."""
    from i2i_zoo.data.demo import resolve_root

    root, output = resolve_root(str(source), "reference"), Path(output)
    _check_output(root, output, None, False)
    # val and test are optional: written where the dataset has them.
    present = {split: split if (root / split / source_folder).is_dir() else None for split in ("val", "test")}
    dm = ReferencePairDataModule(
        str(root), source_folder=source_folder, reference_folder=reference_folder, random_pairing=False,
        pairs_per_source=pairs_per_source, pairing_seed=pairing_seed, warps_file=warps_file,
        warp_border=warp_border, val_split=present["val"], test_split=present["test"],
        preprocess="none", flip=False, num_workers=0,  # the images as training reads them before cropping
    )
    dm.setup("fit")
    if present["test"] is not None:
        dm.setup("test")
    counts = {}
    for split, dataset in (("train", dm.train_dataset), ("val", dm.val_dataset), ("test", dm.test_dataset)):
        if dataset is None:
            continue
        for i in range(len(dataset)):
            item = dataset[i]
            name = f"{i:06d}_{Path(item['source_path']).stem}_{Path(item['reference_path']).stem}.png"
            write_image(output / split / name, torch.cat([item["source"], item["reference"]], dim=2))
        counts[split] = len(dataset)
    return counts


def _helen_names(listing: Path) -> list[str]:
    if not listing.is_file():
        raise FileNotFoundError(f"{listing} does not exist: expected Helen's split list (lines '<number> , <name>')")
    names = [line.split(",")[-1].strip() for line in listing.read_text().splitlines() if line.strip()]
    if not names:
        raise ValueError(f"{listing} lists no images")
    return names


def _only(folder: Path, name: str) -> Path:
    found = sorted(folder.glob(f"{name}.*"))
    if len(found) != 1:
        raise FileNotFoundError(f"expected one image {folder}/{name}.<ext>, found {len(found)}")
    return found[0]


def _read_mask(path: Path) -> np.ndarray:
    mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    if mask is None:
        raise FileNotFoundError(f"cannot read the part mask {path}")
    return mask


def _check_output(source: Path, output: Path, size: int | None, square: bool) -> None:
    if output.resolve().is_relative_to(source.resolve()):
        raise ValueError(f"--output {output} lies inside --input {source}: choose a folder outside the dataset")
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"--output {output} is not empty: choose a new folder")
    if size is not None and size < 1:
        raise ValueError(f"--size {size} must be positive")
    if square and size is None:
        raise ValueError("--square needs --size: the side to resize to")


def _write_pairs(output: Path, rows: list[dict[str, str]]) -> None:
    with open(output / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["split", "A", "B"])
        writer.writeheader()
        writer.writerows(rows)


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read {path} as an image")
    return image


def _write(path: Path, image: np.ndarray, size: int | None, square: bool, interpolation: int) -> None:
    if size is not None:
        height, width = image.shape[:2]
        image = cv2.resize(image, (size if square else max(1, round(width * size / height)), size), interpolation=interpolation)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise OSError(f"cannot write {path}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m i2i_zoo.data.prepare", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="dataset", required=True)
    cityscapes = commands.add_parser("cityscapes", help="Cityscapes photos <-> colour label maps, unpaired, with pairs.csv")
    cityscapes.add_argument("--input", required=True, help="the Cityscapes folder holding leftImg8bit/ and gtFine/")
    cityscapes.add_argument("--output", required=True, help="a new folder for trainA/, trainB/, testA/, testB/ and pairs.csv")
    cityscapes.add_argument("--size", type=int, default=None, help="resize to this height, keeping the aspect ratio")
    cityscapes.add_argument("--square", action="store_true", help="resize to size x size instead (the 128 px squares AsymGAN trains on)")
    helen = commands.add_parser("helen", help="Helen face photos <-> colour label maps (from its part masks), unpaired, with pairs.csv")
    helen.add_argument("--input", required=True, help="the Helen folder holding images/, labels/, exemplars.txt and testing.txt")
    helen.add_argument("--output", required=True, help="a new folder for trainA/, trainB/, testA/, testB/ and pairs.csv")
    helen.add_argument("--size", type=int, default=None, help="resize to this height, keeping the aspect ratio")
    helen.add_argument("--square", action="store_true", help="resize to size x size instead")
    pairs = commands.add_parser("reference_pairs", help="fixed source|warped-reference pairs, side by side (the SPL authors' makeup set)")
    pairs.add_argument("--input", required=True, help="the reference-pair dataset (<split>/source/, <split>/reference/) or demo:<name>")
    pairs.add_argument("--output", required=True, help="a new folder for train/ (and val/, test/ where the input has them)")
    pairs.add_argument("--pairs_per_source", type=int, required=True, help="references per training source (the authors used 10)")
    pairs.add_argument("--pairing_seed", type=int, default=0, help="the seed the references are drawn from")
    pairs.add_argument("--warps_file", default=None, help="the CSV of affine maps, relative to --input (data.warps_file)")
    pairs.add_argument("--warp_border", choices=WARP_BORDERS, default="replicate", help="what fills the pixels a warp leaves uncovered (the authors: source)")
    pairs.add_argument("--source_folder", default="source", help="the source subfolder of each split")
    pairs.add_argument("--reference_folder", default="reference", help="the reference subfolder of each split")
    args = parser.parse_args(argv)
    if args.dataset == "reference_pairs":
        counts = prepare_reference_pairs(
            args.input, args.output, args.pairs_per_source, args.pairing_seed, args.warps_file, args.warp_border,
            args.source_folder, args.reference_folder,
        )
    else:
        prepare = {"cityscapes": prepare_cityscapes, "helen": prepare_helen}[args.dataset]
        counts = prepare(args.input, args.output, args.size, args.square)
    print(", ".join(f"{n} {split} pairs" for split, n in counts.items()) + f" written to {args.output}")


if __name__ == "__main__":
    main()
