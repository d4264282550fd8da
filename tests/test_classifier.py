"""engine.classifier: save and load, checks on load, predictions, and hot reload."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch

from engine.classifier import Classifier, Head, ModelWatcher, model_paths
from engine.embedders import normalise
from engine.errors import ModelMismatch, ModelUnavailable


def toy_classifier(classes: list[str], dim: int = 8, seed: int = 0) -> Classifier:
    """A head whose weights are the class centroids: each class scores its own direction."""
    rng = np.random.default_rng(seed)
    centroids = normalise(rng.normal(size=(len(classes), dim)))
    head = Head(dim, len(classes))
    with torch.no_grad():
        linear = head.net[-1]
        linear.weight.copy_(torch.from_numpy(centroids) * 20)
        linear.bias.zero_()
    return Classifier(head, classes, "dlib", dim, centroids, {"metrics": {"top1": 1.0}})


def test_save_and_load_round_trip(tmp_path) -> None:
    model = toy_classifier(["Ada_Lovelace", "Alan_Turing", "Grace_Hopper"])
    pth, meta = model.save(tmp_path / "toy")
    assert (pth.name, meta.name) == ("toy.pth", "toy.json")
    info = json.loads(meta.read_text())
    assert info["classes"] == ["Ada_Lovelace", "Alan_Turing", "Grace_Hopper"]
    assert info["embedder"] == {"name": "dlib", "dim": 8}
    assert info["format_version"] == 1 and info["metrics"] == {"top1": 1.0}
    assert set(torch.load(pth, weights_only=True)) >= {"centroids", "head.net.1.weight"}
    assert not list(tmp_path.glob("*.tmp"))

    loaded = Classifier.load(tmp_path / "toy.pth", embedder="dlib", dim=8)
    probe = model.centroids[[2, 0]]
    assert loaded.predict(probe) == model.predict(probe)


def test_predictions_are_sorted_with_probability_and_similarity() -> None:
    model = toy_classifier(["Ada_Lovelace", "Alan_Turing", "Grace_Hopper", "Katherine_Johnson"])
    (top,) = model.predict(model.centroids[[3]], top_k=3)
    assert top[0].name == "Katherine Johnson"
    assert len(top) == 3
    probabilities = [p.probability for p in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert top[0].similarity == pytest.approx(1.0, abs=1e-5)
    assert all(-1 <= p.similarity <= 1 and 0 <= p.probability <= 1 for p in top)
    assert len(model.predict(model.centroids[[0]], top_k=10)[0]) == 4
    assert model.predict(np.zeros((0, 8), np.float32)) == []


def test_loading_checks_the_embedder(tmp_path) -> None:
    toy_classifier(["A", "B"]).save(tmp_path / "toy")
    with pytest.raises(ModelMismatch, match="facenet"):
        Classifier.load(tmp_path / "toy", embedder="facenet", dim=512)
    with pytest.raises(ModelMismatch):
        Classifier.load(tmp_path / "toy", embedder="dlib", dim=128)


def test_missing_and_damaged_models_are_unavailable(tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="No celebrity model"):
        Classifier.load(tmp_path / "nothing")
    pth, meta = toy_classifier(["A", "B"]).save(tmp_path / "toy")
    pth.write_bytes(b"not a torch file")
    with pytest.raises(ModelUnavailable, match="could not be read"):
        Classifier.load(tmp_path / "toy")
    meta.write_text("{ not json")
    with pytest.raises(ModelUnavailable, match="not a valid model description"):
        Classifier.load(tmp_path / "toy")


def test_model_paths_accept_any_spelling(tmp_path) -> None:
    expected = (tmp_path / "m.pth", tmp_path / "m.json")
    assert model_paths(tmp_path / "m") == expected
    assert model_paths(tmp_path / "m.pth") == expected
    assert model_paths(str(tmp_path / "m.json")) == expected


def test_watcher_swaps_in_a_new_model_and_keeps_the_old_on_failure(tmp_path) -> None:
    watcher = ModelWatcher(tmp_path / "m", embedder="dlib", dim=8, interval=0)
    assert watcher.current() is None and "No celebrity model" in (watcher.error or "")
    toy_classifier(["A", "B"]).save(tmp_path / "m")
    assert watcher.current().classes == ["A", "B"]
    toy_classifier(["A", "B", "C"]).save(tmp_path / "m")
    os.utime(tmp_path / "m.json", ns=(1, 10**18))  # a distinct mtime even on coarse clocks
    assert watcher.current().classes == ["A", "B", "C"]
    (tmp_path / "m.json").write_text("{ broken")
    assert watcher.current().classes == ["A", "B", "C"]
    assert "not a valid model description" in (watcher.error or "")
