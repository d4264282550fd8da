"""What training leaves beside the model: the report, its plots and the reference gallery."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from engine import images, render
from engine.celebrities import atomic_write, gallery_file_name
from engine.faces import Face

log = logging.getLogger(__name__)

THUMBNAIL = 160


def write_json(path: Path, data: Mapping[str, object]) -> None:
    atomic_write(path, lambda f: f.write(json.dumps(data, indent=1).encode() + b"\n"))


def atomic_text(path: Path, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


# --- plots ----------------------------------------------------------------------


def _pyplot() -> Any:  # matplotlib is optional at run time: plots are a nicety
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log.warning("matplotlib is not installed: no plots")
        return None
    return plt


def plot_confused(pairs: Sequence[Mapping[str, object]], path: Path) -> bool:
    """The pairs of people most often mixed up on the held-out photos, as a PNG bar chart."""
    plt = _pyplot()
    if plt is None or not pairs:
        return False
    pairs = list(pairs)[::-1]
    names = [f"{p['a']} / {p['b']}".replace("_", " ") for p in pairs]
    figure, axes = plt.subplots(figsize=(8, 0.32 * len(pairs) + 1.2), dpi=90)
    axes.barh(names, [int(p["errors"]) for p in pairs], color="tab:orange")  # type: ignore[call-overload]
    axes.set(xlabel="held-out photos answered with the other person", title="Most-confused pairs")
    axes.tick_params(axis="y", labelsize=8)
    return _save(figure, plt, path)


def _save(figure: Any, plt: Any, path: Path) -> bool:
    figure.tight_layout()
    atomic_write(path, lambda f: figure.savefig(f, format="png"))
    plt.close(figure)
    return True


# --- gallery --------------------------------------------------------------------


def representatives(
    vectors: np.ndarray, targets: np.ndarray, centroids: np.ndarray
) -> dict[int, int]:
    """For each class, the row whose embedding is nearest its centroid: its most typical face."""
    similarity = (vectors * centroids[targets]).sum(axis=1)
    best: dict[int, int] = {}
    for row, target in enumerate(targets):
        if target not in best or similarity[row] > similarity[best[target]]:
            best[int(target)] = row
    return best


def write_gallery(
    folder: Path,
    classes: Sequence[str],
    chosen: Mapping[int, tuple[Path, tuple[float, float, float, float]]],
) -> int:
    """One JPEG face thumbnail per person, named as Celebrities.reference_photo expects.

    The folder is built beside its final place and swapped in whole, so a
    running bot never sees it half written. Returns the number of thumbnails.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=folder.parent, prefix=folder.name + ".", suffix=".tmp"))
    written = 0
    try:
        for index, (path, box) in sorted(chosen.items()):
            tile = _thumbnail(path, box)
            if tile is not None:
                tile.save(scratch / f"{gallery_file_name(classes[index])}.jpg", "JPEG", quality=88)
                written += 1
        scratch.chmod(0o755)  # mkdtemp makes it private; the bot may run as another user
        old = folder.with_name(folder.name + ".old.tmp")
        if folder.exists():
            os.replace(folder, old)
        os.replace(scratch, folder)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return written


def _thumbnail(path: Path, box: tuple[float, float, float, float]) -> Image.Image | None:
    try:
        photo = images.decode(path.read_bytes(), max_bytes=1 << 28, max_pixels=100_000_000)
    except Exception as exc:  # the photo was readable a moment ago; a gap in the gallery is fine
        log.warning("no thumbnail from %s: %s", path, exc)
        return None
    tile = render.face_crop(photo, Face(box, 1.0, ()), margin=0.3)
    return tile.resize((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
