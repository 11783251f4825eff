"""The readers of the multi-domain layouts: each returns the image paths of a split and their
labels (a domain index, attribute vector or condition vector), and checks that every image
exists. ``folders`` and ``class_folders``: a folder per domain; ``celeba``: CelebA's attribute
list and the original StarGAN split (or a seeded one of another size); ``ganimation``: ids
files and pickled action units; ``csv``: a table of paths and conditions. :func:`uv_map_paths`
finds each image's UV map in any layout."""

from __future__ import annotations

import codecs
import csv
import pickle
import random
import warnings
import zlib
from pathlib import Path

import numpy as np

from i2i_zoo.data.io import IMAGE_EXTENSIONS, list_images, require_folder


def _first_few(items: list) -> str:
    return ", ".join(str(item) for item in items[:5]) + (" ..." if len(items) > 5 else "")


def _require_files(paths: list[Path], listed_in: str) -> None:
    """Raise FileNotFoundError naming the first few of ``paths`` that are not files, and their count."""
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(paths)} images listed in {listed_in} do not exist: {_first_few(missing)}"
        )


def read_domain_folders(
    split_folder: Path, domains: list[str], expected: str | None = None
) -> tuple[list[Path], np.ndarray]:
    """The images of ``split_folder/<domain>/`` (subfolders included) for each of ``domains``,
    labelled with the domain's index in ``domains``; other folders are not read. ``expected``
    describes ``split_folder`` in the error raised when it is missing."""
    require_folder(
        split_folder,
        expected
        or f"a split with one folder of images per domain ({', '.join(domains)}); data.val_split and "
        "data.test_split name the evaluation splits",
    )
    paths, labels = [], []
    for index, domain in enumerate(domains):
        folder = split_folder / domain
        if not folder.is_dir():
            present = sorted(p.name for p in split_folder.iterdir() if p.is_dir())
            raise FileNotFoundError(
                f"{folder} does not exist: data.domains names {domain!r}; the domain folders in "
                f"{split_folder} are {present}"
            )
        found = list_images(folder, f"the images of domain {domain!r}")
        paths += found
        labels += [index] * len(found)
    return paths, np.array(labels, np.int64)


def aligned_domain_paths(split_folder: Path, domains: list[str], paths: list[Path], labels: np.ndarray) -> list[list[Path]]:
    """For each of ``paths`` (in ``split_folder/<domain>/``), the files of the same name in every
    domain's folder, in label order; an error names the first image missing from a domain."""
    aligned = []
    for path, label in zip(paths, labels):
        name = path.relative_to(split_folder / domains[label])
        partners = [split_folder / domain / name for domain in domains]
        missing = [partner for partner in partners if not partner.is_file()]
        if missing:
            raise FileNotFoundError(
                f"{missing[0]} does not exist: with data.aligned_evaluation every image of "
                f"{split_folder} must exist under the same name in each domain folder ({', '.join(domains)})"
            )
        aligned.append(partners)
    return aligned


# The class_folders layout: root/<class>/ images, cut per class into train, val and test.
SPLITS = ("train", "val", "test")


def class_split(num_files: int, fractions: tuple[float, float, float], seed: int, name: str) -> dict[str, list[int]]:
    """The indices (into the class's files, sorted by name) of its ``train``, ``val`` and
    ``test`` images, each sorted. The files are permuted by a generator seeded from ``seed``
    and the class ``name`` (by CRC-32, stable across runs and machines), so a class's split
    depends on its own files only. ``val`` and ``test`` take ``fraction * num_files`` rounded
    half up, at least 1 where their fraction is positive; ``train`` takes the rest and must not
    be empty."""
    counts = {
        split: max(int(fraction * num_files + 0.5), 1) if fraction > 0 else 0
        for split, fraction in zip(SPLITS[1:], fractions[1:])
    }
    counts = {"train": num_files - sum(counts.values())} | counts
    if counts["train"] < 1:
        raise ValueError(
            f"class {name!r} has {num_files} images: too few for data.split_fractions={list(fractions)} "
            f"(val {counts['val']}, test {counts['test']}, none left for train)"
        )
    order = np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(num_files).tolist()
    split, start = {}, 0
    for key in SPLITS:
        split[key], start = sorted(order[start : start + counts[key]]), start + counts[key]
    return split


def read_class_folders(
    root: Path, domains: list[str], split: str, fractions: tuple[float, float, float], seed: int
) -> tuple[list[Path], np.ndarray]:
    """The images of ``split`` (``train``, ``val`` or ``test``, see :func:`class_split`) of
    ``root/<domain>/`` (subfolders included) for each of ``domains``, labelled with the domain's
    index in ``domains``; other folders are not read."""
    paths, labels = read_domain_folders(root, domains, "a folder of class folders (data.layout: class_folders)")
    chosen = []
    for index, domain in enumerate(domains):
        files = [path for path, label in zip(paths, labels) if label == index]
        chosen += [(files[i], index) for i in class_split(len(files), fractions, seed, domain)[split]]
    if not chosen:
        raise ValueError(f"data.split_fractions={list(fractions)} gives the {split} split no images; name another split")
    return [path for path, _ in chosen], np.array([label for _, label in chosen], np.int64)


# CelebA's split as the original StarGAN makes it: the attribute lines shuffled by Python's
# random seeded with 1234, and those that land at positions i with i + 1 < 2000 (the first
# 1999) held out for testing.
CELEBA_SPLIT_SEED = 1234
CELEBA_TEST_SIZE = 1999
_CELEBA_FORMAT = (
    "CelebA's list_attr_celeba.txt: a line with the image count, a line of attribute names, then "
    "one line per image: its file name and 1 or -1 per attribute"
)


def celeba_split(
    num_images: int, test_images: int = CELEBA_TEST_SIZE, seed: int = CELEBA_SPLIT_SEED
) -> dict[str, list[int]]:
    """The indices of the ``train`` and ``test`` images among the ``num_images`` attribute lines
    (in file order): the lines shuffled by Python's ``random.Random(seed)``, the first
    ``test_images`` of them held out for testing. The defaults are the original StarGAN's split
    of CelebA. A shuffle's permutation depends on the list's length only, so shuffling the
    indices moves them as it moved the lines."""
    order = list(range(num_images))
    random.Random(seed).shuffle(order)
    return {"test": order[:test_images], "train": order[test_images:]}


def read_celeba_attributes(
    labels_file: Path,
    images_folder: Path,
    domains: list[str],
    split: str,
    test_images: int = CELEBA_TEST_SIZE,
    seed: int = CELEBA_SPLIT_SEED,
) -> tuple[list[Path], np.ndarray]:
    """The images of ``split`` (``train`` or ``test``, see :func:`celeba_split`), in the
    shuffled order, with the attributes ``domains`` as float32 0/1 vectors (1 -> 1; -1, or 0 as
    some copies write it, -> 0). Blank lines are skipped before the shuffle."""
    if not labels_file.is_file():
        raise FileNotFoundError(f"data.labels_file: {labels_file} does not exist ({_CELEBA_FORMAT})")
    require_folder(images_folder, "the CelebA images (data.images_folder)")
    lines = labels_file.read_text().splitlines()
    if len(lines) < 2 or not lines[0].strip().isdigit():
        raise ValueError(f"{labels_file} does not start with an image count and the attribute names ({_CELEBA_FORMAT})")
    names = lines[1].split()
    unknown = [domain for domain in domains if domain not in names]
    if unknown:
        raise ValueError(f"data.domains: {unknown} are not attributes in {labels_file}; its attributes are {names}")
    rows = [line for line in lines[2:] if line.strip()]
    if int(lines[0]) != len(rows):
        raise ValueError(
            f"{labels_file} says it lists {int(lines[0])} images but lists {len(rows)}; correct its first line"
        )
    indices = celeba_split(len(rows), test_images, seed)[split]
    if not indices:
        raise ValueError(
            f"{labels_file} lists {len(rows)} images and data.celeba_test_images={test_images} of "
            "them are held out for testing: none are left for training"
        )
    columns = [1 + names.index(domain) for domain in domains]
    paths, labels = [], []
    for row in (rows[i].split() for i in indices):
        if len(row) != len(names) + 1:
            raise ValueError(f"{labels_file}: the line of {row[0]} has {len(row) - 1} values for {len(names)} attributes")
        values = [row[column] for column in columns]
        if not set(values) <= {"1", "-1", "0"}:
            raise ValueError(f"{labels_file}: the line of {row[0]} has values other than 1 and -1: {values}")
        paths.append(images_folder / row[0])
        labels.append([value == "1" for value in values])
    _require_files(paths, f"{labels_file} ({split} split)")
    return paths, np.array(labels, np.float32).reshape(len(paths), len(domains))


def uv_map_paths(uv_folder: Path, paths: list[Path], images_folder: Path) -> list[Path]:
    """For each of ``paths`` (under ``images_folder``), its UV map: the file of ``uv_folder`` at
    the image's path relative to ``images_folder``, with any image extension (a JPEG photo may
    have a PNG map). An error names the images without one, or with several."""
    require_folder(uv_folder, "the UV maps (data.uv_dir), one per image at the image's relative path")
    maps: dict[Path, list[Path]] = {}
    for path in list_images(uv_folder):
        maps.setdefault(path.relative_to(uv_folder).with_suffix(""), []).append(path)
    keys = []
    for path in paths:
        if not path.is_relative_to(images_folder):
            raise ValueError(f"data.uv_dir: {path} is not under {images_folder}, so no UV map path follows from its path")
        keys.append(path.relative_to(images_folder).with_suffix(""))
    missing = [f"{uv_folder / key}.<image extension>" for key in keys if key not in maps]
    if missing:
        raise FileNotFoundError(
            f"data.uv_dir: {len(missing)} of the {len(paths)} images have no UV map (the image's path "
            f"relative to {images_folder}, under {uv_folder}): {_first_few(missing)}"
        )
    twice = [key for key in keys if len(maps[key]) > 1]
    if twice:
        raise ValueError(f"data.uv_dir: several UV maps for one image: {sorted(str(p) for p in maps[twice[0]])}")
    return [maps[key][0] for key in keys]


def _array_globals() -> dict[tuple[str, str], object]:
    """The functions a pickle of numpy arrays names, under numpy 1's and 2's module names."""
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    allowed: dict[tuple[str, str], object] = {("numpy", "ndarray"): np.ndarray, ("numpy", "dtype"): np.dtype}
    for core in ("core", "_core"):
        allowed[f"numpy.{core}.multiarray", "_reconstruct"] = multiarray._reconstruct
        allowed[f"numpy.{core}.multiarray", "scalar"] = multiarray.scalar
        allowed[f"numpy.{core}.numeric", "_frombuffer"] = numeric._frombuffer  # protocol 5
    allowed["_codecs", "encode"] = codecs.encode  # protocol 2 writes bytes as encode(str, "latin1")
    return allowed


class _ArrayUnpickler(pickle.Unpickler):
    """Loads dicts, lists, numbers, strings and numpy arrays, nothing else. Unpickling calls any
    function a file names (``os.system`` as easily as numpy's array constructor), so a pickle
    from elsewhere could run code; this unpickler resolves numpy's array reconstructors only."""

    _allowed = _array_globals()

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._allowed[module, name]
        except KeyError:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}; only dicts, lists and numpy arrays are loaded from a pickle"
            ) from None


def load_array_pickle(path: Path) -> object:
    """Load a pickle of dicts, lists and numpy arrays (see :class:`_ArrayUnpickler`). Python 2
    pickles (such as GANimation's ``aus_openface.pkl``) hold arrays' bytes as ``str``, which
    Latin-1 decodes unchanged."""
    with open(path, "rb") as f:
        try:
            return _ArrayUnpickler(f, encoding="latin1").load()
        except pickle.UnpicklingError as error:
            raise pickle.UnpicklingError(f"cannot load {path}: {error}") from error


def _read_ids(path: Path) -> list[str]:
    """Image ids, one per line (its first tab- or comma-separated field), without the image
    extension: GANimation's ids files hold file names, its conditions file their stems."""
    ids = []
    for line in path.read_text().splitlines():
        name = line.replace(",", "\t").split("\t")[0].strip()
        suffix = Path(name).suffix
        if name:
            ids.append(name.removesuffix(suffix) if suffix.lower() in IMAGE_EXTENSIONS else name)
    if not ids:
        raise ValueError(f"{path} lists no image ids")
    return ids


def read_au_conditions(
    ids_file: Path, images_folder: Path, labels_file: Path, domains: list[str]
) -> tuple[list[Path], np.ndarray]:
    """GANimation's layout: the ids in ``ids_file``, their images ``images_folder/<id>.<image
    extension>`` and their action-unit intensities from ``labels_file`` (a pickled dict from
    id to ``len(domains)`` intensities in [0, 5]), divided by 5, as float32.

    As in the original, ids without conditions are left out (with a warning saying how many:
    OpenFace finds no face in some images); an id without an image is an error."""
    if not ids_file.is_file():
        raise FileNotFoundError(
            f"{ids_file} does not exist: the ganimation layout lists the image ids of each split "
            "(one file name per line) in root/<split>_ids.csv"
        )
    if not labels_file.is_file():
        raise FileNotFoundError(
            f"data.labels_file: {labels_file} does not exist (a pickled dict from image id to "
            f"{len(domains)} action-unit intensities in [0, 5])"
        )
    require_folder(images_folder, "the images of the ganimation layout (data.images_folder)")
    conditions = load_array_pickle(labels_file)
    if not isinstance(conditions, dict):
        raise ValueError(f"{labels_file} holds a {type(conditions).__name__}, expected a dict from image id to intensities")
    ids = _read_ids(ids_file)
    kept = [i for i in ids if i in conditions]
    if len(kept) < len(ids):
        dropped = [i for i in ids if i not in conditions]
        message = f"{len(dropped)} of the {len(ids)} ids in {ids_file} have no conditions in {labels_file}"
        if not kept:
            raise ValueError(f"{message}: {_first_few(dropped)}")
        warnings.warn(f"{message} and are left out, as in the original: {_first_few(dropped)}", stacklevel=2)
    images: dict[str, list[Path]] = {}
    for path in images_folder.iterdir():
        if path.suffix.lower() in IMAGE_EXTENSIONS:
            images.setdefault(path.stem, []).append(path)
    missing = [i for i in kept if i not in images]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} of the {len(kept)} ids in {ids_file} have no image <id>.<image extension> "
            f"in {images_folder}: {_first_few(missing)}"
        )
    twice = [i for i in kept if len(images[i]) > 1]
    if twice:
        raise ValueError(f"{images_folder} holds several images of id {twice[0]}: {sorted(p.name for p in images[twice[0]])}")
    labels = np.zeros((len(kept), len(domains)), np.float32)
    for row, i in enumerate(kept):
        vector = np.asarray(conditions[i], np.float32).ravel()
        if len(vector) != len(domains):
            raise ValueError(
                f"{labels_file}: id {i} has {len(vector)} conditions, but data.domains names {len(domains)}: {domains}"
            )
        labels[row] = vector / 5.0
    return [images[i][0] for i in kept], labels


def read_condition_csv(csv_file: Path, root: Path, domains: list[str]) -> tuple[list[Path], np.ndarray]:
    """The rows of ``csv_file``: a ``path`` column (relative to ``root``) and the number columns
    ``domains``, returned as a float32 ``(N, len(domains))`` array; other columns are ignored."""
    if not csv_file.is_file():
        raise FileNotFoundError(
            f"{csv_file} does not exist: the csv layout holds root/<split>.csv with a path column "
            "(relative to root) and one column per condition"
        )
    with open(csv_file, newline="") as f:
        reader = csv.DictReader(f)
        columns = reader.fieldnames or []
        if "path" not in columns:
            raise ValueError(f"{csv_file} has no path column (image paths relative to root); its columns are {columns}")
        unknown = [name for name in domains if name not in columns]
        if unknown:
            raise ValueError(f"data.domains: {unknown} are not columns of {csv_file}; its columns are {columns}")
        paths, labels = [], []
        for row in reader:
            try:
                labels.append([float(row[name]) for name in domains])
            except (TypeError, ValueError):
                raise ValueError(f"{csv_file} line {reader.line_num}: the columns {domains} must hold numbers, got {row}") from None
            paths.append(root / row["path"])
    if not paths:
        raise ValueError(f"{csv_file} has no rows")
    _require_files(paths, str(csv_file))
    return paths, np.array(labels, np.float32)
