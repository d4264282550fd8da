"""Detect, align and embed dataset photos once, in batches, through the embedding cache."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from engine.errors import LookalikeError
from engine.faces import Face
from engine.pipeline import THOROUGH, Pipeline, Views
from training.cache import EmbeddingCache, Entry, file_hash

log = logging.getLogger(__name__)

# Bump when alignment or detection changes in a way that changes embeddings.
RECIPE_VERSION = 2
CHOICES = ("central", "largest")
# Tight face crops (the face fills the frame) are padded by this share of their size on
# every side before detection: MTCNN misses or mis-boxes faces cut by the border.
TIGHT_PAD = 0.4


def choose_face(faces: Sequence[Face], size: tuple[int, int], how: str = "central") -> int:
    """The index of the face to use when a photo has several.

    ``largest`` takes the biggest box; ``central`` the face whose centre is nearest
    the photo's centre (what dataset photos like LFW's are cropped around).
    """
    if how == "largest":
        return max(range(len(faces)), key=lambda i: faces[i].area)
    cx, cy = size[0] / 2, size[1] / 2
    return min(range(len(faces)), key=lambda i: math.dist(faces[i].center, (cx, cy)))


@dataclasses.dataclass
class EmbedStats:
    """Counts from one `embed_files` call."""

    files: int = 0
    cached: int = 0
    embedded: int = 0
    no_face: list[Path] = dataclasses.field(default_factory=list)
    several_faces: list[Path] = dataclasses.field(default_factory=list)
    unreadable: list[Path] = dataclasses.field(default_factory=list)
    uncached: int = 0

    def merge(self, other: EmbedStats) -> None:
        """Add another call's counts to these (``files`` is set by the caller)."""
        self.cached += other.cached
        self.embedded += other.embedded
        self.no_face += other.no_face
        self.several_faces += other.several_faces
        self.unreadable += other.unreadable
        self.uncached += other.uncached


def recipe(pipeline: Pipeline, choose: str, views: Views, pad: float = 0.0) -> str:
    detector = pipeline.detector
    return (
        f"{pipeline.embedder.name}/v{RECIPE_VERSION}/{choose}/"
        f"flip{int(views.flip)}jitter{views.jitter}/"
        f"{detector.max_side},{detector.min_face_size},{detector.min_score}"
        f",cut{detector.cut_threshold},again{int(detector.again)},enough{detector.enough}"
    ) + (f"/pad{pad:g}" if pad else "")


def padded(photo: Image.Image, pad: float) -> tuple[Image.Image, tuple[int, int]]:
    """The photo with ``pad`` of its size added on every side, the border pixels
    repeated outwards; and the offset of the original inside it."""
    dx, dy = round(photo.width * pad), round(photo.height * pad)
    pixels = np.pad(np.asarray(photo), ((dy, dy), (dx, dx), (0, 0)), mode="edge")
    return Image.fromarray(pixels), (dx, dy)


def embed_files(
    pipeline: Pipeline,
    files: Sequence[Path],
    cache: EmbeddingCache,
    *,
    choose: str = "central",
    views: Views = THOROUGH,
    batch: int = 32,
    progress: bool | None = None,
    pad: float = 0.0,
    cached_only: bool = False,
) -> tuple[list[Entry], EmbedStats]:
    """An ``Entry`` for each file, in order, embedding only what the cache lacks.

    Unreadable files and photos without a face give entries with that status;
    they are never fatal. Photos with several faces use the one ``choose`` picks.
    ``pad`` pads each photo before detection (see `padded`); boxes are given in the
    photo's own coordinates. ``progress``: a bar on a terminal only (None), never
    (False), or always (True). ``cached_only`` embeds nothing: photos the cache lacks
    get the status "uncached".
    """
    key = recipe(pipeline, choose, views, pad)
    stats = EmbedStats(files=len(files))
    hashes: list[str | None] = []
    for path in files:
        try:
            hashes.append(file_hash(path.read_bytes()))
        except OSError:
            hashes.append(None)
    known = cache.get_many({h for h in hashes if h}, key)
    entries: list[Entry | None] = [known.get(h) if h else None for h in hashes]
    todo = [i for i, entry in enumerate(entries) if entry is None]
    stats.cached = len(files) - len(todo)
    if cached_only:
        for i in todo:
            entries[i] = Entry("uncached")
        stats.uncached, todo = len(todo), []
    # None: tqdm draws only on a terminal, never carriage returns into a log file.
    disable = True if not todo else (None if progress is None else not progress)
    bar = tqdm(total=len(todo), unit="photo", desc="embedding", disable=disable)
    with bar:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            fresh = _embed_chunk(pipeline, [files[i] for i in chunk], choose, views, pad)
            for i, entry in zip(chunk, fresh, strict=True):
                entries[i] = entry
            cache.put_many(((hashes[i], entries[i]) for i in chunk if hashes[i]), key)
            stats.embedded += sum(1 for e in fresh if e.status == "ok")
            bar.update(len(chunk))
    done = [e if e is not None else Entry("unreadable") for e in entries]
    for path, entry in zip(files, done, strict=True):
        if entry.status == "no_face":
            stats.no_face.append(path)
        elif entry.status == "unreadable":
            stats.unreadable.append(path)
        elif entry.faces > 1:
            stats.several_faces.append(path)
    return done, stats


def _embed_chunk(
    pipeline: Pipeline, paths: Sequence[Path], choose: str, views: Views, pad: float = 0.0
) -> list[Entry]:
    entries: list[Entry | None] = [None] * len(paths)
    photos, slots, offsets = [], [], []
    for i, path in enumerate(paths):
        try:
            photo = pipeline.decode(path.read_bytes())
            photo, offset = padded(photo, pad) if pad else (photo, (0, 0))
            photos.append(photo)
            offsets.append(offset)
            slots.append(i)
        except (LookalikeError, OSError) as exc:
            log.debug("unreadable %s: %s", path, exc)
            entries[i] = Entry("unreadable")
    found = pipeline.detector.detect_many(photos)
    crops, chosen = [], []
    for slot, photo, faces, (dx, dy) in zip(slots, photos, found, offsets, strict=True):
        if not faces:
            entries[slot] = Entry("no_face")
            continue
        face = faces[choose_face(faces, photo.size, choose)]
        crops.append(pipeline.embedder.align(np.asarray(photo), face))
        x1, y1, x2, y2 = face.box
        chosen.append((slot, (x1 - dx, y1 - dy, x2 - dx, y2 - dy), len(faces)))
    vectors = pipeline.embedder.embed(crops, flip=views.flip, jitter=views.jitter)
    for (slot, box, count), vector in zip(chosen, vectors, strict=True):
        entries[slot] = Entry("ok", count, box, vector)
    return [e if e is not None else Entry("unreadable") for e in entries]
