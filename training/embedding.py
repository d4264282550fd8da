"""Detect, align and embed dataset photos once, in batches, through the embedding cache."""

from __future__ import annotations

import dataclasses
import logging
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tqdm import tqdm

from engine.errors import LookalikeError
from engine.faces import Face
from engine.pipeline import THOROUGH, Pipeline, Views
from training.cache import EmbeddingCache, Entry, file_hash

log = logging.getLogger(__name__)

# Bump when alignment or detection changes in a way that changes embeddings.
RECIPE_VERSION = 2
CHOICES = ("central", "largest")


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


def recipe(pipeline: Pipeline, choose: str, views: Views) -> str:
    detector = pipeline.detector
    return (
        f"{pipeline.embedder.name}/v{RECIPE_VERSION}/{choose}/"
        f"flip{int(views.flip)}jitter{views.jitter}/"
        f"{detector.max_side},{detector.min_face_size},{detector.min_score}"
    )


def embed_files(
    pipeline: Pipeline,
    files: Sequence[Path],
    cache: EmbeddingCache,
    *,
    choose: str = "central",
    views: Views = THOROUGH,
    batch: int = 32,
    progress: bool = True,
) -> tuple[list[Entry], EmbedStats]:
    """An ``Entry`` for each file, in order, embedding only what the cache lacks.

    Unreadable files and photos without a face give entries with that status;
    they are never fatal. Photos with several faces use the one ``choose`` picks.
    """
    key = recipe(pipeline, choose, views)
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
    bar = tqdm(total=len(todo), unit="photo", desc="embedding", disable=not progress or not todo)
    with bar:
        for start in range(0, len(todo), batch):
            chunk = todo[start : start + batch]
            fresh = _embed_chunk(pipeline, [files[i] for i in chunk], choose, views)
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
    pipeline: Pipeline, paths: Sequence[Path], choose: str, views: Views
) -> list[Entry]:
    entries: list[Entry | None] = [None] * len(paths)
    photos, slots = [], []
    for i, path in enumerate(paths):
        try:
            photos.append(pipeline.decode(path.read_bytes()))
            slots.append(i)
        except (LookalikeError, OSError) as exc:
            log.debug("unreadable %s: %s", path, exc)
            entries[i] = Entry("unreadable")
    found = pipeline.detector.detect_many(photos)
    crops, chosen = [], []
    for slot, photo, faces in zip(slots, photos, found, strict=True):
        if not faces:
            entries[slot] = Entry("no_face")
            continue
        face = faces[choose_face(faces, photo.size, choose)]
        crops.append(pipeline.embedder.align(np.asarray(photo), face))
        chosen.append((slot, face, len(faces)))
    vectors = pipeline.embedder.embed(crops, flip=views.flip, jitter=views.jitter)
    for (slot, face, count), vector in zip(chosen, vectors, strict=True):
        entries[slot] = Entry("ok", count, face.box, vector)
    return [e if e is not None else Entry("unreadable") for e in entries]
