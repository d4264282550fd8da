"""Drawn name cards: the celebrity's picture when no reference photo is at hand."""

from __future__ import annotations

import colorsys
import importlib.util
from functools import cache
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

# Each field's colour, chosen to stay distinct from one another and to carry white text.
FIELD_COLOURS = {
    "film": (122, 47, 143),
    "music": (0, 121, 134),
    "sport": (38, 128, 56),
    "politics": (38, 70, 140),
    "royalty": (140, 32, 64),
    "business": (70, 82, 96),
    "science": (20, 104, 180),
    "other": (160, 88, 30),
}
_NO_FIELD = (88, 88, 110)

FIELD_LABELS = {
    "en": {
        "film": "Film & TV",
        "music": "Music",
        "sport": "Sport",
        "politics": "Politics",
        "royalty": "Royalty",
        "business": "Business",
        "science": "Science",
        "other": "Public figure",
    },
    "es": {
        "film": "Cine y TV",
        "music": "Música",
        "sport": "Deporte",
        "politics": "Política",
        "royalty": "Realeza",
        "business": "Empresa",
        "science": "Ciencia",
        "other": "Personaje público",
    },
}

# DejaVu draws every Latin, Greek and Cyrillic letter with its accents, where
# Pillow's built-in font has no accented letters at all. matplotlib ships it;
# Linux systems usually have it too.
_FONT_DIRS = (
    "/usr/share/fonts/truetype/dejavu",
    "/usr/share/fonts/dejavu",
    "/usr/share/fonts/TTF",
    "/usr/local/share/fonts",
)


def _font_file(bold: bool) -> Path | None:
    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    spec = importlib.util.find_spec("matplotlib")  # found without importing it
    places = [
        Path(p) / "mpl-data" / "fonts" / "ttf"
        for p in (spec and spec.submodule_search_locations) or ()
    ]
    places += [Path(d) for d in _FONT_DIRS]
    return next((p / name for p in places if (p / name).is_file()), None)


@cache
def font(size: int, bold: bool = False) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """A sans-serif font of ``size`` pixels that has accented letters where one is installed."""
    path = _font_file(bold)
    if path is not None:
        return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size=size)


_SUFFIXES = {"jr", "sr", "ii", "iii", "iv", "v", "junior", "senior"}


def initials(name: str) -> str:
    """Up to two capital letters for a name: first and last word ("José María Aznar": "JA")."""
    words = [w for w in name.replace("_", " ").replace("-", " ").split() if w[:1].isalpha()]
    # "Queen Elizabeth II" is QE, "Martin Luther King Jr." MK.
    while len(words) > 1 and words[-1].strip(".,").lower() in _SUFFIXES:
        words.pop()
    if not words:
        return "?"
    letters = words[0][0] + (words[-1][0] if len(words) > 1 else "")
    return letters.upper()


def _shade(colour: tuple[int, int, int], lightness: float) -> tuple[int, int, int]:
    hue, light, sat = colorsys.rgb_to_hls(*(c / 255 for c in colour))
    r, g, b = colorsys.hls_to_rgb(hue, max(0.0, min(1.0, light * lightness)), sat)
    return round(r * 255), round(g * 255), round(b * 255)


def _wrap(text: str, width: int, size: int, lines: int) -> tuple[list[str], int]:
    """The text in at most ``lines`` lines no wider than ``width``, and the font size it takes."""
    while True:
        face = font(size, bold=True)
        rows: list[str] = []
        for word in text.split():
            if rows and face.getlength(f"{rows[-1]} {word}") <= width:
                rows[-1] += f" {word}"
            else:
                rows.append(word)
        fits = all(face.getlength(r) <= width for r in rows)
        if (fits and len(rows) <= lines) or size <= 10:
            return rows, size
        size -= 1


def name_layout(name: str, field: str = "", size: int = 256) -> list[tuple[str, int, int, int]]:
    """Where a card writes the name: (line, x, y of its middle, font size) for each line,
    in bold, in at most two lines that fit the card's width."""
    unit = size / 256
    bottom = size - round((48 if field in FIELD_COLOURS else 16) * unit)
    rows, points = _wrap(
        " ".join(name.split()) or "?", size - round(24 * unit), round(26 * unit), 2
    )
    line_h = round(points * 1.2)
    top = round(144 * unit)
    y = top + max(0, (bottom - top - line_h * len(rows)) // 2)
    return [(row, size // 2, y + line_h * i + line_h // 2, points) for i, row in enumerate(rows)]


def card(name: str, field: str = "", size: int = 256, lang: str = "en") -> Image.Image:
    """A square picture with the person's initials, display name and field.

    Args:
        name: the display name, as people write it ("José María Aznar").
        field: one of FIELD_COLOURS, or "" when unknown (then no field is written).
        size: the side in pixels.
        lang: the language of the field's label, "en" or "es".
    """
    base = FIELD_COLOURS.get(field, _NO_FIELD)
    top, bottom = _shade(base, 1.25), _shade(base, 0.6)
    gradient = Image.linear_gradient("L").resize((size, size))
    canvas = Image.composite(
        Image.new("RGB", (size, size), bottom), Image.new("RGB", (size, size), top), gradient
    )
    draw = ImageDraw.Draw(canvas)
    unit = size / 256

    # A disc with the initials, where a face would be.
    radius = round(54 * unit)
    cx, cy = size // 2, round(78 * unit)
    draw.ellipse(
        (cx - radius, cy - radius, cx + radius, cy + radius),
        fill=_shade(base, 1.6),
        outline=(255, 255, 255),
        width=max(2, round(3 * unit)),
    )
    draw.text(
        (cx, cy),
        initials(name),
        fill=(255, 255, 255),
        font=font(round(46 * unit), bold=True),
        anchor="mm",
    )

    label = FIELD_LABELS.get(lang, FIELD_LABELS["en"]).get(field, "")
    for row, x, y, points in name_layout(name, field, size):
        draw.text((x, y), row, fill=(255, 255, 255), font=font(points, bold=True), anchor="mm")

    if label:
        small = font(round(15 * unit))
        text = label.upper()
        width = draw.textlength(text, font=small) + round(20 * unit)
        y0, y1 = size - round(38 * unit), size - round(14 * unit)
        draw.rounded_rectangle(
            (cx - width / 2, y0, cx + width / 2, y1), radius=(y1 - y0) // 2, fill=(255, 255, 255)
        )
        draw.text((cx, (y0 + y1) / 2), text, fill=bottom, font=small, anchor="mm")
    return canvas
