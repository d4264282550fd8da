"""The storage interface every backend implements: transactions, queries, locks, notifications."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

log = logging.getLogger(__name__)

Params = Sequence[object]
Row = tuple
Listener = Callable[[str], None]

# Where the engine's notifications travel, on backends that carry them.
CHANNEL = "lookalike"


class DatabaseError(Exception):
    """The database cannot be used: locked, read-only, full, damaged, or unreachable."""


class Queries(Protocol):
    """What both a transaction and the storage itself can run.

    SQL is written once for every backend, with ``?`` placeholders, in the subset
    that SQLite and PostgreSQL share (``ON CONFLICT``, ``RETURNING``, partial
    indexes). A face embedding travels as little-endian float32 bytes both ways.
    """

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns how many rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...


class Transaction(Queries, Protocol):
    """One write transaction: committed when its block ends, rolled back if it raises."""

    async def lock(self, key: str) -> None:
        """Hold a lock on ``key`` until the transaction ends, against every process
        sharing the database."""
        ...

    def notify(self, payload: str) -> None:
        """Tell every process listening on this database, once the transaction commits."""
        ...

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` right after the commit, before another task can run."""
        ...


class Storage(Queries, Protocol):
    """A database the engine keeps everything in; `engine.storage.connect` makes one from a URL.

    Attributes:
        errors: the driver's exceptions that mean the database is unusable now.
        listening: notifications from other processes arrive (see `listen`).
    """

    errors: tuple[type[BaseException], ...]

    @property
    def listening(self) -> bool: ...

    async def open(self) -> None:
        """Connect and bring the schema up to date (versioned migrations)."""
        ...

    async def close(self) -> None: ...

    def transaction(self) -> AbstractAsyncContextManager[Transaction]: ...

    async def listen(self, callback: Listener) -> None:
        """Call ``callback(payload)`` on the event loop for every notification, including
        this process's own; backends that cannot carry them never call it."""
        ...

    async def erase(self) -> None:
        """Push deleted data out of whatever the backend keeps besides its tables."""
        ...

    async def integrity_check(self) -> str:
        """ "ok", or what is wrong with the database."""
        ...


class Hooks:
    """The part of a transaction every backend shares: callbacks and notifications
    kept until the commit."""

    def __init__(self) -> None:
        self.callbacks: list[Callable[[], None]] = []
        self.payloads: list[str] = []

    def after_commit(self, callback: Callable[[], None]) -> None:
        self.callbacks.append(callback)

    def committed(self) -> None:
        for callback in self.callbacks:
            try:
                callback()
            except Exception:  # the data is committed: one failed cache update must not hide it
                log.exception("after-commit callback failed")
