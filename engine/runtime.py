"""Where the networks run: ONNX Runtime on the CPU, torch on a GPU.

On the CPU the four networks (MTCNN's P-Net, R-Net and O-Net, and dlib's ResNet) run
as ONNX Runtime sessions, exported once from their torch ports (engine/onnx_export.py)
into a cache folder. Detecting and embedding then never import torch, whose import
alone took 1.3-2.1 s of every ``python -m engine`` run, as long as the work on 25
photos; ``python -c "import onnxruntime"`` took 0.17-0.39 s (the second and third of
three runs, 2026-12-04). dlib's ResNet runs faster in ONNX Runtime too (2.8-3.0 against
4.0-4.4 ms a face), MTCNN's networks as fast (benchmarks/README.md).

On a GPU the torch modules run as before. When ONNX Runtime is missing or the export
fails, the CPU falls back to torch, with a warning. Nothing here imports torch unless
a GPU or the fallback needs it.
"""

from __future__ import annotations

import ctypes.util
import hashlib
import importlib.metadata
import json
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.packages import package_file

log = logging.getLogger(__name__)

Net = Callable[[np.ndarray], tuple[np.ndarray, ...]]

NETWORKS = ("pnet", "rnet", "onet", "dlib")
# Raised whenever the export's graphs change, so that old exports are not reused.
EXPORT_VERSION = 1

_threads = 0
_cache: Path | None = None
_lock = threading.Lock()


def sources() -> dict[str, Path]:
    """The weight files each exported network comes from."""
    return {
        **{n: package_file("facenet_pytorch", "data", f"{n}.pt") for n in ("pnet", "rnet", "onet")},
        "dlib": package_file(
            "face_recognition_models", "models", "dlib_face_recognition_resnet_model_v1.dat"
        ),
    }


def configure_cache(folder: Path | None) -> None:
    """Keep exports in ``folder`` (``LOOKALIKE_CACHE``); None: the user's cache folder."""
    global _cache
    _cache = folder


def cache_root() -> Path:
    """Where exports live: the configured folder, else the user's cache folder. They are
    derived from installed packages, like pip's cache, and shared by every checkout."""
    if _cache is not None:
        return _cache.expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "lookalike"


def export_folder(weights: dict[str, Path] | None = None) -> Path:
    """The folder for the exports of the weights installed now: named by a hash of the
    versions of the packages that ship them, the files' names and sizes, and the
    export's version. So every checkout and virtualenv with the same packages shares
    one export (24 MB); the files' contents would cost 37 ms a start to hash."""
    stamp: list[object] = [EXPORT_VERSION]
    for package in ("facenet-pytorch", "face_recognition_models"):
        try:
            stamp.append([package, importlib.metadata.version(package)])
        except importlib.metadata.PackageNotFoundError:
            stamp.append([package, None])
    for name, path in sorted((weights or sources()).items()):
        stamp.append([name, path.name, path.stat().st_size])
    key = hashlib.sha256(json.dumps(stamp).encode()).hexdigest()[:16]
    return cache_root() / "onnx" / key


def onnx_files() -> dict[str, Path]:
    """The ONNX file of each network, exported now when there is none yet.

    Raises:
        ImportError, OSError, RuntimeError: when it cannot be exported.
    """
    folder = export_folder()
    files = {name: folder / f"{name}.onnx" for name in NETWORKS}
    with _lock:
        if not (folder / "complete").is_file():
            from engine import onnx_export

            log.info("exporting the networks for ONNX Runtime into %s (once)", folder)
            onnx_export.export(folder, sources())
    return files


def configure_threads(threads: int) -> int:
    """The CPU threads the networks use: ``threads``, or one per usable core when 0.
    Applied to torch too when it is loaded."""
    global _threads
    if threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    _threads = threads
    if "torch" in sys.modules:
        _torch_threads(sys.modules["torch"])
    return threads


def threads() -> int:
    """The CPU threads configured, every usable core when none were."""
    return _threads or configure_threads(0)


def _torch_threads(torch: Any) -> None:
    if _threads and torch.get_num_threads() != _threads:
        torch.set_num_threads(_threads)


def load_torch() -> Any:
    """``import torch``, with the thread count set."""
    import torch

    _torch_threads(torch)
    return torch


def _gpu_driver() -> bool:
    """Whether an NVIDIA driver is installed: without one no GPU can be used, and torch
    need not be imported to find that out."""
    return Path("/proc/driver/nvidia/gpus").is_dir() or ctypes.util.find_library("cuda") is not None


def _cuda() -> bool:
    """Whether torch can use a CUDA device; torch is imported only where a driver is."""
    return _gpu_driver() and load_torch().cuda.is_available()


def resolve_device(name: str) -> str:
    """The device for a setting: ``auto`` is the GPU when usable, else the CPU.

    Raises:
        ValueError: for an unknown name, or ``cuda`` on a machine without one.
    """
    name = name.strip().lower()
    if name == "auto":
        return "cuda" if _cuda() else "cpu"
    if name.startswith("cuda"):
        if not _cuda():
            raise ValueError("LOOKALIKE_DEVICE=cuda, but no CUDA device is available")
        return name
    if name == "cpu":
        return "cpu"
    raise ValueError(f"LOOKALIKE_DEVICE must be auto, cpu or cuda, not {name!r}")


class OnnxNet:
    """An ONNX Runtime session as a callable: an (N, ...) float32 array in, its outputs out."""

    def __init__(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads()
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # warnings about unused initialisers are noise
        # Spinning threads wait for work by burning a core, which MTCNN's steps between
        # the networks need: without it the CLI over 25 photos took 0.68x the CPU time
        # and 0.85x the wall time (benchmarks/README.md).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(self.session.run(None, {self.input: np.ascontiguousarray(x, np.float32)}))


class TorchNet:
    """A torch module as the same kind of callable, run on ``device`` under inference mode."""

    def __init__(self, module: Any, device: str) -> None:
        torch = load_torch()
        self.torch = torch
        self.device = torch.device(device)
        self.module = module.to(self.device, memory_format=torch.channels_last).eval()

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, ...]:
        torch = self.torch
        with torch.inference_mode():
            batch = torch.from_numpy(np.ascontiguousarray(x, np.float32)).to(self.device)
            out = self.module(batch.contiguous(memory_format=torch.channels_last))
            outputs = out if isinstance(out, tuple) else (out,)
            return tuple(o.float().cpu().numpy() for o in outputs)


def networks(names: tuple[str, ...], device: str, torch_modules: Callable[[], tuple]) -> tuple:
    """The networks ``names`` as callables: ONNX Runtime sessions on the CPU, else (or
    when ONNX Runtime cannot run them) ``torch_modules()`` on ``device``."""
    if device == "cpu":
        try:
            files = onnx_files()
            return tuple(OnnxNet(files[name]) for name in names)
        except Exception as exc:  # a missing package, an unwritable cache, a failed export
            log.warning("ONNX Runtime is unusable (%s); running the networks in torch", exc)
    return tuple(TorchNet(module, device) for module in torch_modules())
