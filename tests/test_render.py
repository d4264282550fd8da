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


def test_a_face_tile_stays_inside_the_photo_instead_of_framing_it_in_black() -> None:
    """A tight crop (the face fills the photo, as a phone selfie or a pins crop) and a
    face at the edge are shown with the photo's own pixels, never a black border."""
    photo = Image.new("RGB", (200, 240), (200, 150, 120))
    for box in ((20, 30, 180, 210), (0, 100, 60, 170), (150, 0, 200, 50)):
        tile = np.asarray(render.face_crop(photo, Face(box, 0.99, ()))).astype(int)
        assert tile.shape == (render._TILE, render._TILE, 3)
        assert (np.abs(tile - (200, 150, 120)).sum(axis=2) < 6).all(), box
    # The square keeps the face whole and as centred as the photo allows.
    x1, y1, x2, y2 = 150, 0, 200, 50
    marked = photo.copy()
    marked.paste((0, 0, 255), (x1, y1, x2, y2))
    blue = np.asarray(render.face_crop(marked, Face((x1, y1, x2, y2), 0.99, ())))[..., 2] > 200
    rows, cols = np.flatnonzero(blue.any(1)), np.flatnonzero(blue.any(0))
    assert rows[0] == 0 and cols[-1] == render._TILE - 1  # pushed into the corner
    assert 0.55 < len(cols) / render._TILE < 0.62  # 50 px of an 85 px square
    # Only a face larger than the photo leaves a border, in the collage's colour.
    small = Image.new("RGB", (100, 60), (200, 150, 120))
    tile = np.asarray(render.face_crop(small, Face((-10, -30, 110, 90), 0.99, ())))
    assert tuple(tile[2, 128]) == render._BACK and tuple(tile[128, 128]) == (200, 150, 120)
