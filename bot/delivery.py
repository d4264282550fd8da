"""What the platforms accept in one message, and replies cut to fit: shared by the adapters."""

from __future__ import annotations

import io
import logging

from PIL import Image

log = logging.getLogger(__name__)


def split_text(text: str, limit: int) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at line ends where possible.

    An empty text is one empty piece."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        cut = cut if cut > 0 else limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    return [*pieces, text] if text or not pieces else pieces


def chunks(items: list, size: int) -> list[list]:
    """``items`` in consecutive groups of at most ``size``."""
    return [items[i : i + size] for i in range(0, len(items), size)]


def picture_size(data: bytes) -> tuple[int, int] | None:
    """A picture's (width, height), read from its header; None when it cannot be read."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as exc:  # our own JPEGs: a failure here is a bug worth a line
        log.warning("could not read a reply picture's size: %r", exc)
        return None
