from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from i2i_zoo.data.io import ImageReadError, list_images, read_image, to_tensor, write_image


def _write(path: Path, array: np.ndarray) -> Path:
    """Write raw pixels as OpenCV stores them (BGR order)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), array)
    return path


def test_rgb_round_trip_is_exact_and_in_rgb_order(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 256, (9, 13, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    write_image(tmp_path / "sub" / "x.png", rgb.astype(np.float32) / 255)
    image = read_image(tmp_path / "sub" / "x.png")
    assert image.dtype == np.float32 and image.shape == (9, 13, 3)
    np.testing.assert_array_equal(np.round(image * 255), rgb)
    # OpenCV writes BGR, so a red pixel is stored with its last channel set.
    assert tuple(cv2.imread(str(tmp_path / "sub" / "x.png"))[0, 0]) == (0, 0, 255)


def test_tensor_round_trip(tmp_path: Path) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (7, 5, 3), dtype=np.uint8)
    tensor = to_tensor(rgb.astype(np.float32) / 255)
    assert tensor.shape == (3, 7, 5) and tensor.dtype == torch.float32
    assert tensor.min() >= -1 and tensor.max() <= 1
    write_image(tmp_path / "t.png", tensor)
    np.testing.assert_array_equal(np.round(read_image(tmp_path / "t.png") * 255), rgb)


def test_to_tensor_maps_unit_range_to_symmetric_range() -> None:
    tensor = to_tensor(np.array([[[0.0, 0.5, 1.0]]], dtype=np.float32))
    assert tensor.flatten().tolist() == [-1.0, 0.0, 1.0]


def test_write_image_gray_tensor_and_jpeg(tmp_path: Path) -> None:
    write_image(tmp_path / "g.png", torch.zeros(1, 4, 6))
    gray = read_image(tmp_path / "g.png")
    assert gray.shape == (4, 6, 1) and np.allclose(gray, 128 / 255)
    write_image(tmp_path / "a" / "b" / "j.jpg", np.full((8, 8, 3), 0.5, np.float32))
    assert read_image(tmp_path / "a" / "b" / "j.jpg").shape == (8, 8, 3)
    with pytest.raises(ValueError, match="gif"):
        write_image(tmp_path / "x.gif", torch.zeros(3, 4, 4))


def test_gray_is_one_channel_and_rgba_drops_alpha(tmp_path: Path) -> None:
    gray = read_image(_write(tmp_path / "g.png", np.full((5, 6), 51, np.uint8)))
    assert gray.shape == (5, 6, 1) and np.allclose(gray, 0.2)
    bgra = np.zeros((5, 6, 4), np.uint8)
    bgra[..., 0], bgra[..., 3] = 255, 10  # blue, nearly transparent
    rgb = read_image(_write(tmp_path / "a.png", bgra))
    assert rgb.shape == (5, 6, 3)
    assert rgb[0, 0].tolist() == [0.0, 0.0, 1.0]


def test_gray_stored_as_rgb_stays_three_channels(tmp_path: Path) -> None:
    image = read_image(_write(tmp_path / "g3.png", np.full((4, 4, 3), 77, np.uint8)))
    assert image.shape == (4, 4, 3)


@pytest.mark.parametrize("ext", [".png", ".tif"])
def test_16_bit_keeps_full_precision(tmp_path: Path, ext: str) -> None:
    bgr = np.zeros((4, 4, 3), np.uint16)
    bgr[..., 2] = 40000  # red
    image = read_image(_write(tmp_path / f"x{ext}", bgr))
    assert image[0, 0, 0] == pytest.approx(40000 / 65535, abs=1e-7)
    assert image[0, 0, 1:].tolist() == [0.0, 0.0]
    gray = read_image(_write(tmp_path / f"g{ext}", np.full((3, 3), 1, np.uint16)))
    assert gray.shape == (3, 3, 1) and gray[0, 0, 0] == pytest.approx(1 / 65535)


def test_float_tiff_in_unit_range_reads_unchanged(tmp_path: Path) -> None:
    bgr = np.random.default_rng(2).random((4, 5, 3), dtype=np.float32)
    bgr[0, 0] = (0.0, 0.25, 1.0)  # both ends of the range are allowed
    image = read_image(_write(tmp_path / "f.tif", bgr))
    np.testing.assert_array_equal(image, bgr[:, :, ::-1])
    gray = read_image(_write(tmp_path / "g.tif", np.full((3, 2), 0.75, np.float32)))
    assert gray.shape == (3, 2, 1) and (gray == 0.75).all()


def test_float_tiff_outside_the_unit_range_names_the_file_and_the_option(tmp_path: Path) -> None:
    # An 8-bit scale stored as floats: clipping it would make most pixels white.
    pixels = np.random.default_rng(3).uniform(0, 255, (4, 4, 3)).astype(np.float32)
    path = _write(tmp_path / "scaled.tif", pixels)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    message = str(info.value)
    assert str(path) in message and "data.float_range" in message and "[0.0, 1.0]" in message
    assert f"{pixels.max():g}" in message  # the values found
    scaled = read_image(path, float_range=(0.0, 255.0))
    np.testing.assert_allclose(scaled, pixels[:, :, ::-1] / 255.0, rtol=1e-6)


def test_float_range_maps_its_ends_to_black_and_white(tmp_path: Path) -> None:
    path = _write(tmp_path / "signed.tif", np.array([[-1.0, 0.0, 1.0]], np.float32))
    assert read_image(path, float_range=(-1.0, 1.0))[0, :, 0].tolist() == [0.0, 0.5, 1.0]
    with pytest.raises(ImageReadError, match=r"signed\.tif.*-1"):
        read_image(path)


def test_float_range_leaves_integer_images_alone(tmp_path: Path) -> None:
    path = _write(tmp_path / "x.png", np.full((2, 2), 51, np.uint8))
    assert np.allclose(read_image(path, float_range=(0.0, 255.0)), 0.2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_pixels_name_the_file(tmp_path: Path, bad: float) -> None:
    pixels = np.full((4, 4, 3), 0.5, np.float32)
    pixels[1, 2, 0] = bad
    path = _write(tmp_path / "broken.tif", pixels)
    with pytest.raises(ImageReadError) as info:
        read_image(path, float_range=(0.0, 255.0))  # no range admits them
    message = str(info.value)
    assert str(path) in message and "1 non-finite" in message and "data.float_range" in message


@pytest.mark.parametrize("bad", [(1.0, 1.0), (2.0, 1.0), (0.0, np.inf), (0.0,)])
def test_a_float_range_must_be_two_increasing_finite_numbers(tmp_path: Path, bad) -> None:
    path = _write(tmp_path / "f.tif", np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError, match=r"float_range=.*two finite numbers, black below white"):
        read_image(path, float_range=bad)


@pytest.mark.parametrize("kind", ["random", "truncated", "empty"])
def test_unreadable_file_names_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "bad.png"
    if kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(200))
    elif kind == "truncated":
        pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), np.uint8)
        encoded = cv2.imencode(".png", pixels)[1]
        path.write_bytes(encoded.tobytes()[: len(encoded) // 2])
    else:
        path.write_bytes(b"")
    with pytest.raises(ImageReadError, match="bad.png") as info:
        read_image(path)
    if kind == "empty":  # not OpenCV's assertion on an empty buffer
        assert str(info.value) == f"cannot read image {path}: the file is empty (0 bytes)"


def test_unicode_path(tmp_path: Path) -> None:
    path = tmp_path / "日本語" / "画像.png"
    write_image(path, np.zeros((3, 3, 3), np.float32))
    assert read_image(path).shape == (3, 3, 3)


def test_channel_mismatch_names_file_counts_and_option(tmp_path: Path) -> None:
    colour = np.zeros((4, 4, 3), np.uint8)
    colour[..., 0] = 200
    path = _write(tmp_path / "colour.png", colour)
    with pytest.raises(ImageReadError) as info:
        read_image(path, channels=1, option="data.channels_A")
    message = str(info.value)
    assert str(path) in message and "data.channels_A" in message
    assert "has 3 colour channels" in message and "expected 1" in message


def test_lossless_channel_conversions(tmp_path: Path) -> None:
    gray = _write(tmp_path / "gray.png", np.full((4, 4), 100, np.uint8))
    assert read_image(gray, channels=1).shape == (4, 4, 1)
    rgb = read_image(gray, channels=3)
    assert rgb.shape == (4, 4, 3) and np.allclose(rgb, 100 / 255)
    gray_as_rgb = _write(tmp_path / "gray_rgb.png", np.full((4, 4, 3), 100, np.uint8))
    assert np.allclose(read_image(gray_as_rgb, channels=1), 100 / 255)


def test_list_images_is_sorted_recursive_and_case_insensitive(tmp_path: Path) -> None:
    for name in ["b.png", "a.JPG", "sub/c.Tiff", "notes.txt"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a.JPG", "b.png", "sub/c.Tiff"
    ]


def test_list_images_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing.*expected the paired layout"):
        list_images(tmp_path / "missing", "the paired layout")
    (tmp_path / "file.png").write_bytes(b"")
    with pytest.raises(FileNotFoundError, match="file.png is not a folder"):
        list_images(tmp_path / "file.png")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("")
    with pytest.raises(ValueError, match=r"no images in .*empty.*\.png"):
        list_images(tmp_path / "empty")
