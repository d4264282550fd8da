"""Where the engine keeps its data: one interface, chosen by URL (a SQLite file or PostgreSQL)."""

from __future__ import annotations

import os
from pathlib import Path

from engine.storage.base import CHANNEL, DatabaseError, Storage, Transaction

__all__ = ["CHANNEL", "DatabaseError", "Storage", "Transaction", "connect"]

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
SQLITE_SCHEME = "sqlite://"


def connect(url: str | os.PathLike[str], *, timeout: float = 5.0) -> Storage:
    """The storage that ``url`` names, not yet opened.

    Args:
        url: a file path, ``sqlite:///relative/path``, ``sqlite:////absolute/path``
            (SQLAlchemy's spelling), or ``postgresql://user:password@host:port/database``
            (libpq's, with its query parameters, e.g. ``?host=/socket/dir``).
        timeout: seconds to wait for a lock another process holds, or to connect.

    Raises:
        ValueError: a URL of another kind.
    """
    text = os.fspath(url)
    if text.startswith(POSTGRES_SCHEMES):
        # Imported here: a SQLite deployment needs no PostgreSQL driver.
        from engine.storage.postgres import PostgresStorage

        return PostgresStorage(text, timeout=timeout)
    if text.startswith(SQLITE_SCHEME):
        if not text.startswith(SQLITE_SCHEME + "/"):
            raise ValueError(f"a SQLite URL is sqlite:///PATH, not {text!r}")
        text = text[len(SQLITE_SCHEME) + 1 :]
    elif "://" in text:
        scheme = text.split("://", 1)[0]
        raise ValueError(
            f"unknown database kind {scheme!r}: use a path, sqlite:/// or postgresql://"
        )
    from engine.storage.sqlite import SQLiteStorage

    return SQLiteStorage(Path(text).expanduser(), busy_timeout=timeout)
