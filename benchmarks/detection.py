"""Face detection on hand-labelled photos: recall, false positives and time per photo.

Run: .venv/bin/python -m benchmarks.detection [--datasets ../shared/datasets] [--json]

The boxes are in tests/data/face_boxes.json: the photos that dependencies ship
(skimage's astronaut and cameraman, matplotlib's Grace Hopper), photos with no
face, a composed photo of two people, and the two group photos of
``datasets/groups`` where that folder exists. A found face counts for a labelled
one when their boxes overlap by an intersection over union of at least 0.3 (the
labelled faces of the group photos are 15 to 25 px tall, where a few pixels of
framing move the overlap a lot); every other found face is a false positive.
The detector is the engine's, built from the environment's settings.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import matplotlib.cbook
import numpy as np
import skimage.data
import skimage.util
from PIL import Image

from benchmarks.common import ROOT, median
from engine.config import Settings
from engine.faces import Face, FaceDetector

LABELS = ROOT / "tests" / "data" / "face_boxes.json"
DATASETS = ROOT.parent / "shared" / "datasets"
MIN_IOU = 0.3
Box = tuple[float, float, float, float]


@dataclasses.dataclass(frozen=True)
class Score:
    """How a detector did on one photo."""

    photo: str
    labelled: int
    found: int
    matched: int
    false_positives: int
    seconds: float

    @property
    def recall(self) -> float:
        return self.matched / self.labelled if self.labelled else 1.0


def iou(a: Box, b: Box) -> float:
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    if width <= 0 or height <= 0:
        return 0.0
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union


def matches(found: list[Box], labelled: list[Box], min_iou: float = MIN_IOU) -> int:
    """Labelled boxes matched one to one by found boxes, the best overlaps first."""
    pairs = sorted(
        ((iou(f, t), i, j) for i, f in enumerate(found) for j, t in enumerate(labelled)),
        reverse=True,
    )
    used_found: set[int] = set()
    used_label: set[int] = set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in used_found and j not in used_label:
            used_found.add(i)
            used_label.add(j)
    return len(used_label)


def load(name: str, datasets: Path) -> Image.Image | None:
    """A labelled photo by its name in face_boxes.json; None where its folder is absent."""
    source, _, item = name.partition(":")
    if source == "skimage":
        pixels = skimage.util.img_as_ubyte(getattr(skimage.data, item)())
        if pixels.ndim == 2:
            pixels = np.stack([pixels] * 3, axis=-1)
        return Image.fromarray(pixels[..., :3])
    if source == "matplotlib":
        with Image.open(matplotlib.cbook.get_sample_data(item)) as image:
            return image.convert("RGB")
    path = datasets / name
    if not path.exists():
        return None
    with Image.open(path) as image:
        return image.convert("RGB")


def two_people() -> tuple[Image.Image, list[Box]]:
    """The astronaut and Grace Hopper side by side: a photo of two people."""
    labels = json.loads(LABELS.read_text())["photos"]
    astronaut = load("skimage:astronaut", DATASETS)
    hopper = load("matplotlib:grace_hopper.jpg", DATASETS)
    assert astronaut is not None and hopper is not None
    canvas = Image.new("RGB", (1060, 600), (120, 130, 140))
    canvas.paste(astronaut, (0, 44))
    canvas.paste(hopper, (548, 0))
    (a,) = labels["skimage:astronaut"]["faces"]
    (h,) = labels["matplotlib:grace_hopper.jpg"]["faces"]
    boxes = [(a[0], a[1] + 44, a[2], a[3] + 44), (h[0] + 548, h[1], h[2] + 548, h[3])]
    return canvas, boxes


def labelled_photos(datasets: Path) -> Iterator[tuple[str, Image.Image, list[Box]]]:
    """(name, photo, labelled boxes) for every labelled photo that is here."""
    labels = json.loads(LABELS.read_text())
    for name, entry in labels["photos"].items():
        photo = load(name, datasets)
        if photo is not None:
            assert list(photo.size) == entry["size"], name
            yield name, photo, [tuple(b) for b in entry["faces"]]
    yield "composed:two_people", *two_people()
    for name in labels["no_faces"]:
        photo = load(name, datasets)
        if photo is not None:
            yield name, photo, []


def evaluate(
    detect: Callable[[Image.Image], list[Face]], datasets: Path = DATASETS, repeat: int = 1
) -> list[Score]:
    """``detect`` on every labelled photo, timed as the median of ``repeat`` calls."""
    scores = []
    for name, photo, boxes in labelled_photos(datasets):
        times = []
        for _ in range(repeat):
            start = time.perf_counter()
            faces = detect(photo)
            times.append(time.perf_counter() - start)
        found = [f.box for f in faces]
        matched = matches(found, boxes)
        scores.append(
            Score(name, len(boxes), len(found), matched, len(found) - matched, median(times))
        )
    return scores


def detector(settings: Settings) -> FaceDetector:
    return FaceDetector(
        max_side=settings.detect_max_side,
        min_face_size=settings.min_face_size,
        min_score=settings.min_face_score,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--repeat", type=int, default=3, help="timed calls per photo")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    found = detector(Settings.from_env())
    found.load()
    scores = evaluate(found.detect, args.datasets, args.repeat)
    if args.json:
        print(json.dumps([dataclasses.asdict(s) | {"recall": s.recall} for s in scores]))
        return
    print("  photo                              faces  found  recall  false+   ms")
    for s in scores:
        print(
            f"  {s.photo:<34} {s.labelled:>5} {s.found:>6}  {s.recall:6.1%}"
            f"  {s.false_positives:>5}  {s.seconds * 1000:5.0f}"
        )
    labelled = sum(s.labelled for s in scores)
    print(
        f"  all: {sum(s.matched for s in scores)}/{labelled} faces found,"
        f" {sum(s.false_positives for s in scores)} false positives"
    )


if __name__ == "__main__":
    main()
