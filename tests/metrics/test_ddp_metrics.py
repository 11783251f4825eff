"""Metric states sync across two CPU processes: each rank sees its share of the images, both log
the values one process computes over all of them, and a datamodule's validation set that does
not divide by the number of processes is evaluated once per image, none repeated; groups that
only one process sees (classes split between them) are synced too, and so are FID-only groups
folded into sums on one process and not on the other."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from metric_fixtures import smooth_images, write_pairs

SCRIPT = Path(__file__).with_name("ddp_metrics_script.py")


def test_two_processes_log_the_single_process_metrics(tmp_path):
    from ddp_metrics_script import NUM_FILES, run

    write_pairs(tmp_path / "pairs" / "val", smooth_images(NUM_FILES, seed=1))
    single = run(devices=1, output=tmp_path)
    assert single["extractor_calls"] == 16  # 8 batches of 8: fakes and reals
    assert single["evaluated"] == list(range(NUM_FILES))
    assert {name for name in single["group_metrics"] if name.startswith("val/fid_")} == {f"val/fid_c{k}" for k in range(4)}
    sides = lambda *groups: [[group, real] for group in sorted(groups) for real in (False, True)]  # noqa: E731
    folded_0, folded_1 = ["folded_both", "folded_0_rows_1", "folded_0_empty_1"], ["folded_both", "folded_1_empty_0"]
    assert single["folded"] == {"fid": sides(*folded_0, *folded_1[1:]), "fid+kid": []}
    unfolded = single["fold_metrics"]["fid+kid"]
    assert unfolded.keys() == {f"val/fid_{g}" for g in (*folded_0, *folded_1[1:], "rows_1_only")} | {"val/mfid"}  # KID skipped: < 64 images

    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads((tmp_path / f"rank{rank}.json").read_text()) for rank in (0, 1)]
    # Rank r evaluates files r, r + 2, ...: each once, none padded in.
    assert [report["evaluated"] for report in reports] == [list(range(0, NUM_FILES, 2)), list(range(1, NUM_FILES, 2))]
    # What each process folded itself; the other's folded sides it folds too at the sync (rows or zeros).
    assert [report["folded"]["fid"] for report in reports] == [sides(*folded_0), sides(*folded_1)]
    for report in reports:
        assert report["extractor_calls"] == 8  # half the batches
        # Sums added up across processes give the one process's FID without folding, to float64 rounding.
        for fold_metrics in (single["fold_metrics"]["fid"], report["fold_metrics"]["fid"], report["fold_metrics"]["fid+kid"]):
            assert fold_metrics.keys() == unfolded.keys()
            for name, value in unfolded.items():
                assert fold_metrics[name] == pytest.approx(value, rel=1e-6), name
        for key in ("metrics", "file_metrics", "group_metrics"):
            assert report[key].keys() == single[key].keys()
            for name, value in single[key].items():
                assert report[key][name] == pytest.approx(value, rel=1e-4, abs=1e-6), (key, name)
