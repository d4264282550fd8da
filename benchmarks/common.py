"""Helpers shared by the benchmarks: the repository on sys.path, test photos, timing."""

from __future__ import annotations

import io
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import matplotlib.cbook  # noqa: E402
import skimage.data  # noqa: E402
from PIL import Image  # noqa: E402


def hopper() -> Image.Image:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        return image.convert("RGB")


def astronaut() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


def jpeg(image: Image.Image, quality: int = 90) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def photo_1280x960() -> bytes:
    """Grace Hopper, 960 px tall, on a 1280x960 canvas: a phone-sized photo with one face."""
    face = hopper()
    face = face.resize((round(face.width * 960 / face.height), 960), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (1280, 960), (128, 140, 150))
    canvas.paste(face, ((1280 - face.width) // 2, 0))
    return jpeg(canvas)


def timed(function: Callable[[], object], repeat: int, warmup: int = 3) -> list[float]:
    """Seconds per call, for ``repeat`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
