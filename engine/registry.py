"""Registered faces: people, their registrations per scope, embeddings, erasure, any backend."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

import numpy as np

from engine.errors import DuplicateFace, RegistrationLimit
from engine.faces import Face
from engine.galleries import Galleries, Name, scope_lock
from engine.gallery import Candidate, Gallery, MatchPolicy
from engine.storage import Storage, Transaction

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
    """What forget deleted: registrations in ``scopes``, their embeddings, and (when
    forgetting everywhere) the person and their language."""

    scopes: tuple[str, ...]
    embeddings: int
    person_deleted: bool
    language: bool = False  # a stored language was erased too

    @property
    def anything(self) -> bool:
        return bool(self.scopes) or self.person_deleted or self.language


class Registry:
    """People, registrations and embeddings, with each scope's gallery kept in memory.

    Any backend, and any number of processes sharing it: engine.galleries keeps
    each process's galleries in step with the database. Only embeddings made by
    ``embedder`` are considered.
    """

    def __init__(
        self, db: Storage, *, embedder: str, dim: int, policy: MatchPolicy, limit: int = 5
    ) -> None:
        self.db = db
        self.embedder = embedder
        self.dim = dim
        self.policy = policy
        self.limit = limit
        self.galleries = Galleries(db, embedder=embedder, dim=dim)

    async def close(self) -> None:
        await self.galleries.close()

    # --- people ----------------------------------------------------------------

    @staticmethod
    async def _person(tx: Transaction, person: Person, *, consent: bool) -> tuple[int, str]:
        """Insert or update ``person``; returns their id and stored display name."""
        stamp = now()
        row = await tx.fetchone(
            "INSERT INTO people (platform, user_id, display_name, language, consented_at,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (platform, user_id) DO UPDATE"
            " SET display_name = CASE WHEN excluded.display_name != '' THEN"
            " excluded.display_name ELSE people.display_name END,"
            " language = COALESCE(excluded.language, people.language),"
            " consented_at = COALESCE(people.consented_at, excluded.consented_at)"
            " RETURNING id, display_name",
            (
                person.platform,
                person.user_id,
                person.display_name,
                person.language,
                stamp if consent else None,
                stamp,
            ),
        )
        assert row is not None
        return int(row[0]), str(row[1])

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
        async with self.db.transaction() as tx:
            await self._person(tx, dataclasses.replace(person, language=language), consent=False)

    # --- galleries -------------------------------------------------------------

    async def gallery(self, scope: str) -> Gallery:
        """The scope's gallery, as of the database's latest change to it."""
        return await self.galleries.get(scope)

    async def anyone(self, scope: str) -> bool:
        """Whether anyone is registered in ``scope`` (for this embedder): one indexed lookup."""
        row = await self.db.fetchone(
            "SELECT 1 FROM registrations r JOIN embeddings e ON e.registration_id = r.id"
            " WHERE r.scope = ? AND e.embedder = ? LIMIT 1",
            (scope, self.embedder),
        )
        return row is not None

    # --- register, match -------------------------------------------------------

    async def add(
        self, scope: str, person: Person, vector: np.ndarray, face: Face
    ) -> RegisterResult:
        """Store one embedding for ``person`` in ``scope``, after the duplicate and limit checks.

        The caller has the person's consent: it is recorded with the first registration.
        The checks and the write hold the scope's lock, so they hold across processes.

        Raises:
            DuplicateFace: the face matches someone else registered in this scope.
            RegistrationLimit: the person already has ``limit`` photos in this scope.
        """
        vector = np.asarray(vector, np.float32).reshape(self.dim)
        await self.gallery(scope)  # loaded outside the lock, when it is not yet
        async with self.db.transaction() as tx:
            await tx.lock(f"person:{person.platform}:{person.user_id}")
            gallery = await self.galleries.lock(tx, scope)
            person_id, name = await self._person(tx, person, consent=True)
            photos = gallery.count(person_id)
            if photos >= self.limit:
                raise RegistrationLimit(limit=self.limit)
            (other,) = await asyncio.to_thread(gallery.best, vector, self.policy, person_id)
            if other is not None and other.accepted(self.policy):
                raise DuplicateFace()
            stamp = now()
            await tx.execute(
                "INSERT INTO registrations (person_id, scope, created_at, last_used_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (person_id, scope) DO UPDATE"
                " SET last_used_at = excluded.last_used_at",
                (person_id, scope, stamp, stamp),
            )
            row = await tx.fetchone(
                "INSERT INTO embeddings (registration_id, embedder, vector, created_at)"
                " SELECT id, ?, ?, ? FROM registrations WHERE person_id = ? AND scope = ?"
                " RETURNING id",
                (self.embedder, vector.tobytes(), stamp, person_id, scope),
            )
            assert row is not None
            # Memory changes only after the commit: it never holds what the database does not.
            who = Name(person.platform, person.user_id, name)
            await self.galleries.added(tx, scope, person_id, who, int(row[0]), vector)
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
            # A person forgotten while the query ran has no name any more: nobody is named.
            name = self.galleries.name(candidate.person) if candidate is not None else None
            if candidate is not None and name is not None and candidate.accepted(self.policy):
                used.add(candidate.person)
                person = Person(name.platform, name.user_id, name.display_name)
                results.append(Match(face, person, candidate.score, candidate.margin))
            else:
                results.append(Unknown(face, candidate.score if candidate else None))
        if used:
            async with self.db.transaction() as tx:
                await tx.executemany(
                    "UPDATE registrations SET last_used_at = ? WHERE person_id = ? AND scope = ?",
                    [(now(), p, scope) for p in sorted(used)],
                )
        return results

    # --- forget, export, expire -------------------------------------------------

    async def forget(self, platform: str, user_id: str, scope: str | None = None) -> ForgetResult:
        """Delete a person's registrations (in ``scope``, or everywhere) and, when
        everywhere, the person and their language too. Every process's memory is
        cleared in step, and the files scrubbed where the backend can."""
        async with self.db.transaction() as tx:
            await tx.lock(f"person:{platform}:{user_id}")
            row = await tx.fetchone(
                "SELECT id, language FROM people WHERE platform = ? AND user_id = ?",
                (platform, user_id),
            )
            if row is None:
                return ForgetResult((), 0, False)
            person_id = int(row[0])
            where, params = "person_id = ?", (person_id,)
            if scope is not None:
                where, params = "person_id = ? AND scope = ?", (person_id, scope)
            found = await tx.fetchall(f"SELECT scope FROM registrations WHERE {where}", params)
            scopes = tuple(sorted(r[0] for r in found))
            for name in scopes:
                await tx.lock(scope_lock(name))
            (embeddings,) = await tx.fetchone(
                "SELECT COUNT(*) FROM embeddings WHERE registration_id IN"
                f" (SELECT id FROM registrations WHERE {where})",
                params,
            ) or (0,)
            await tx.execute(f"DELETE FROM registrations WHERE {where}", params)
            for name in scopes:
                await self.galleries.removed(tx, name, [person_id])
            if scope is None:
                await tx.execute("DELETE FROM people WHERE id = ?", (person_id,))
                self.galleries.forgotten(tx, person_id)
        await self.db.erase()
        language = scope is None and row[1] is not None
        return ForgetResult(scopes, int(embeddings), scope is None, language)

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
            "SELECT DISTINCT scope FROM registrations WHERE last_used_at < ?", (cutoff,)
        )
        if not stale:
            return 0
        expired = 0
        async with self.db.transaction() as tx:
            scopes = sorted(r[0] for r in stale)
            for scope in scopes:
                await tx.lock(scope_lock(scope))
            for scope in scopes:
                people = await tx.fetchall(
                    "DELETE FROM registrations WHERE scope = ? AND last_used_at < ?"
                    " RETURNING person_id",
                    (scope, cutoff),
                )
                if people:
                    expired += len(people)
                    await self.galleries.removed(tx, scope, sorted(int(p[0]) for p in people))
        await self.db.erase()
        log.info("expired %d registrations unused for %d days", expired, days)
        return expired

    async def stats(self) -> dict[str, int]:
        counts = {}
        for table in ("people", "registrations", "embeddings"):
            row = await self.db.fetchone(f"SELECT COUNT(*) FROM {table}")
            counts[table] = int(row[0]) if row else 0
        counts["scopes"] = int(
            (await self.db.fetchone("SELECT COUNT(DISTINCT scope) FROM registrations") or (0,))[0]
        )
        return counts
