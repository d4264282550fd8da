"""The SQLite backend (aiosqlite): one file, WAL mode, versioned migrations, erasure."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite

from engine.storage.base import DatabaseError, Hooks, Listener, Params, Row

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
    # 3: what replicas sharing the database coordinate through: a version per scope,
    # bumped by every change to its registrations (a process whose gallery is behind
    # reloads it), the updates already claimed, and rate-limit charges.
    """
    CREATE TABLE scopes (
        scope   TEXT PRIMARY KEY,
        version INTEGER NOT NULL
    );
    CREATE TABLE claims (
        platform   TEXT NOT NULL,
        update_id  TEXT NOT NULL,
        claimed_at REAL NOT NULL,
        PRIMARY KEY (platform, update_id)
    );
    CREATE INDEX claims_age ON claims (claimed_at);
    CREATE TABLE charges (
        id   INTEGER PRIMARY KEY,
        key  TEXT NOT NULL,
        at   REAL NOT NULL,
        cost REAL NOT NULL
    );
    CREATE INDEX charges_key ON charges (key, at);
    """,
    # 4: short-lived notes every replica reads, such as the question a user was asked
    # (the next update from that user may reach another replica).
    """
    CREATE TABLE notes (
        key        TEXT PRIMARY KEY,
        value      TEXT NOT NULL,
        expires_at REAL NOT NULL
    );
    CREATE INDEX notes_expiry ON notes (expires_at);
    """,
    # 5: what a chat chose for all its members: the celebrity fields its answers come
    # from (space-separated names; no row: the LOOKALIKE_FIELDS default).
    """
    CREATE TABLE chat_settings (
        scope      TEXT PRIMARY KEY,
        fields     TEXT NOT NULL,
        updated_at REAL NOT NULL
    );
    """,
]


class _Transaction(Hooks):
    def __init__(self, conn: aiosqlite.Connection) -> None:
        super().__init__()
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.conn.execute(sql, tuple(params)) as cursor:
            return max(0, cursor.rowcount)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self.conn.executemany(sql, [tuple(r) for r in rows])

    # Executed and read in one call on aiosqlite's thread: a statement left open while
    # another task runs would make the write-ahead log's checkpoint (erase) fail.
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return list(await self.conn.execute_fetchall(sql, tuple(params)))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def lock(self, key: str) -> None:
        """Nothing to do: BEGIN IMMEDIATE already holds the file's one write lock."""

    def notify(self, payload: str) -> None:
        """Nothing to carry it: another process on the same file sees a scope's version
        change instead (see engine.registry)."""


class SQLiteStorage:
    """The SQLite storage: one aiosqlite connection for the process, in WAL mode,
    with foreign keys on.

    ``secure_delete`` makes SQLite overwrite deleted rows with zeros, and `erase`
    checkpoints and truncates the write-ahead log, so that forgotten data does not
    linger in either file. Writes go through `transaction()`, which serialises
    them: aiosqlite shares one connection between all tasks, and BEGIN IMMEDIATE
    takes the file's write lock against other processes too.
    """

    errors: tuple[type[BaseException], ...] = (sqlite3.Error, OSError)

    def __init__(self, path: Path | str, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._write = asyncio.Lock()
        self._reader: _Transaction | None = None

    def __repr__(self) -> str:
        return f"SQLite database {self.path}"

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._conn is None:
            raise RuntimeError("SQLiteStorage.open() was not called")
        return self._conn

    @property
    def listening(self) -> bool:
        return False

    async def open(self) -> None:
        if self._conn is not None:
            return
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(self.path, timeout=self.busy_timeout, isolation_level=None)
        try:
            await self._wal(conn)
            for pragma in (
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
        self._reader = _Transaction(conn)

    async def close(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
            self._reader = None

    async def _wal(self, conn: aiosqlite.Connection) -> None:
        """Write-ahead logging, waiting for the other processes opening the same new file:
        switching a new file to WAL answers "database is locked" at once, without waiting
        for the busy timeout, while another process is doing the same."""
        deadline = asyncio.get_running_loop().time() + self.busy_timeout
        while True:
            try:
                await conn.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
                if not busy or asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.02)

    @staticmethod
    async def _migrate(conn: aiosqlite.Connection) -> None:
        # Each step reads the version under the write lock: processes that start
        # together on a new file take turns, and none applies a step twice.
        while True:
            await conn.execute("BEGIN IMMEDIATE")
            try:
                row = await (await conn.execute("PRAGMA user_version")).fetchone()
                version = row[0]  # type: ignore[index]
                if version > len(MIGRATIONS):
                    raise DatabaseError(
                        f"the database is at schema version {version}, newer than this code knows"
                    )
                if version == len(MIGRATIONS):
                    await conn.execute("COMMIT")
                    return
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        await conn.execute(statement)
                await conn.execute(f"PRAGMA user_version = {version + 1}")
                await conn.execute("COMMIT")
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            log.info("database migrated to schema version %d", version + 1)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Transaction]:
        """A write transaction: committed when the block ends, rolled back if it raises."""
        async with self._write:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            transaction = _Transaction(conn)
            try:
                yield transaction
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            await conn.execute("COMMIT")
            transaction.committed()

    @property
    def _queries(self) -> _Transaction:
        if self._reader is None:
            raise RuntimeError("SQLiteStorage.open() was not called")
        return self._reader

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self._write:
            return await self._queries.execute(sql, params)

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self._write:
            await self._queries.executemany(sql, rows)

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self._queries.fetchall(sql, params)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self._queries.fetchone(sql, params)

    async def listen(self, callback: Listener) -> None:
        """SQLite carries no notifications between processes; see `_Transaction.notify`."""

    async def erase(self) -> None:
        """Push deleted pages out of the write-ahead log and truncate it to nothing."""
        async with self._write:
            await self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    async def integrity_check(self) -> str:
        row = await self.fetchone("PRAGMA integrity_check")
        return str(row[0]) if row else "no answer"
