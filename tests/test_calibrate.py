"""python -m training calibrate on a handful of LFW pairs: the ROC, the threshold, the file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from engine import calibration
from engine.config import Settings
from tests.conftest import run_module
from training import lfw
from training.verification import (
    accuracy,
    best_accuracy_threshold,
    equal_error_rate,
    rates,
    roc,
    threshold_at_far,
)


def test_roc_statistics_on_known_scores() -> None:
    scores = np.array([0.99, 0.97, 0.95, 0.93, 0.91, 0.90, 0.85, 0.80])
    same = np.array([True, True, False, True, True, False, False, False])
    curve = roc(scores, same)
    assert curve.far[0] == 0 and curve.tar[-1] == 1 and curve.far[-1] == 1
    assert threshold_at_far(curve, 0.0) == pytest.approx(0.97)
    assert rates(scores, same, 0.97) == (0.5, 0.0)
    assert threshold_at_far(curve, 0.25) == pytest.approx(0.91)
    eer, _ = equal_error_rate(curve)
    assert eer == pytest.approx(0.25)
    best = best_accuracy_threshold(scores, same)
    assert accuracy(scores, same, best) == pytest.approx(7 / 8)  # only 0.95 is wrong


def test_pair_lists_skip_count_lines(tmp_path: Path) -> None:
    listing = tmp_path / "pairs.txt"
    listing.write_text("2\nAda_Lovelace\t1\t2\nAda_Lovelace 1 Alan_Turing 3\n")
    same, different = lfw.read_pairs(listing, tmp_path)
    assert same.same and same.second == tmp_path / "Ada_Lovelace" / "Ada_Lovelace_0002.jpg"
    assert not different.same and different.second.name == "Alan_Turing_0003.jpg"
    listing.write_text("just two\n")
    with pytest.raises(ValueError, match="line 1"):
        lfw.read_pairs(listing, tmp_path)


def test_calibrate_writes_the_threshold_the_engine_reads(lfw: Path, tmp_path: Path) -> None:
    lines = (lfw / "pairsDevTrain.txt").read_text().splitlines()
    same = [line for line in lines if len(line.split()) == 3][:12]
    different = [line for line in lines if len(line.split()) == 4][:12]
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("\n".join(same + different) + "\n")
    out = tmp_path / "calibration.json"
    out.write_text(json.dumps({"facenet": {"threshold": 0.7, "margin": 0.05}}))
    done = run_module(
        "training",
        "calibrate",
        "--pairs",
        pairs,
        "--images",
        lfw / "images",
        "--out",
        out,
        "--cache",
        tmp_path / "cache",
        "--json",
        "--quiet",
        "--margin",
        "0.01",
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n_pairs"] + result["dropped_pairs"] == 24
    assert 0.8 < result["threshold"] < 1.0 and result["far"] <= 0.001
    assert result["impostor_comparisons"] > 100 and result["tail"][0][0] == 0.1
    assert Path(result["written"]["plot"]).read_bytes()[:4] == b"\x89PNG"
    written = json.loads(out.read_text())
    assert written["facenet"]["threshold"] == 0.7  # other embedders are kept
    policy = calibration.policy(Settings(calibration=out), "dlib")
    assert policy.threshold == pytest.approx(result["threshold"]) and policy.margin == 0.01
    assert policy.tail and policy.threshold_for(1000) >= policy.threshold
    overridden = calibration.policy(Settings(calibration=out, match_threshold=0.5), "dlib")
    assert overridden.threshold == 0.5 and overridden.threshold_for(1000) == 0.5


def test_calibrate_with_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    done = run_module(
        "training",
        "calibrate",
        "--pairs",
        tmp_path / "nope.txt",
        "--images",
        tmp_path,
        timeout=120,
    )
    assert done.returncode == 2
    assert "does not exist" in done.stderr and "Traceback" not in done.stderr
