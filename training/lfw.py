"""LFW's layout and its pair lists (View 1: pairsDevTrain.txt and pairsDevTest.txt)."""

from __future__ import annotations

import dataclasses
from pathlib import Path


@dataclasses.dataclass(frozen=True)
class Pair:
    """Two LFW photos and whether they show the same person."""

    first: Path
    second: Path
    same: bool


def photo(images: Path, name: str, number: int) -> Path:
    """images/Name/Name_0001.jpg, LFW's naming."""
    return images / name / f"{name}_{number:04d}.jpg"


def read_pairs(path: Path, images: Path) -> list[Pair]:
    """The pairs of an LFW pair list.

    Lines are ``name i j`` (same person) or ``name1 i name2 j`` (different people),
    tab- or space-separated. Header lines of counts (``1100`` or ``10 300``) are skipped.

    Raises:
        ValueError: a line of another shape, with its number.
    """
    pairs = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.split()
        if not fields or all(f.isdigit() for f in fields):
            continue
        if len(fields) == 3:
            name, i, j = fields
            pairs.append(Pair(photo(images, name, int(i)), photo(images, name, int(j)), True))
        elif len(fields) == 4:
            name1, i, name2, j = fields
            pairs.append(Pair(photo(images, name1, int(i)), photo(images, name2, int(j)), False))
        else:
            raise ValueError(f"{path.name}, line {number}: expected 3 or 4 fields")
    return pairs
