"""Faces the frame cuts, tilted or covered: how many the detector finds, with and without
the lower R-Net threshold for windows past the photo's edge (engine.faces.CUT_THRESHOLD).

Run: .venv/bin/python -m benchmarks.cut_faces [--lfw ../shared/datasets/lfw/images]
     [--people 150] [--cut none --cut 0.2 --cut 0.1 --cut 0]

One photo of each of ``--people`` LFW people drawn with a fixed seed, where the usual
detector finds a face within 30 px of the centre: that face's box is the label. Each
photo is then changed as a phone photo might be (cropped so the frame cuts the face,
turned, darkened, blurred, the mouth covered, the face filling the frame) and a face
counts as found when a box's centre lies in what is left of the label and its width is
0.4 to 2.5 times the label's. The last column counts the faces found, besides the
labelled one, in the unchanged photos: LFW photos often show other people, so each new
one is to be looked at, not counted as wrong.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from benchmarks.detection import DATASETS, Box
from engine.faces import Face, FaceDetector

Change = Callable[[Image.Image, Box], tuple[Image.Image, Box]]


def turned(degrees: float) -> Change:
    def change(photo: Image.Image, box: Box) -> tuple[Image.Image, Box]:
        centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
        return photo.rotate(degrees, Image.Resampling.BILINEAR, center=centre), box

    return change


def cut_off(photo: Image.Image, box: Box, fraction: float, side: str) -> tuple[Image.Image, Box]:
    """``photo`` cropped so that ``fraction`` of the face in ``box`` is outside it on
    ``side`` (left, right, top or bottom); and the part of the box still inside."""
    x1, y1, x2, y2 = box
    left, top, right, bottom = 0.0, 0.0, float(photo.width), float(photo.height)
    if side == "left":
        left = x1 + fraction * (x2 - x1)
    elif side == "right":
        right = x2 - fraction * (x2 - x1)
    elif side == "top":
        top = y1 + fraction * (y2 - y1)
    else:
        bottom = y2 - fraction * (y2 - y1)
    crop = tuple(round(v) for v in (left, top, right, bottom))
    visible = (
        max(x1, crop[0]) - crop[0],
        max(y1, crop[1]) - crop[1],
        min(x2, crop[2]) - crop[0],
        min(y2, crop[3]) - crop[1],
    )
    return photo.crop(crop), visible


def cut(fraction: float, side: str) -> Change:
    return lambda photo, box: cut_off(photo, box, fraction, side)


def then(first: Change, second: Change) -> Change:
    return lambda photo, box: second(*first(photo, box))


def covered(photo: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    """A dark oval over the mouth and chin, as a hand or a cup would be."""
    x1, y1, x2, y2 = box
    w, h = x2 - x1, y2 - y1
    photo = photo.copy()
    ImageDraw.Draw(photo).ellipse(
        (x1 + 0.2 * w, y1 + 0.55 * h, x1 + 0.8 * w, y2 + 0.2 * h), fill=(60, 40, 30)
    )
    return photo, box


def dark(photo: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    pixels = np.asarray(photo, np.float32) / 255
    return Image.fromarray((pixels**2.2 * 255 * 0.6).astype(np.uint8)), box


def blurred(photo: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    return photo.filter(ImageFilter.GaussianBlur(3)), box


def close_up(photo: Image.Image, box: Box) -> tuple[Image.Image, Box]:
    """The face filling a 400 px wide frame, the chin cut: a selfie's holder."""
    x1, y1, x2, y2 = box
    w = x2 - x1
    crop = (round(x1 - 0.1 * w), round(y1 - 0.25 * w), round(x2 + 0.1 * w), round(y2 - 0.15 * w))
    scale = 400 / (crop[2] - crop[0])
    out = photo.crop(crop).resize(
        (400, round((crop[3] - crop[1]) * scale)), Image.Resampling.BICUBIC
    )
    return out, (
        (x1 - crop[0]) * scale,
        max(0.0, (y1 - crop[1]) * scale),
        (x2 - crop[0]) * scale,
        min(float(out.height), (y2 - crop[1]) * scale),
    )


CHANGES: dict[str, Change] = {
    "as it is": lambda photo, box: (photo, box),
    "40% cut, left": cut(0.4, "left"),
    "30% cut, right": cut(0.3, "right"),
    "30% cut, bottom": cut(0.3, "bottom"),
    "turned 30": turned(30),
    "turned 45": turned(45),
    "turned 30, 30% cut": then(turned(30), cut(0.3, "right")),
    "mouth covered": covered,
    "dark": dark,
    "blurred": blurred,
    "close-up": close_up,
}


def found(faces: list[Face], box: Box) -> bool:
    width = box[2] - box[0]
    return any(
        box[0] <= f.center[0] <= box[2]
        and box[1] <= f.center[1] <= box[3]
        and 0.4 * width <= f.width <= 2.5 * width
        for f in faces
    )


def labelled(lfw: Path, people: int) -> list[tuple[Image.Image, Box]]:
    folders = sorted(p for p in lfw.iterdir() if p.is_dir())
    usual = FaceDetector(cut_threshold=None)
    photos = []
    for folder in random.Random(1).sample(folders, min(people, len(folders))):
        with Image.open(sorted(folder.glob("*.jpg"))[0]) as image:
            photo = image.convert("RGB")
        centre = (photo.width / 2, photo.height / 2)
        faces = usual.detect(photo)
        if faces:
            face = min(faces, key=lambda f: math.dist(f.center, centre))
            if math.dist(face.center, centre) < 30:
                photos.append((photo, face.box))
    return photos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DATASETS / "lfw" / "images")
    parser.add_argument("--people", type=int, default=150)
    parser.add_argument(
        "--cut", action="append", help="R-Net thresholds for cut windows; 'none': MTCNN's own"
    )
    args = parser.parse_args()
    if not args.lfw.is_dir():
        parser.error(f"no LFW photos at {args.lfw} (see ../shared/datasets/README.md)")
    photos = labelled(args.lfw, args.people)
    thresholds = [None if c == "none" else float(c) for c in args.cut or ["none", "0.1"]]
    print(f"{len(photos)} LFW faces; found with R-Net's threshold for cut windows at:")
    print(f"  {'change':<22}" + "".join(f"{t!s:>8}" for t in thresholds))
    detectors = [FaceDetector(cut_threshold=t) for t in thresholds]
    for name, change in CHANGES.items():
        changed = [change(photo, box) for photo, box in photos]
        counts = [sum(found(d.detect(p), b) for p, b in changed) for d in detectors]
        print(f"  {name:<22}" + "".join(f"{c:>8}" for c in counts))
    others = [sum(len(d.detect(p)) - 1 for p, _ in photos) for d in detectors]
    print(f"  {'other faces, as is':<22}" + "".join(f"{c:>8}" for c in others))


if __name__ == "__main__":
    main()
