"""An on-disk cache of face embeddings, keyed by file content, embedder and face choice."""

from __future__ import annotations

import dataclasses
import hashlib
import sqlite3
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    sha256    TEXT NOT NULL,
    recipe    TEXT NOT NULL,
    status    TEXT NOT NULL,      -- ok, no_face, unreadable
    faces     INTEGER NOT NULL,   -- how many faces the photo has
    box       TEXT,               -- the chosen face, "x1 y1 x2 y2"
    vector    BLOB,               -- float32, unit length
    PRIMARY KEY (sha256, recipe)
)
"""


@dataclasses.dataclass(frozen=True)
class Entry:
    """What one photo gave: an embedding of the chosen face, or why there is none.

    Attributes:
        status: "ok", "no_face" or "unreadable".
        faces: the number of faces found.
        box: the chosen face's (x1, y1, x2, y2), when there is one.
        vector: its unit embedding, float32, when there is one.
    """

    status: str
    faces: int = 0
    box: tuple[float, float, float, float] | None = None
    vector: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class EmbeddingCache:
    """SQLite file of ``Entry`` by (content hash, recipe).

    The recipe names everything that changes an embedding: the embedder, the
    alignment, flip averaging and how the face is chosen among several.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)

    def get_many(self, keys: Iterable[str], recipe: str) -> dict[str, Entry]:
        keys = list(keys)
        found: dict[str, Entry] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            rows = self._db.execute(
                f"SELECT sha256, status, faces, box, vector FROM embeddings "
                f"WHERE recipe = ? AND sha256 IN ({','.join('?' * len(chunk))})",
                [recipe, *chunk],
            )
            for sha, status, faces, box, vector in rows:
                found[sha] = Entry(
                    status,
                    faces,
                    tuple(float(v) for v in box.split()) if box else None,  # type: ignore[arg-type]
                    np.frombuffer(vector, np.float32).copy() if vector else None,
                )
        return found

    def put_many(self, items: Iterable[tuple[str, Entry]], recipe: str) -> None:
        rows = [
            (
                sha,
                recipe,
                e.status,
                e.faces,
                " ".join(f"{v:.2f}" for v in e.box) if e.box else None,
                np.asarray(e.vector, np.float32).tobytes() if e.vector is not None else None,
            )
            for sha, e in items
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO embeddings VALUES (?,?,?,?,?,?)", rows)

    def close(self) -> None:
        self._db.close()
