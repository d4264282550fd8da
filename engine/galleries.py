"""Each scope's gallery in memory, kept in step with the database and with other processes.

Every change to a scope's registrations takes the scope's lock, bumps its version
(the ``scopes`` table) and tells the other processes what changed (NOTIFY, where
the backend carries it). A process applies a change to its own gallery only when
it is the next version; otherwise it reloads the scope. A query reads the scope's
version first (one indexed row), so a registration made through another process
is seen at once, and a change it has not heard about yet is waited for, briefly,
or reloaded: what the database says wins over what the memory holds.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from engine.gallery import Gallery
from engine.storage import Storage, Transaction
from engine.storage.base import Queries

log = logging.getLogger(__name__)

# How long a query waits for the notification of a change it saw in the database,
# before it reloads the scope instead.
CATCH_UP_SECONDS = 0.5
# NOTIFY payloads must stay under 8000 bytes; a larger change is sent as "reload".
MAX_PAYLOAD = 7000


@dataclass(frozen=True)
class Name:
    """Who a gallery row belongs to (engine.registry.Person without the language)."""

    platform: str
    user_id: str
    display_name: str


def scope_lock(scope: str) -> str:
    return f"scope:{scope}"


class Galleries:
    """The galleries of every scope asked about, and the names of the people in them."""

    def __init__(self, db: Storage, *, embedder: str, dim: int) -> None:
        self.db = db
        self.embedder = embedder
        self.dim = dim
        self._galleries: dict[str, Gallery] = {}
        self._names: dict[int, Name] = {}
        self._changed = asyncio.Condition()
        self._queue: list[str] = []
        self._worker: asyncio.Task[None] | None = None
        self._subscribed = False
        self._subscribing = asyncio.Lock()
        # One load of a scope at a time, not one per waiting query; other scopes go on.
        self._loading: collections.defaultdict[str, asyncio.Lock] = collections.defaultdict(
            asyncio.Lock
        )

    def __iter__(self) -> Iterator[Gallery]:
        return iter(list(self._galleries.values()))

    def held(self, scope: str) -> Gallery | None:
        """The scope's gallery as memory holds it now, without asking the database."""
        return self._galleries.get(scope)

    def name(self, person_id: int) -> Name | None:
        """The person behind a gallery row; None once they are forgotten."""
        return self._names.get(person_id)

    # --- reading -------------------------------------------------------------------

    async def get(self, scope: str) -> Gallery:
        """The scope's gallery, as of the database's latest version of it."""
        if not self._subscribed:  # before any gallery is held: no change can be missed
            async with self._subscribing:
                if not self._subscribed:
                    await self.db.listen(self._heard)
                    self._subscribed = True
        current = await version(self.db, scope)
        gallery = self._galleries.get(scope)
        if gallery is not None and gallery.version < current and self.db.listening:
            with contextlib.suppress(TimeoutError):
                async with self._changed:
                    await asyncio.wait_for(
                        self._changed.wait_for(lambda: self._behind(scope, current) is False),
                        CATCH_UP_SECONDS,
                    )
            gallery = self._galleries.get(scope)
        if gallery is None or gallery.version != current:
            async with self._loading[scope]:
                gallery = self._galleries.get(scope)
                if gallery is None or gallery.version < current:
                    async with self.db.transaction() as tx:
                        await tx.lock(scope_lock(scope))
                        gallery = await self._load(tx, scope, await version(tx, scope))
        return gallery

    def _behind(self, scope: str, current: int) -> bool:
        gallery = self._galleries.get(scope)
        return gallery is not None and gallery.version < current

    async def _load(self, q: Queries, scope: str, at: int) -> Gallery:
        """Read the scope's gallery; the caller holds the scope's lock, at version ``at``."""
        # Names once per person, vectors once per row: a million rows read fast.
        people = await q.fetchall(
            "SELECT DISTINCT p.id, p.platform, p.user_id, p.display_name FROM people p"
            " JOIN registrations r ON r.person_id = p.id WHERE r.scope = ?",
            (scope,),
        )
        rows = await q.fetchall(
            "SELECT r.person_id, e.vector FROM embeddings e"
            " JOIN registrations r ON r.id = e.registration_id"
            " WHERE r.scope = ? AND e.embedder = ? ORDER BY e.id",
            (scope, self.embedder),
        )
        for person_id, platform, user_id, name in people:
            self._names[person_id] = Name(platform, user_id, name)
        # Off the event loop: a million rows take seconds to copy and normalise.
        gallery = await asyncio.to_thread(self._build, rows, at)
        self._galleries[scope] = gallery
        return gallery

    def _build(self, rows: list[tuple], at: int) -> Gallery:
        gallery = Gallery(self.dim, version=at)
        if rows:
            vectors = np.frombuffer(b"".join(r[1] for r in rows), np.float32)
            gallery.extend(np.array([r[0] for r in rows], np.int64), vectors.reshape(-1, self.dim))
        return gallery

    # --- writing, inside a transaction ---------------------------------------------------

    async def lock(self, tx: Transaction, scope: str) -> Gallery:
        """Lock the scope for a change, and return its gallery, reloaded if it is stale."""
        await tx.lock(scope_lock(scope))
        at = await version(tx, scope)
        gallery = self._galleries.get(scope)
        if gallery is None or gallery.version != at:
            gallery = await self._load(tx, scope, at)
        return gallery

    async def added(
        self,
        tx: Transaction,
        scope: str,
        person: int,
        name: Name,
        embedding: int,
        vector: np.ndarray,
    ) -> None:
        """A row was stored for ``person`` in the locked ``scope``."""
        at = await bump(tx, scope)
        tx.notify(json.dumps({"scope": scope, "version": at, "add": [person, embedding]}))

        def apply() -> None:
            self._names[person] = name
            gallery = self._galleries.get(scope)
            if gallery is not None and gallery.version == at - 1:
                gallery.add(person, vector)
                gallery.version = at

        tx.after_commit(apply)

    async def removed(self, tx: Transaction, scope: str, people: list[int]) -> None:
        """Every row of ``people`` in the locked ``scope`` was deleted."""
        at = await bump(tx, scope)
        payload = json.dumps({"scope": scope, "version": at, "remove": people})
        if len(payload) > MAX_PAYLOAD:
            payload = json.dumps({"scope": scope, "version": at, "reload": True})
        tx.notify(payload)
        tx.after_commit(lambda: self._remove(scope, at, people))

    def forgotten(self, tx: Transaction, person: int) -> None:
        """The person is gone: their name leaves every process's memory."""
        tx.notify(json.dumps({"person": person}))
        tx.after_commit(lambda: self._names.pop(person, None))

    def _remove(self, scope: str, at: int, people: list[int] | None) -> None:
        gallery = self._galleries.get(scope)
        if gallery is None or gallery.version >= at:
            return
        if gallery.version != at - 1 or people is None:
            self._drop(scope)
            return
        for person in people:
            gallery.remove(person)
        gallery.version = at

    def _drop(self, scope: str) -> None:
        """Forget the scope's gallery, zeroing its rows; it is reloaded when next asked for."""
        gallery = self._galleries.pop(scope, None)
        if gallery is not None:
            gallery.clear()

    # --- other processes' changes -------------------------------------------------------

    def _heard(self, payload: str) -> None:
        self._queue.append(payload)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while self._queue:
            payload = self._queue.pop(0)
            try:
                await self._apply(payload)
            except Exception:  # never fatal: the version check on the next query catches up
                log.exception("could not apply the change %r", payload[:200])
                if scope := _scope_of(payload):
                    self._drop(scope)
            async with self._changed:
                self._changed.notify_all()

    async def _apply(self, payload: str) -> None:
        if not payload:  # the notification connection was lost: anything may have changed
            for scope in list(self._galleries):
                self._drop(scope)
            return
        change = json.loads(payload)
        if "person" in change:
            self._names.pop(int(change["person"]), None)
            return
        scope, at = change["scope"], int(change["version"])
        if "remove" in change or "reload" in change:
            self._remove(scope, at, change.get("remove"))
            return
        gallery = self._galleries.get(scope)
        if gallery is None or gallery.version >= at:
            return
        person, embedding = change["add"]
        row = await self.db.fetchone(
            "SELECT p.platform, p.user_id, p.display_name, e.vector FROM embeddings e"
            " JOIN registrations r ON r.id = e.registration_id JOIN people p ON p.id = r.person_id"
            " WHERE e.id = ? AND e.embedder = ?",
            (embedding, self.embedder),
        )
        gallery = self._galleries.get(scope)  # it may have been reloaded meanwhile
        if gallery is None or gallery.version >= at:
            return
        if gallery.version != at - 1:
            self._drop(scope)
            return
        if row is not None:  # else it is already gone again: its removal follows
            self._names[person] = Name(row[0], row[1], row[2])
            gallery.add(person, np.frombuffer(row[3], np.float32))
        gallery.version = at

    async def close(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
            self._worker = None


def _scope_of(payload: str) -> str | None:
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        return json.loads(payload).get("scope")
    return None


async def version(q: Queries, scope: str) -> int:
    """The scope's version: how many changes its registrations have had."""
    row = await q.fetchone("SELECT version FROM scopes WHERE scope = ?", (scope,))
    return int(row[0]) if row else 0


async def bump(tx: Transaction, scope: str) -> int:
    """The scope's next version, taken in ``tx`` (whose commit publishes it)."""
    row = await tx.fetchone(
        "INSERT INTO scopes (scope, version) VALUES (?, 1) ON CONFLICT (scope)"
        " DO UPDATE SET version = scopes.version + 1 RETURNING version",
        (scope,),
    )
    assert row is not None
    return int(row[0])
