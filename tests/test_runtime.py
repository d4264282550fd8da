"""engine.runtime: the exported networks give the torch ports' outputs, the export is
redone when the weights change or it was cut short, and torch takes over when ONNX
Runtime cannot run them."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from engine import mtcnn_nets, runtime
from engine.config import Settings
from engine.dlib_resnet import load_dlib_resnet


def torch_modules() -> dict[str, torch.nn.Module]:
    pnet, rnet, onet = mtcnn_nets.networks()
    dlib = load_dlib_resnet(runtime._sources()["dlib"])
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


def test_the_cache_folder_follows_lookalike_cache_and_the_weights_not_their_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(b"one")
    monkeypatch.setattr(runtime, "_sources", lambda: {"pnet": weights})
    monkeypatch.setattr(runtime, "_cache", None)
    runtime.configure_cache(Settings.from_env({"LOOKALIKE_CACHE": str(tmp_path / "cache")}).cache)
    first = runtime.export_folder()
    assert first.parent == tmp_path / "cache" / "onnx"
    assert runtime.export_folder() == first
    elsewhere = tmp_path / "another-virtualenv" / "weights.pt"
    elsewhere.parent.mkdir()
    elsewhere.write_bytes(b"one")
    monkeypatch.setattr(runtime, "_sources", lambda: {"pnet": elsewhere})
    assert runtime.export_folder() == first  # the same package elsewhere: the same export
    elsewhere.write_bytes(b"other weights")
    assert runtime.export_folder() != first
    runtime.configure_cache(None)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runtime.export_folder().parents[1] == tmp_path / "xdg" / "lookalike"


def test_an_export_cut_short_is_done_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_cache", tmp_path)
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


def test_torch_runs_the_networks_when_onnx_runtime_cannot(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def unwritable() -> dict[str, Path]:
        raise PermissionError("the cache folder is read-only")

    monkeypatch.setattr(runtime, "onnx_files", unwritable)
    pnet = mtcnn_nets.networks()[0]
    with caplog.at_level(logging.WARNING, logger="engine.runtime"):
        (net,) = runtime.networks(("pnet",), "cpu", lambda: (pnet,))
    assert isinstance(net, runtime.TorchNet)
    assert "read-only" in caplog.text
    offsets, probs = net(np.zeros((1, 3, 12, 12), np.float32))
    assert offsets.shape == (1, 4, 1, 1) and probs.shape == (1, 2, 1, 1)


def test_the_cpu_is_chosen_without_importing_torch_when_there_is_no_driver(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(runtime, "_gpu_driver", lambda: False)
    monkeypatch.setattr(runtime, "load_torch", lambda: pytest.fail("torch was loaded"))
    assert runtime.resolve_device("auto") == "cpu"
    assert runtime.resolve_device(" CPU ") == "cpu"
    with pytest.raises(ValueError, match="no CUDA device"):
        runtime.resolve_device("cuda")
    with pytest.raises(ValueError, match="auto, cpu or cuda"):
        runtime.resolve_device("tpu")


def test_the_thread_count_is_every_usable_core_by_default() -> None:
    try:
        assert runtime.configure_threads(0) == len(os.sched_getaffinity(0))
        assert runtime.configure_threads(1) == 1
        assert torch.get_num_threads() == 1
    finally:
        runtime.configure_threads(0)
