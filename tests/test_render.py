"""The numbered photo: every number beside its own face, in crowds too."""

from __future__ import annotations

import numpy as np
from PIL import Image

from engine import render
from engine.faces import Face

YELLOW = np.array(render._BOX)


def tagged(canvas: Image.Image) -> np.ndarray:
    """Where the boxes and number tags are drawn."""
    pixels = np.asarray(canvas.convert("RGB")).astype(int)
    return np.abs(pixels - YELLOW).sum(axis=2) < 60


def test_a_crowd_of_small_faces_is_drawn_larger_with_numbers_that_keep_apart() -> None:
    photo = Image.new("RGB", (640, 405), (40, 90, 40))
    # 26 faces of 15 px in two rows, 24 px apart: a group photo like group_1.jpg.
    faces = [
        Face((20 + 24 * (i % 13) * 2, 100 + 60 * (i // 13), 35 + 24 * (i % 13) * 2,
              115 + 60 * (i // 13)), 0.99, ())
        for i in range(26)
    ]  # fmt: skip
    canvas = render.annotate(photo, faces)
    assert canvas.size == (1280, 810)  # enlarged so that a face is ~30 px
    scale = canvas.width / photo.width
    mask = tagged(canvas)
    # Each number's tag stays within its face's column: neighbours are left uncovered.
    for face in faces:
        _, y1, x2, _ = (round(v * scale) for v in face.box)
        gap = slice(x2 + 8, x2 + 8 + round(9 * scale))
        assert not mask[max(0, y1 - 40) : y1, gap].any()


def test_a_photo_of_large_faces_keeps_its_size() -> None:
    photo = Image.new("RGB", (512, 512), (40, 90, 40))
    canvas = render.annotate(photo, [Face((150, 80, 330, 300), 0.99, ())])
    assert canvas.size == (512, 512)
    assert tagged(canvas).any()
