"""Crowds in large photos: faces found, with and without the detector's second pass at
twice the size (FaceDetector.detect_many), and the time each takes.

Run: .venv/bin/python -m benchmarks.crowd_recall [--lfw ../shared/datasets/lfw/images]

Each photo is a 4:3 canvas of 30 LFW faces on a 6 x 5 grid (the middle 140 px of one
photo each of 30 people, drawn with a fixed seed), at 1280 and 2560 px, with the
faces at several sizes. 30 is fewer than the 40 answered, since a photo in which 40
faces were found is not detected again. A face's size is named by its tile's side
over 1.5 (MTCNN's boxes come out somewhat smaller), and it counts as found when a
box's centre is within 0.6 of that size of the tile's centre. Time: the median of 3
calls, wall clock.
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import median
from benchmarks.detection import DATASETS
from engine.faces import FaceDetector

SHAPES = [(1280, 16), (1280, 20), (1280, 24), (2560, 32), (2560, 40), (2560, 48), (2560, 80)]


def crowd(files: list[Path], side: int, face: int) -> tuple[Image.Image, list[tuple[float, float]]]:
    """The faces spread over a 6 x 5 grid of the photo, none near its edge."""
    tile = round(face * 1.5)
    photo = Image.new("RGB", (side, side * 3 // 4), (90, 100, 110))
    centres = []
    for index, path in enumerate(files):
        row, column = divmod(index, 6)
        centre = ((column + 0.5) * photo.width / 6, (row + 0.5) * photo.height / 5)
        with Image.open(path) as image:
            middle = image.convert("RGB").crop((55, 55, 195, 195))
        corner = (round(centre[0] - tile / 2), round(centre[1] - tile / 2))
        photo.paste(middle.resize((tile, tile), Image.Resampling.LANCZOS), corner)
        centres.append((corner[0] + tile / 2, corner[1] + tile / 2))
    return photo, centres


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DATASETS / "lfw" / "images")
    args = parser.parse_args()
    if not args.lfw.is_dir():
        parser.error(f"no LFW photos at {args.lfw} (see ../shared/datasets/README.md)")
    files = random.Random(3).sample(sorted(args.lfw.rglob("*.jpg")), 30)
    detectors = {"one pass": FaceDetector(again=False), "with the second": FaceDetector()}
    for detector in detectors.values():
        detector.load()
    print("  photo, face width      " + "".join(f"{name:>26}" for name in detectors))
    for side, face in SHAPES:
        photo, centres = crowd(files, side, face)
        cells = []
        for detector in detectors.values():
            times = []
            for _ in range(3):
                start = time.perf_counter()
                found = detector.detect(photo)
                times.append(time.perf_counter() - start)
            hits = sum(any(math.dist(f.center, c) < 0.6 * face for f in found) for c in centres)
            cells.append(
                f"{hits}/{len(centres)}, {len(found)} boxes, {median(times) * 1000:.0f} ms"
            )
        print(f"  {side} px, {face} px faces  " + "".join(f"{c:>26}" for c in cells))


if __name__ == "__main__":
    main()
