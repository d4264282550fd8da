"""Reply pictures: the photo with numbered face boxes, and face-beside-celebrity collages."""

from __future__ import annotations

import io
from collections.abc import Sequence
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, ImageOps

from engine.faces import Face

# Colours that stay readable on light and dark photos.
_BOX = (255, 196, 0)
_INK = (20, 20, 20)
_PAPER = (250, 250, 250)
_TILE = 256
# Larger renders are scaled down: chats show pictures at a few hundred pixels anyway.
_MAX_SIDE = 1280


@cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def to_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    """Encode an RGB image as JPEG bytes."""
    buffer = io.BytesIO()
    # No optimize=True: its extra pass doubles the encoding time (6 ms to 3 ms for
    # 1280x960) for files under 1% smaller.
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def annotate(image: Image.Image, faces: Sequence[Face]) -> Image.Image:
    """A copy of the photo with a numbered box on each face, numbered from 1 in the given order."""
    scale = min(1.0, _MAX_SIDE / max(image.size))
    canvas = image.convert("RGB")
    if scale < 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        canvas = canvas.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    else:
        canvas = canvas.copy()
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    font = _font(max(14, round(max(canvas.size) / 30)))
    for number, face in enumerate(faces, start=1):
        x1, y1, x2, y2 = (v * scale for v in face.box)
        draw.rectangle((x1, y1, x2, y2), outline=_BOX, width=line)
        label = str(number)
        left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
        pad = line + 2
        tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
        tag_y = y1 - tag_h if y1 - tag_h >= 0 else y1
        draw.rectangle((x1, tag_y, x1 + tag_w, tag_y + tag_h), fill=_BOX)
        draw.text((x1 + pad - left, tag_y + pad - top), label, fill=_INK, font=font)
    return canvas


def face_crop(image: Image.Image, face: Face, margin: float = 0.35) -> Image.Image:
    """The face with some context around it, as a square tile."""
    x1, y1, x2, y2 = face.box
    side = max(x2 - x1, y2 - y1) * (1 + 2 * margin)
    cx, cy = face.center
    box = (round(cx - side / 2), round(cy - side / 2), round(cx + side / 2), round(cy + side / 2))
    # Bilinear with a reducing gap: 2 ms a tile where Lanczos takes 4.5, alike at this size.
    return image.crop(box).resize((_TILE, _TILE), Image.Resampling.BILINEAR, reducing_gap=2.0)


def collage(rows: Sequence[tuple[Image.Image, Path | Image.Image | None, str]]) -> Image.Image:
    """One row per face: the face, the celebrity's reference photo, and a caption under them.

    Args:
        rows: (face tile, reference photo or its path or None, caption). A row
            without a reference photo shows the face alone.
    """
    font = _font(22)
    caption_h = 36
    width = 2 * _TILE + 30
    canvas = Image.new("RGB", (width, len(rows) * (_TILE + caption_h + 10) + 10), _PAPER)
    draw = ImageDraw.Draw(canvas)
    y = 10
    for tile, reference, caption in rows:
        canvas.paste(ImageOps.fit(tile.convert("RGB"), (_TILE, _TILE)), (10, y))
        if reference is not None:
            ref = Image.open(reference) if isinstance(reference, Path) else reference
            canvas.paste(ImageOps.fit(ref.convert("RGB"), (_TILE, _TILE)), (20 + _TILE, y))
        draw.text((10, y + _TILE + 6), caption, fill=_INK, font=font)
        y += _TILE + caption_h + 10
    return canvas
