"""The storage primitives replicas share, on SQLite and on PostgreSQL: rate limits, claims,
overdue rounds, and one registry seen through several processes' storages."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import numpy as np
import pytest

from engine.chats import ChatSettings
from engine.embedders import normalise
from engine.errors import DuplicateFace, RegistrationLimit
from engine.faces import Face
from engine.gallery import MatchPolicy
from engine.game_store import Game
from engine.registry import Match, Person, Registry, Unknown
from engine.storage import Storage, connect
from engine.storage.postgres import PostgresStorage, placeholders, redacted
from engine.storage.shared import Claims, RateLimits
from engine.storage.sqlite import SQLiteStorage

FACE = Face((0, 0, 1, 1), 1.0, ())
SCOPE = "telegram:-1"


def registry_on(db: Storage, dim: int = 16, **policy: object) -> Registry:
    return Registry(db, embedder="dlib", dim=dim, policy=MatchPolicy(0.9, **policy), limit=5)


def test_the_url_chooses_the_backend(tmp_path: Path) -> None:
    assert isinstance(connect(tmp_path / "a.sqlite3"), SQLiteStorage)
    relative = connect("sqlite:///run/data/x.sqlite3")
    assert isinstance(relative, SQLiteStorage) and relative.path == Path("run/data/x.sqlite3")
    assert connect("sqlite:////tmp/x.sqlite3").path == Path("/tmp/x.sqlite3")
    assert isinstance(connect("postgresql://bot:secret@db:5432/lookalike"), PostgresStorage)
    assert isinstance(connect("postgres://db/lookalike"), PostgresStorage)
    with pytest.raises(ValueError, match="unknown database kind 'mysql'"):
        connect("mysql://db/x")
    with pytest.raises(ValueError, match="sqlite:///PATH"):
        connect("sqlite://relative")
    assert "secret" not in repr(connect("postgresql://bot:secret@db:5432/lookalike"))
    assert redacted("postgresql://bot:secret@db/x") == "postgresql://bot:***@db/x"
    assert placeholders("SELECT ? WHERE a = ? AND b = ?") == "SELECT $1 WHERE a = $2 AND b = $3"


# --- rate limits ----------------------------------------------------------------------


async def test_a_budget_holds_and_says_how_long_to_wait(storage_url: str) -> None:
    db = connect(storage_url)
    await db.open()
    try:
        now = [1000.0]
        limits = RateLimits(db, clock=lambda: now[0])
        assert [await limits.charge("photos:1", 1, 60, 3) for _ in range(3)] == [0, 0, 0]
        assert await limits.charge("photos:1", 1, 60, 3) == pytest.approx(60)
        assert await limits.charge("photos:2", 1, 60, 3) == 0  # another key, its own budget
        now[0] += 30
        assert await limits.charge("photos:1", 1, 60, 3) == pytest.approx(30)  # nothing recorded
        assert await limits.charge("photos:1", 0, 60, 3, check_only=True) == 0  # 3 of 3: none left
        now[0] += 30.5  # the first three leave the window
        assert await limits.charge("photos:1", 2, 60, 3, check_only=True) == 0
        assert await limits.charge("photos:1", 2, 60, 3) == 0
        assert await limits.charge("photos:1", 2, 60, 3) == pytest.approx(60)

        # Worker-seconds: checked before the work, charged after it, even past the budget.
        assert await limits.charge("seconds:1", 0, 10, 5, check_only=True) == 0
        assert await limits.charge("seconds:1", 4, 10, 5, force=True) == 0
        now[0] += 2
        assert await limits.charge("seconds:1", 3, 10, 5, force=True) == pytest.approx(8)
        assert await limits.charge("seconds:1", 0, 10, 5) == pytest.approx(8)
        now[0] += 8
        assert await limits.charge("seconds:1", 0, 10, 5) == 0  # 3 s left in the window
        assert await limits.charge("big", 10, 60, 5) == 60  # more than the budget: never fits
    finally:
        await db.close()


async def test_a_budget_holds_across_replicas(replicas: list[Storage]) -> None:
    limits = [RateLimits(db) for db in replicas]
    waits = await asyncio.gather(*(limits[i % 3].charge("photos:7", 1, 60, 10) for i in range(30)))
    assert sum(w == 0 for w in waits) == 10
    assert all(0 < w <= 60 for w in waits if w)


# --- claims -----------------------------------------------------------------------------


async def test_each_update_is_claimed_once(replicas: list[Storage]) -> None:
    claims = [Claims(db) for db in replicas]
    outcomes = await asyncio.gather(
        *(claims[r].claim("telegram", update) for update in range(40) for r in range(3))
    )
    won = np.array(outcomes).reshape(40, 3)
    assert (won.sum(axis=1) == 1).all()  # exactly one replica answers each update
    assert await claims[0].claim("discord", 0)  # the platforms' ids are apart


async def test_old_claims_expire(storage_url: str) -> None:
    db = connect(storage_url)
    await db.open()
    try:
        now = [1000.0]
        claims = Claims(db, keep_s=60, clock=lambda: now[0])
        assert await claims.claim("telegram", 1)
        assert not await claims.claim("telegram", 1)
        now[0] += 120
        await claims.claim("telegram", 2)  # a claim now and then sweeps the old ones
        assert await claims.claim("telegram", 1)
        assert (await db.fetchone("SELECT COUNT(*) FROM claims"))[0] == 2
    finally:
        await db.close()


# --- game rounds --------------------------------------------------------------------------


async def test_an_overdue_round_is_ended_once_by_whichever_replica_is_alive(
    replicas: list[Storage],
) -> None:
    now = [1_800_000_000.0]
    games = [Game(db, clock=lambda: now[0]) for db in replicas]
    host = Person("telegram", "1", "Host", "en")
    round_ = await games[0].start(SCOPE, "Tony_Blair", host, 60)
    assert await games[1].overdue() == []
    await replicas[0].close()  # the replica that started it dies
    now[0] += 61
    (due,) = await games[1].overdue("telegram")
    assert due.id == round_.id and await games[2].overdue("discord") == []
    results = await asyncio.gather(games[1].finish(due.id), games[2].finish(due.id))
    assert sum(r is not None for r in results) == 1  # ended exactly once
    assert await games[2].overdue() == []
    await replicas[0].open()  # the fixture closes it again


# --- one registry, several processes --------------------------------------------------------


async def test_register_on_a_is_seen_on_b_and_forget_on_c_erases_it_everywhere(
    replicas: list[Storage],
) -> None:
    a, b, c = (registry_on(db) for db in replicas)
    rng = np.random.default_rng(3)
    alice, bob = normalise(rng.normal(size=(2, 16)).astype(np.float32))
    await b.add(SCOPE, Person("telegram", "2", "Bob"), bob, FACE)  # B's gallery is loaded
    assert not await a.anyone("telegram:-2")
    await a.add(SCOPE, Person("telegram", "1", "Alice"), alice, FACE)
    assert await b.anyone(SCOPE)
    (seen,) = await b.match(SCOPE, [FACE], alice[None])  # at once, without waiting
    assert isinstance(seen, Match) and seen.person.display_name == "Alice"

    forgotten = await c.forget("telegram", "1")
    assert forgotten.scopes == (SCOPE,) and forgotten.embeddings == 1

    def alice_in_b_memory() -> bool:
        held = b.galleries.held(SCOPE)
        return held is not None and bool((held.vectors @ alice > 0.99).any())

    # A listening replica drops the vector from memory within a second, with no query
    # of its own; one that hears nothing (SQLite) reloads at its next query.
    started = time.monotonic()
    for _ in range(200 if replicas[1].listening else 0):
        if not alice_in_b_memory() or time.monotonic() - started > 1.0:
            break
        await asyncio.sleep(0.005)
    assert alice_in_b_memory() is not replicas[1].listening
    (gone,) = await b.match(SCOPE, [FACE], alice[None])
    assert isinstance(gone, Unknown) and not alice_in_b_memory()
    (still,) = await a.match(SCOPE, [FACE], bob[None])
    assert isinstance(still, Match) and still.person.display_name == "Bob"


async def test_the_photo_limit_and_the_duplicate_face_check_hold_across_replicas(
    replicas: list[Storage],
) -> None:
    registries = [registry_on(db) for db in replicas]
    rng = np.random.default_rng(4)
    dana = Person("telegram", "9", "Dana")
    vectors = normalise(rng.normal(size=(9, 16)).astype(np.float32))
    outcomes = await asyncio.gather(
        *(registries[i % 3].add(SCOPE, dana, v, FACE) for i, v in enumerate(vectors)),
        return_exceptions=True,
    )
    stored = [i for i, o in enumerate(outcomes) if not isinstance(o, Exception)]
    assert len(stored) == 5
    assert all(isinstance(o, RegistrationLimit) for o in outcomes if isinstance(o, Exception))
    twin = Person("telegram", "10", "Twin")
    for registry, i in zip(registries, stored, strict=False):  # each knows all of Dana's
        with pytest.raises(DuplicateFace):
            await registry.add(SCOPE, twin, vectors[i], FACE)
    for registry in registries:
        assert (await registry.gallery(SCOPE)).count(1) == 5


async def test_register_forget_and_whoami_racing_never_name_the_wrong_person(
    storage_url: str,
) -> None:
    """Matching runs in a worker thread while registrations and erasures change the
    gallery on the event loop; before snapshots, this raised IndexError with top2 and,
    after a removal compacted the arrays, could name the wrong person."""
    db = connect(storage_url)
    await db.open()
    registry = registry_on(db, dim=64, aggregate="top2")
    try:
        rng = np.random.default_rng(0)
        gallery = await registry.gallery(SCOPE)
        background = normalise(rng.normal(size=(4000, 64)).astype(np.float32))
        gallery.extend(np.arange(10**6, 10**6 + 4000) // 2, background)  # makes queries slow
        churn = normalise(rng.normal(size=(20, 64)).astype(np.float32))
        failures: list[str] = []
        stop = time.monotonic() + 3

        async def writer(i: int) -> None:
            person = Person("telegram", str(i), f"P{i}")
            while time.monotonic() < stop:
                await registry.add(SCOPE, person, churn[i], FACE)
                await registry.add(SCOPE, person, normalise(churn[i] + 0.01), FACE)
                await registry.forget("telegram", str(i), SCOPE)

        async def reader(i: int) -> None:
            wanted = [i, (i + 1) % len(churn)]
            while time.monotonic() < stop:
                try:
                    results = await registry.match(SCOPE, [FACE, FACE], churn[wanted])
                except Exception as exc:
                    failures.append(repr(exc))
                    continue
                for result, want in zip(results, wanted, strict=True):
                    if isinstance(result, Match) and result.person.user_id != str(want):
                        failures.append(f"{want} named {result.person.user_id}")

        await asyncio.gather(*(writer(i) for i in range(20)), *(reader(i) for i in range(20)))
        assert not failures, failures[:5]
    finally:
        await registry.close()
        await db.close()


async def test_a_lost_notification_connection_is_reopened_and_memory_rebuilt(request) -> None:
    from tests.conftest import new_database

    db = connect(new_database(request, "postgresql", Path()))
    await db.open()
    registry = registry_on(db)
    try:
        (vector,) = normalise(np.random.default_rng(5).normal(size=(1, 16)).astype(np.float32))
        await registry.add(SCOPE, Person("telegram", "1", "Ivy"), vector, FACE)
        assert db.listening and registry.galleries.held(SCOPE) is not None
        (listener,) = await db.fetchall(
            "SELECT pid FROM pg_stat_activity"
            " WHERE query LIKE 'LISTEN%' AND pid != pg_backend_pid()"
        )
        await db.execute("SELECT pg_terminate_backend(?)", listener)
        # Whatever it missed meanwhile, memory is dropped and rebuilt from the database.
        for _ in range(500):
            if db.listening and registry.galleries.held(SCOPE) is None:
                break
            await asyncio.sleep(0.01)
        assert db.listening and registry.galleries.held(SCOPE) is None
        (match,) = await registry.match(SCOPE, [FACE], vector[None])
        assert isinstance(match, Match) and match.person.display_name == "Ivy"
    finally:
        await registry.close()
        await db.close()


# --- what a chat chose -------------------------------------------------------------------


async def test_a_chats_fields_are_kept_per_chat_and_seen_by_every_replica(
    replicas: list[Storage],
) -> None:
    a, b = ChatSettings(replicas[0]), ChatSettings(replicas[1])
    assert await a.fields(SCOPE) is None
    await a.set_fields(SCOPE, ["sport", "film", "sport"])
    assert await b.fields(SCOPE) == ("film", "sport")  # FIELDS order, each once
    assert await b.fields("telegram:-2") is None
    await b.set_fields(SCOPE, ["music"])
    assert await a.fields(SCOPE) == ("music",)
    await a.set_fields(SCOPE, None)
    assert await b.fields(SCOPE) is None
    with pytest.raises(ValueError, match="not a field: cooking"):
        await a.set_fields(SCOPE, ["cooking"])
