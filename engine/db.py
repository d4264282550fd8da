"""The SQLite database (aiosqlite): connection settings, versioned migrations, erasure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

log = logging.getLogger(__name__)

# Migration N brings the schema from version N-1 to N (PRAGMA user_version).
# Never edit a migration that has shipped: add the next one.
MIGRATIONS: list[str] = [
    # 1: people, their registrations per scope (chat), and face embeddings.
    """
    CREATE TABLE people (
        id           INTEGER PRIMARY KEY,
        platform     TEXT NOT NULL,
        user_id      TEXT NOT NULL,
        display_name TEXT NOT NULL,
        language     TEXT,
        consented_at TEXT,
        created_at   TEXT NOT NULL,
        UNIQUE (platform, user_id)
    );
    CREATE TABLE registrations (
        id           INTEGER PRIMARY KEY,
        person_id    INTEGER NOT NULL REFERENCES people (id) ON DELETE CASCADE,
        scope        TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        last_used_at TEXT NOT NULL,
        UNIQUE (person_id, scope)
    );
    CREATE INDEX registrations_scope ON registrations (scope);
    CREATE TABLE embeddings (
        id              INTEGER PRIMARY KEY,
        registration_id INTEGER NOT NULL REFERENCES registrations (id) ON DELETE CASCADE,
        embedder        TEXT NOT NULL,
        vector          BLOB NOT NULL,
        created_at      TEXT NOT NULL
    );
    CREATE INDEX embeddings_registration ON embeddings (registration_id);
    """,
    # 2: the group game: rounds per scope (times in wall-clock seconds), and each
    # player's counted photo per round (its score only, never the photo).
    """
    CREATE TABLE game_rounds (
        id         INTEGER PRIMARY KEY,
        scope      TEXT NOT NULL,
        platform   TEXT NOT NULL,
        celebrity  TEXT NOT NULL,
        started_by TEXT,
        language   TEXT,
        started_at REAL NOT NULL,
        ends_at    REAL NOT NULL,
        ended_at   REAL,
        outcome    TEXT
    );
    CREATE UNIQUE INDEX game_rounds_running ON game_rounds (scope) WHERE ended_at IS NULL;
    CREATE INDEX game_rounds_scope ON game_rounds (scope);
    CREATE TABLE game_entries (
        round_id     INTEGER NOT NULL REFERENCES game_rounds (id) ON DELETE CASCADE,
        platform     TEXT NOT NULL,
        user_id      TEXT NOT NULL,
        display_name TEXT NOT NULL,
        similarity   REAL NOT NULL,
        score        INTEGER NOT NULL,
        photos       INTEGER NOT NULL,
        entered_at   REAL NOT NULL,
        place        INTEGER,
        points       INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (round_id, platform, user_id)
    );
    CREATE INDEX game_entries_player ON game_entries (platform, user_id);
    """,
]


class DatabaseError(Exception):
    """The database cannot be used: locked, read-only, full, or damaged."""


class Database:
    """One aiosqlite connection for the process, in WAL mode, with foreign keys on.

    ``secure_delete`` makes SQLite overwrite deleted rows with zeros, and `erase`
    checkpoints and truncates the write-ahead log, so that forgotten data does not
    linger in either file. Writes go through `transaction()`, which serialises
    them: aiosqlite shares one connection between all tasks.
    """

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._write = asyncio.Lock()

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("Database.open() was not called")
        return self._conn

    async def open(self) -> None:
        if self._conn is not None:
            return
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            for pragma in (
                "journal_mode=WAL",
                "foreign_keys=ON",
                "secure_delete=ON",
                "synchronous=FULL",  # a committed registration survives a power cut too
                f"busy_timeout={round(self.busy_timeout * 1000)}",
            ):
                await conn.execute(f"PRAGMA {pragma}")
            await self._migrate(conn)
        except BaseException:
            await conn.close()
            raise
        self._conn = conn

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @staticmethod
    async def _migrate(conn: aiosqlite.Connection) -> None:
        (version,) = await (await conn.execute("PRAGMA user_version")).fetchone()  # type: ignore[misc]
        if version > len(MIGRATIONS):
            raise DatabaseError(
                f"the database is at schema version {version}, newer than this code knows"
            )
        for number in range(version + 1, len(MIGRATIONS) + 1):
            await conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in MIGRATIONS[number - 1].split(";"):
                    if statement.strip():
                        await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {number}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            log.info("database migrated to schema version %d", number)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")

    async def fetchall(self, sql: str, params: tuple[object, ...] = ()) -> list[tuple]:
        async with self.conn.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchone(self, sql: str, params: tuple[object, ...] = ()) -> tuple | None:
        async with self.conn.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def erase(self) -> None:
        """Push deleted pages out of the write-ahead log and truncate it to nothing."""
        async with self._write:
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"
