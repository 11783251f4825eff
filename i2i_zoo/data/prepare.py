"""Original dataset releases in the zoo's folder layouts:

    python -m i2i_zoo.data.prepare cityscapes --input CITYSCAPES --output data/cityscapes [--size 128]

Cityscapes (leftImg8bit/ and gtFine/ as the official download unpacks them) becomes the unpaired
layout with photos as domain A and colour label maps as domain B (train -> trainA/trainB, val ->
testA/testB, each image named <city>_<seq>_<frame>.png), and pairs.csv (columns split,A,B) names each
photo's true label map: UnpairedDataModule(pairs_file="pairs.csv") scores translations against
them, while training never sees which images belong together.
"""

from __future__ import annotations

import argparse
import csv
import os
from pathlib import Path

import cv2
import numpy as np

from i2i_zoo.data.io import require_folder

CITYSCAPES_SPLITS = {"train": "train", "val": "test"}  # Cityscapes' split -> the unpaired layout's
_PHOTO_SUFFIX, _LABEL_SUFFIX = "_leftImg8bit.png", "_gtFine_color.png"


def prepare_cityscapes(source: str | os.PathLike, output: str | os.PathLike, size: int | None = None) -> dict[str, int]:
    """Write Cityscapes' photos and colour label maps in the unpaired layout under `output` (which
    must not exist or be empty, and must lie outside `source`); with `size`, images are resized to
    that height keeping the aspect ratio (photos with area interpolation, label maps with nearest,
    so they keep exactly the palette's colours). Returns the number of pairs per output split."""
    source, output = Path(source), Path(output)
    if output.resolve().is_relative_to(source.resolve()):
        raise ValueError(f"--output {output} lies inside --input {source}: choose a folder outside the dataset")
    if output.exists() and any(output.iterdir()):
        raise ValueError(f"--output {output} is not empty: choose a new folder")
    if size is not None and size < 1:
        raise ValueError(f"--size {size} must be positive")
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
            _write(output / a, _read(photo), size, cv2.INTER_AREA)
            _write(output / b, _read(label), size, cv2.INTER_NEAREST)
            rows.append({"split": target, "A": a, "B": b})
        counts[target] = len(photos)
    with open(output / "pairs.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["split", "A", "B"])
        writer.writeheader()
        writer.writerows(rows)
    return counts


def _read(path: Path) -> np.ndarray:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read {path} as an image")
    return image


def _write(path: Path, image: np.ndarray, size: int | None, interpolation: int) -> None:
    if size is not None:
        height, width = image.shape[:2]
        image = cv2.resize(image, (max(1, round(width * size / height)), size), interpolation=interpolation)
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
    args = parser.parse_args(argv)
    counts = prepare_cityscapes(args.input, args.output, args.size)
    print(", ".join(f"{n} {split} pairs" for split, n in counts.items()) + f" written to {args.output}")


if __name__ == "__main__":
    main()
