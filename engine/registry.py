"""Registered faces in SQLite: people, their registrations per scope, embeddings, erasure."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

import aiosqlite
import numpy as np

from engine.db import Database
from engine.errors import DuplicateFace, RegistrationLimit
from engine.faces import Face
from engine.gallery import Candidate, Gallery, MatchPolicy

log = logging.getLogger(__name__)


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


@dataclasses.dataclass(frozen=True)
class Person:
    """Someone on a platform. ``display_name`` is what whoami reports; ``language`` "en" or "es"."""

    platform: str
    user_id: str
    display_name: str = ""
    language: str | None = None


@dataclasses.dataclass(frozen=True)
class RegisterResult:
    """A stored registration photo: the face used, and the person's photos in this scope."""

    face: Face
    photos: int
    limit: int
    work_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Match:
    """A face recognised as a registered person."""

    face: Face
    person: Person
    similarity: float
    margin: float


@dataclasses.dataclass(frozen=True)
class Unknown:
    """A face that matches nobody registered in the scope closely enough."""

    face: Face
    best_similarity: float | None


@dataclasses.dataclass(frozen=True)
class ForgetResult:
    """What forget deleted."""

    scopes: tuple[str, ...]
    embeddings: int
    person_deleted: bool
    language: bool = False  # a stored language was erased too

    @property
    def anything(self) -> bool:
        return bool(self.scopes) or self.person_deleted


class Registry:
    """People, registrations and embeddings, with each scope's gallery kept in memory.

    A scope's gallery loads from the database on its first query and is then kept
    in step with every write, so queries never reload. Only embeddings made by
    ``embedder`` are considered.
    """

    def __init__(
        self, db: Database, *, embedder: str, dim: int, policy: MatchPolicy, limit: int = 5
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.dim = dim
        self.policy = policy
        self.limit = limit
        self._galleries: dict[str, Gallery] = {}
        self._names: dict[int, Person] = {}
        self._loading = asyncio.Lock()

    # --- people ----------------------------------------------------------------

    async def _person_id(self, conn: aiosqlite.Connection, person: Person, *, consent: bool) -> int:
        stamp = now()
        await conn.execute(
            "INSERT INTO people (platform, user_id, display_name, language, consented_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, user_id) DO UPDATE"
            " SET display_name = CASE WHEN excluded.display_name != '' THEN"
            " excluded.display_name ELSE display_name END,"
            " language = COALESCE(excluded.language, language),"
            " consented_at = COALESCE(consented_at, excluded.consented_at)",
            (
                person.platform,
                person.user_id,
                person.display_name,
                person.language,
                stamp if consent else None,
                stamp,
            ),
        )
        async with conn.execute(
            "SELECT id FROM people WHERE platform = ? AND user_id = ?",
            (person.platform, person.user_id),
        ) as cursor:
            (person_id,) = await cursor.fetchone()
        return int(person_id)

    async def photos(self, scope: str, platform: str, user_id: str) -> int:
        """How many photos the person has registered in ``scope``."""
        row = await self.db.fetchone(
            "SELECT COUNT(*) FROM embeddings e JOIN registrations r ON r.id = e.registration_id"
            " JOIN people p ON p.id = r.person_id"
            " WHERE r.scope = ? AND p.platform = ? AND p.user_id = ? AND e.embedder = ?",
            (scope, platform, user_id, self.embedder),
        )
        return int(row[0]) if row else 0

    async def language(self, platform: str, user_id: str) -> str | None:
        row = await self.db.fetchone(
            "SELECT language FROM people WHERE platform = ? AND user_id = ?", (platform, user_id)
        )
        return row[0] if row else None

    async def set_language(self, person: Person, language: str) -> None:
        async with self.db.transaction() as conn:
            await self._person_id(
                conn, dataclasses.replace(person, language=language), consent=False
            )

    # --- galleries -------------------------------------------------------------

    async def gallery(self, scope: str) -> Gallery:
        """The scope's gallery, loaded from the database the first time."""
        if scope in self._galleries:
            return self._galleries[scope]
        async with self._loading:
            if scope not in self._galleries:
                rows = await self.db.fetchall(
                    "SELECT p.id, p.platform, p.user_id, p.display_name, e.vector"
                    " FROM embeddings e JOIN registrations r ON r.id = e.registration_id"
                    " JOIN people p ON p.id = r.person_id"
                    " WHERE r.scope = ? AND e.embedder = ? ORDER BY e.id",
                    (scope, self.embedder),
                )
                gallery = Gallery(self.dim)
                if rows:
                    for person_id, platform, user_id, name, _ in rows:
                        self._names[person_id] = Person(platform, user_id, name)
                    gallery.extend(
                        np.array([r[0] for r in rows], np.int64),
                        np.frombuffer(b"".join(r[4] for r in rows), np.float32).reshape(
                            -1, self.dim
                        ),
                    )
                self._galleries[scope] = gallery
        return self._galleries[scope]

    # --- register, match -------------------------------------------------------

    async def add(
        self, scope: str, person: Person, vector: np.ndarray, face: Face
    ) -> RegisterResult:
        """Store one embedding for ``person`` in ``scope``, after the duplicate and limit checks.

        The caller has the person's consent: it is recorded with the first registration.

        Raises:
            DuplicateFace: the face matches someone else registered in this scope.
            RegistrationLimit: the person already has ``limit`` photos in this scope.
        """
        vector = np.asarray(vector, np.float32).reshape(self.dim)
        gallery = await self.gallery(scope)
        async with self.db.transaction() as conn:
            person_id = await self._person_id(conn, person, consent=True)
            photos = gallery.count(person_id)
            if photos >= self.limit:
                raise RegistrationLimit(limit=self.limit)
            (other,) = gallery.best(vector, self.policy, exclude=person_id)
            if other is not None and other.accepted(self.policy):
                raise DuplicateFace()
            stamp = now()
            await conn.execute(
                "INSERT INTO registrations (person_id, scope, created_at, last_used_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (person_id, scope) DO UPDATE"
                " SET last_used_at = excluded.last_used_at",
                (person_id, scope, stamp, stamp),
            )
            await conn.execute(
                "INSERT INTO embeddings (registration_id, embedder, vector, created_at)"
                " SELECT id, ?, ?, ? FROM registrations WHERE person_id = ? AND scope = ?",
                (self.embedder, vector.tobytes(), stamp, person_id, scope),
            )
        # Only after the commit: memory never holds what the database does not.
        gallery.add(person_id, vector)
        row = await self.db.fetchone("SELECT display_name FROM people WHERE id = ?", (person_id,))
        self._names[person_id] = Person(person.platform, person.user_id, row[0] if row else "")
        return RegisterResult(face=face, photos=photos + 1, limit=self.limit)

    async def match(
        self, scope: str, faces: Sequence[Face], vectors: np.ndarray
    ) -> list[Match | Unknown]:
        """Each face matched against the people registered in ``scope`` (and nowhere else)."""
        gallery = await self.gallery(scope)
        candidates: list[Candidate | None] = (
            await asyncio.to_thread(gallery.best, vectors, self.policy) if len(faces) else []
        )
        results: list[Match | Unknown] = []
        used: set[int] = set()
        for face, candidate in zip(faces, candidates, strict=True):
            if candidate is not None and candidate.accepted(self.policy):
                used.add(candidate.person)
                person = self._names[candidate.person]
                results.append(Match(face, person, candidate.score, candidate.margin))
            else:
                results.append(Unknown(face, candidate.score if candidate else None))
        if used:
            async with self.db.transaction() as conn:
                await conn.executemany(
                    "UPDATE registrations SET last_used_at = ? WHERE person_id = ? AND scope = ?",
                    [(now(), p, scope) for p in used],
                )
        return results

    # --- forget, export, expire -------------------------------------------------

    async def forget(self, platform: str, user_id: str, scope: str | None = None) -> ForgetResult:
        """Delete a person's registrations (in ``scope``, or everywhere) and, when
        everywhere, the person too; memory is cleared in step and the files scrubbed."""
        row = await self.db.fetchone(
            "SELECT id, language FROM people WHERE platform = ? AND user_id = ?",
            (platform, user_id),
        )
        if row is None:
            return ForgetResult((), 0, False)
        person_id, language = int(row[0]), row[1]
        where, params = "person_id = ?", (person_id,)
        if scope is not None:
            where, params = "person_id = ? AND scope = ?", (person_id, scope)
        async with self.db.transaction() as conn:
            async with conn.execute(f"SELECT scope FROM registrations WHERE {where}", params) as c:
                scopes = tuple(sorted(r[0] for r in await c.fetchall()))
            async with conn.execute(
                "SELECT COUNT(*) FROM embeddings WHERE registration_id IN"
                f" (SELECT id FROM registrations WHERE {where})",
                params,
            ) as c:
                (embeddings,) = await c.fetchone()
            await conn.execute(f"DELETE FROM registrations WHERE {where}", params)
            if scope is None:
                await conn.execute("DELETE FROM people WHERE id = ?", (person_id,))
        for name in scopes:
            if name in self._galleries:
                self._galleries[name].remove(person_id)
        if scope is None:
            self._names.pop(person_id, None)
        await self.db.erase()
        return ForgetResult(
            scopes, int(embeddings), scope is None, scope is None and language is not None
        )

    async def export(self, platform: str, user_id: str) -> dict[str, object]:
        """Everything held about a person, as plain JSON-ready data."""
        person = await self.db.fetchone(
            "SELECT id, platform, user_id, display_name, language, consented_at, created_at"
            " FROM people WHERE platform = ? AND user_id = ?",
            (platform, user_id),
        )
        if person is None:
            return {"person": None, "registrations": []}
        keys = ("platform", "user_id", "display_name", "language", "consented_at", "created_at")
        registrations = []
        for reg_id, scope, created, used in await self.db.fetchall(
            "SELECT id, scope, created_at, last_used_at FROM registrations WHERE person_id = ?",
            (person[0],),
        ):
            vectors = await self.db.fetchall(
                "SELECT embedder, vector, created_at FROM embeddings WHERE registration_id = ?",
                (reg_id,),
            )
            registrations.append(
                {
                    "scope": scope,
                    "created_at": created,
                    "last_used_at": used,
                    "embeddings": [
                        {
                            "embedder": e,
                            "created_at": c,
                            "vector": [round(float(x), 6) for x in np.frombuffer(v, np.float32)],
                        }
                        for e, v, c in vectors
                    ],
                }
            )
        return {"person": dict(zip(keys, person[1:], strict=True)), "registrations": registrations}

    async def expire(self, days: int) -> int:
        """Delete registrations unused for ``days`` days; returns how many."""
        cutoff = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat(timespec="seconds")
        stale = await self.db.fetchall(
            "SELECT person_id, scope FROM registrations WHERE last_used_at < ?", (cutoff,)
        )
        if not stale:
            return 0
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM registrations WHERE last_used_at < ?", (cutoff,))
        for person_id, scope in stale:
            if scope in self._galleries:
                self._galleries[scope].remove(person_id)
        await self.db.erase()
        log.info("expired %d registrations unused for %d days", len(stale), days)
        return len(stale)

    async def stats(self) -> dict[str, int]:
        counts = {}
        for table in ("people", "registrations", "embeddings"):
            row = await self.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            counts[table] = int(row[0]) if row else 0
        counts["scopes"] = int(
            (await self.db.fetchone("SELECT COUNT(DISTINCT scope) FROM registrations") or (0,))[0]
        )
        return counts
