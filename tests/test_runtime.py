"""engine.runtime: the exported networks give the torch ports' outputs, the export is
redone when the weights change or it was cut short, and torch takes over when ONNX
Runtime cannot run them."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import mtcnn_nets, runtime
from engine.config import Settings
from engine.dlib_resnet import load_dlib_resnet
from engine.pipeline import Pipeline
from tests.conftest import ROOT


def torch_modules() -> dict[str, torch.nn.Module]:
    pnet, rnet, onet = mtcnn_nets.networks()
    dlib = load_dlib_resnet(runtime.sources()["dlib"])
    return {"pnet": pnet, "rnet": rnet, "onet": onet, "dlib": dlib}


# Batch sizes and image sizes other than the export's own (engine/onnx_export.py).
SHAPES = {
    "pnet": [(1, 3, 12, 12), (3, 3, 37, 41), (2, 3, 120, 90)],
    "rnet": [(1, 3, 24, 24), (7, 3, 24, 24)],
    "onet": [(1, 3, 48, 48), (5, 3, 48, 48)],
    "dlib": [(1, 3, 150, 150), (3, 3, 150, 150)],
}


def test_each_exported_network_gives_its_torch_ports_outputs() -> None:
    files = runtime.onnx_files()
    modules = torch_modules()
    random = np.random.default_rng(0)
    for name, shapes in SHAPES.items():
        exported, ported = runtime.OnnxNet(files[name]), runtime.TorchNet(modules[name], "cpu")
        for shape in shapes:
            x = random.uniform(-1, 1, shape).astype(np.float32)
            if name == "dlib":
                x = (x + 1) * 127.5  # it takes pixel values
            outputs = exported(x), ported(x)
            assert len(outputs[0]) == len(outputs[1]), name
            for a, b in zip(*outputs, strict=True):
                assert a.shape == b.shape, (name, shape)
                assert float(np.abs(a - b).max()) < 2e-5, (name, shape)


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[Path]:
    """A cache folder of the test's own, as LOOKALIKE_CACHE would name it."""
    runtime.configure_cache(tmp_path / "cache")
    yield tmp_path / "cache"
    runtime.configure_cache(None)


def test_the_export_folder_follows_the_weights_not_their_place(tmp_path: Path, cache: Path) -> None:
    here, there = tmp_path / "one-virtualenv" / "pnet.pt", tmp_path / "another" / "pnet.pt"
    for weights in (here, there):
        weights.parent.mkdir()
        weights.write_bytes(b"the same weights")
    first = runtime.export_folder({"pnet": here})
    assert first.parent == cache / "onnx"
    assert runtime.export_folder({"pnet": there}) == first  # the same package elsewhere
    there.write_bytes(b"other weights")
    assert runtime.export_folder({"pnet": there}) != first


def test_the_cache_is_lookalike_cache_else_the_users(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    try:
        none = tmp_path / "no.env"
        Pipeline(Settings.from_env({"LOOKALIKE_CACHE": str(tmp_path / "mine")}, dotenv=none))
        assert runtime.cache_root() == tmp_path / "mine"
        Pipeline(Settings.from_env({}, dotenv=none))
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
        assert runtime.cache_root() == tmp_path / "xdg" / "lookalike"
    finally:
        runtime.configure_cache(None)


def test_an_export_cut_short_is_done_again(cache: Path) -> None:
    folder = runtime.export_folder()
    folder.mkdir(parents=True)
    (folder / "pnet.onnx").write_bytes(b"half a file")  # and no `complete` marker
    files = runtime.onnx_files()
    assert (folder / "complete").is_file()
    assert sorted(p.name for p in folder.iterdir()) == [
        "complete",
        "dlib.onnx",
        "onet.onnx",
        "pnet.onnx",
        "rnet.onnx",
    ]
    (offsets, probs) = runtime.OnnxNet(files["pnet"])(np.zeros((1, 3, 12, 12), np.float32))
    assert offsets.shape == (1, 4, 1, 1) and probs.shape == (1, 2, 1, 1)


def test_torch_runs_the_networks_when_the_cache_is_unusable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder should be")
    pnet = mtcnn_nets.networks()[0]
    runtime.configure_cache(blocker)
    try:
        with caplog.at_level(logging.WARNING, logger="engine.runtime"):
            (net,) = runtime.networks(("pnet",), "cpu", lambda: (pnet,))
    finally:
        runtime.configure_cache(None)
    assert isinstance(net, runtime.TorchNet)
    assert "running the networks in torch" in caplog.text
    offsets, probs = net(np.zeros((1, 3, 12, 12), np.float32))
    assert offsets.shape == (1, 4, 1, 1) and probs.shape == (1, 2, 1, 1)


def test_the_device_is_chosen_as_the_machine_allows_and_torch_only_for_a_gpu() -> None:
    code = (
        "import sys; from engine import runtime;"
        "print(runtime.resolve_device('auto'), 'torch' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    if not runtime._gpu_driver():  # as on this project's machines and CI
        assert done.stdout.split() == ["cpu", "False"]
        with pytest.raises(ValueError, match="no CUDA device"):
            runtime.resolve_device("cuda")
    assert runtime.resolve_device(" CPU ") == "cpu"
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        runtime.resolve_device("tpu")


def test_the_thread_count_is_every_usable_core_by_default() -> None:
    try:
        assert runtime.configure_threads(0) == len(os.sched_getaffinity(0))
        assert runtime.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        runtime.configure_threads(0)
