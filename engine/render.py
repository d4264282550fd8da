"""Reply pictures: the photo with numbered face boxes, and face-beside-celebrity collages."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont, ImageOps

from engine import cards
from engine.faces import Face

# Colours that stay readable on light and dark photos.
_BOX = (255, 196, 0)
_INK = (20, 20, 20)
_PAPER = (250, 250, 250)
_BACK = (228, 230, 235)
_TILE = 256
# Larger renders are scaled down: chats show pictures at a few hundred pixels anyway.
_MAX_SIDE = 1280
# The width a face is drawn at, at least, where the photo can be enlarged to show it.
_LEGIBLE = 40


def to_jpeg(image: Image.Image, quality: int = 85) -> bytes:
    """Encode an RGB image as JPEG bytes."""
    buffer = io.BytesIO()
    # No optimize=True: its extra pass doubles the encoding time (6 ms to 3 ms for
    # 1280x960) for files under 1% smaller.
    image.save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def annotate(image: Image.Image, faces: Sequence[Face]) -> Image.Image:
    """A copy of the photo with a numbered box on each face, numbered from 1 in the given order.

    A crowd of small faces is drawn on an enlarged copy (up to 1280 px), with numbers
    sized to the faces, so that each number stays beside its own face and readable."""
    widths = sorted(f.box[2] - f.box[0] for f in faces)
    typical = widths[len(widths) // 2] if widths else 0.0
    # Enlarge until the typical face is _LEGIBLE px wide, never past _MAX_SIDE.
    wanted = _LEGIBLE / typical if typical else 1.0
    scale = min(_MAX_SIDE / max(image.size), max(1.0, wanted))
    canvas = image.convert("RGB")
    if scale != 1.0:
        size = (round(image.width * scale), round(image.height * scale))
        canvas = canvas.resize(size, Image.Resampling.BILINEAR, reducing_gap=2.0)
    else:
        canvas = canvas.copy()
    draw = ImageDraw.Draw(canvas)
    line = max(2, round(max(canvas.size) / 300))
    size = round(max(canvas.size) / 30)
    if typical:  # a number about as tall as half a face, so that crowds stay apart
        size = min(size, round(typical * scale * 0.5))
    font = cards.font(max(12, size), bold=True)
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
    """The face with some context around it, as a square tile.

    The square stays inside the photo wherever the photo allows: a face near an edge
    is shown off-centre, and one that fills the photo with less context, rather than
    framed in black. Only a face larger than the photo itself leaves a border, in the
    collage's own colour.
    """
    x1, y1, x2, y2 = face.box
    face_side = max(x2 - x1, y2 - y1)
    side = min(face_side * (1 + 2 * margin), max(face_side, min(image.size)))
    cx, cy = face.center
    left = _within(cx - side / 2, image.width - side)
    top = _within(cy - side / 2, image.height - side)
    box = (round(left), round(top), round(left + side), round(top + side))
    if box[0] >= 0 and box[1] >= 0 and box[2] <= image.width and box[3] <= image.height:
        tile = image.crop(box)
    else:
        tile = Image.new("RGB", (box[2] - box[0], box[3] - box[1]), _BACK)
        tile.paste(image.convert("RGB"), (-box[0], -box[1]))
    # Bilinear with a reducing gap: 2 ms a tile where Lanczos takes 4.5, alike at this size.
    return tile.resize((_TILE, _TILE), Image.Resampling.BILINEAR, reducing_gap=2.0)


def _within(start: float, last: float) -> float:
    """``start`` moved into 0..``last``; where ``last`` < 0 (the square is larger than
    the photo), the overflow is shared equally by both sides."""
    return last / 2 if last < 0 else min(max(start, 0.0), last)


def _fit_text(
    draw: ImageDraw.ImageDraw,
    text: str,
    width: float,
    face: ImageFont.FreeTypeFont | ImageFont.ImageFont,
) -> str:
    """The text, cut short with an ellipsis where it is wider than ``width``."""
    if draw.textlength(text, font=face) <= width:
        return text
    while text and draw.textlength(text + "…", font=face) > width:
        text = text[:-1]
    return text.rstrip() + "…"


def collage(rows: Sequence[tuple[Image.Image, Image.Image, str]]) -> Image.Image:
    """One pair per face: the face, the celebrity's picture beside it, a caption under them.

    Pairs go one under another, in two or three columns from four pairs up, so
    that a group photo's collage keeps a shape chats show as a photo.

    Args:
        rows: (face tile, the celebrity's reference photo or drawn card, caption).
    """
    columns = 1 if len(rows) <= 3 else 2 if len(rows) <= 8 else 3
    gap, pad, caption_h = 6, 12, 40
    cell_w, cell_h = 2 * _TILE + gap + 2 * pad, _TILE + caption_h + 2 * pad
    lines = -(-len(rows) // columns)
    canvas = Image.new("RGB", (columns * (cell_w + pad) + pad, lines * (cell_h + pad) + pad), _BACK)
    draw = ImageDraw.Draw(canvas)
    face = cards.font(22, bold=True)
    for index, (tile, reference, caption) in enumerate(rows):
        x = pad + (index % columns) * (cell_w + pad)
        y = pad + (index // columns) * (cell_h + pad)
        draw.rounded_rectangle((x, y, x + cell_w - 1, y + cell_h - 1), radius=10, fill=_PAPER)
        canvas.paste(ImageOps.fit(tile.convert("RGB"), (_TILE, _TILE)), (x + pad, y + pad))
        right = ImageOps.fit(reference.convert("RGB"), (_TILE, _TILE))
        canvas.paste(right, (x + pad + _TILE + gap, y + pad))
        text = _fit_text(draw, caption, cell_w - 2 * pad, face)
        draw.text(
            (x + pad, y + pad + _TILE + caption_h // 2 + 2), text, fill=_INK, font=face, anchor="lm"
        )
    return canvas
