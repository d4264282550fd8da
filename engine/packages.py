"""Folders and data files inside installed packages, found without importing the packages.

Importing is what is avoided: face_recognition_models imports pkg_resources, which
setuptools 82 removed, so it cannot be imported on current set-ups (its files are
still there); torchvision and facenet-pytorch import torchvision's datasets and
models and torch's compiler, 1.4 s of every start, where only their files are needed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.errors import ModelError


def package_folder(package: str, missing: type[ModelError] = ModelError) -> Path:
    """The folder of an installed package; ``missing`` is raised where it is not installed."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise missing(f"The Python package {package} is not installed.")
    return Path(next(iter(spec.submodule_search_locations)))


def package_file(package: str, *parts: str, missing: type[ModelError] = ModelError) -> Path:
    """A data file inside an installed package; ``missing`` is raised where there is none."""
    path = package_folder(package, missing).joinpath(*parts)
    if not path.is_file():
        raise missing(f"{package} has no file {'/'.join(parts)}.")
    return path
