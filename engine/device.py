"""Choose the torch device and the CPU thread count once per process."""

from __future__ import annotations

import logging
import os

import torch

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    """The torch device for a setting: ``auto`` is the GPU when usable, else the CPU.

    Raises:
        ValueError: for an unknown name, or ``cuda`` on a machine without one.
    """
    name = name.strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError("LOOKALIKE_DEVICE=cuda, but no CUDA device is available")
        return torch.device(name)
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"LOOKALIKE_DEVICE must be auto, cpu or cuda, not {name!r}")


def configure_threads(threads: int) -> int:
    """Set torch's intra-op threads: ``threads``, or one per usable core when 0."""
    if threads <= 0:
        threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return threads
