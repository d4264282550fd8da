"""The celebrities' reference pictures: a thumbnail built from the datasets, else a drawn card."""

from __future__ import annotations

import io
import logging
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageOps

from engine import cards
from engine.celebrities import gallery_file_name

log = logging.getLogger(__name__)

FOLDER = Path("run/references")  # where `python -m engine.reference_build` writes them
SIDE = 160  # thumbnails are this square; collages scale them to their tiles
TILE = 256


def file_name(label: str) -> str:
    """The thumbnail's file name for a dataset folder name ("José_María_Aznar.jpg"), the
    same in NAME.gallery/ as here."""
    return gallery_file_name(label) + ".jpg"


def find(label: str, folders: Sequence[Path | None]) -> Path | None:
    """The first folder's thumbnail for ``label`` (a dataset folder name), if any has one."""
    name = file_name(label)
    for folder in folders:
        if folder is not None and (folder / name).is_file():
            return folder / name
    return None


def picture(
    label: str, display_name: str, field: str, folders: Sequence[Path | None], size: int = TILE
) -> Image.Image:
    """The celebrity's reference photo, or a card with their name and field, ``size`` square.

    Args:
        label: the dataset folder name ("Jose_Maria_Aznar"), which names the thumbnail.
        display_name: the name as people write it ("José María Aznar"), for a card.
        field: what they are known for ("politics"), or "" when unknown.
        folders: where to look for thumbnails, first one first; None entries are skipped.
    """
    path = find(label, folders)
    if path is not None:
        try:
            with Image.open(path) as photo:
                return ImageOps.fit(photo.convert("RGB"), (size, size), Image.Resampling.LANCZOS)
        except (OSError, ValueError) as exc:  # a damaged thumbnail: the card still answers
            log.warning("unreadable reference photo %s: %s", path, exc)
    return cards.card(display_name or label.replace("_", " "), field, size)


def reference_jpeg(
    label: str, display_name: str, field: str, folders: Sequence[Path | None]
) -> bytes:
    """`picture` as JPEG bytes: the reference photo as it is on disk, else a drawn card."""
    path = find(label, folders)
    if path is not None:
        try:
            return path.read_bytes()
        except OSError as exc:
            log.warning("unreadable reference photo %s: %s", path, exc)
    buffer = io.BytesIO()
    picture(label, display_name, field, (), TILE).save(buffer, "JPEG", quality=90)
    return buffer.getvalue()
