"""Registration, recognition and erasure, on real photos, on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image, ImageFilter

from engine.embedders import normalise
from engine.engine import Engine
from engine.errors import (
    DuplicateFace,
    FaceTooBlurry,
    FaceTooSmall,
    NoFaceFound,
    RegistrationLimit,
    TooManyFaces,
)
from engine.faces import Face
from engine.gallery import MatchPolicy
from engine.pipeline import Pipeline
from engine.registry import Match, Person, Registry, Unknown
from engine.storage import DatabaseError, connect
from engine.storage import postgres as pg_backend
from engine.storage import sqlite as sqlite_backend
from tests.conftest import ROOT, encode

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = Person("telegram", "1001", "Alice", "en")
BOB = Person("telegram", "1002", "Bob", "es")
CHAT = "telegram:-500"
OTHER_CHAT = "telegram:-600"
FACE = Face((0, 0, 100, 100), 1.0, ())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(module_storage_url: str, pipeline: Pipeline):
    settings = dataclasses.replace(pipeline.settings, db=module_storage_url)
    engine = Engine(settings, pipeline=pipeline)
    await engine.start()
    yield engine
    await engine.registry.close()
    await engine.db.close()


async def test_register_then_recognise_only_in_that_chat(
    engine: Engine, astronaut_png: bytes, hopper_jpg: bytes
) -> None:
    result = await engine.register(CHAT, ALICE, astronaut_png)
    assert result.photos == 1 and result.limit == 5
    (match,) = (await engine.whoami(CHAT, astronaut_png)).faces
    assert isinstance(match, Match) and match.person.display_name == "Alice"
    (stranger,) = (await engine.whoami(CHAT, hopper_jpg)).faces
    assert isinstance(stranger, Unknown)
    elsewhere = await engine.whoami(OTHER_CHAT, astronaut_png)
    assert not elsewhere.anyone and elsewhere.faces == ()  # nobody there: not even looked at


async def test_copies_of_a_registered_face_are_recognised(
    engine: Engine, hopper: Image.Image
) -> None:
    await engine.register(CHAT, BOB, encode(hopper, "JPEG"))
    mirrored = hopper.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((400, 469))
    (match,) = (await engine.whoami(CHAT, encode(mirrored, "WEBP"))).faces
    assert isinstance(match, Match) and match.person.user_id == "1002"


async def test_refusals(engine: Engine, astronaut: Image.Image, group_photo, no_face) -> None:
    refusals = {
        NoFaceFound: encode(no_face, "JPEG"),
        TooManyFaces: encode(group_photo, "JPEG"),
        FaceTooSmall: encode(astronaut.resize((200, 200)), "PNG"),  # a 35 px face
        FaceTooBlurry: encode(astronaut.filter(ImageFilter.GaussianBlur(3)), "PNG"),
    }
    carol = Person("telegram", "1003", "Carol")
    for error, photo in refusals.items():
        with pytest.raises(error):
            await engine.register(CHAT, carol, photo)
    # The astronaut is Alice's here: nobody else may register that face.
    with pytest.raises(DuplicateFace):
        await engine.register(CHAT, carol, encode(astronaut, "PNG"))


async def test_photo_limit(engine: Engine, astronaut: Image.Image) -> None:
    dave = Person("discord", "77", "Dave")
    for size in (512, 480, 450, 420, 400):
        await engine.register("discord:9", dave, encode(astronaut.resize((size, size)), "PNG"))
    with pytest.raises(RegistrationLimit, match="5 photos"):
        await engine.register("discord:9", dave, encode(astronaut, "PNG"))


async def test_forget_erases_the_file_and_memory(engine: Engine, astronaut: Image.Image) -> None:
    erin = Person("telegram", "2001", "Erin")
    photo = encode(astronaut.resize((470, 470)), "JPEG")  # Erin's own bytes, not Alice's
    await engine.register("telegram:-700", erin, photo)
    await engine.register("telegram:-701", erin, photo)
    exported = await engine.export(erin)
    assert exported["person"]["display_name"] == "Erin"
    assert len(exported["registrations"][0]["embeddings"][0]["vector"]) == 128
    (row,) = await engine.db.fetchall(
        "SELECT vector FROM embeddings e JOIN registrations r ON r.id = e.registration_id"
        " JOIN people p ON p.id = r.person_id WHERE p.user_id = '2001' LIMIT 1"
    )
    needle = row[0][:64]  # the stored bytes, exactly
    gallery = await engine.registry.gallery("telegram:-700")
    assert len(gallery) == 1

    forgotten = await engine.forget(erin, scope="telegram:-700")
    assert forgotten.scopes == ("telegram:-700",) and not forgotten.person_deleted
    assert len(gallery) == 0
    (match,) = (await engine.whoami("telegram:-701", photo)).faces
    assert isinstance(match, Match)

    everything = await engine.forget(erin)
    assert everything.scopes == ("telegram:-701",) and everything.person_deleted
    assert (await engine.export(erin)) == {"person": None, "registrations": []}
    if "://" not in engine.settings.db:  # SQLite: the file and its journal hold no trace
        path = Path(engine.settings.db)
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert needle not in raw
    start = np.frombuffer(needle, np.float32)  # no gallery row begins with it any more
    assert not any(
        (g.vectors[:, : len(start)] == start).all(1).any() for g in engine.registry.galleries
    )
    assert everything.language is False  # Erin never chose one


async def test_forget_someone_unknown(engine: Engine) -> None:
    result = await engine.forget(Person("telegram", "nobody"))
    assert not result.anything


async def test_retention_expires_unused_registrations(engine: Engine, hopper_jpg: bytes) -> None:
    frank = Person("telegram", "3001", "Frank")
    await engine.register("telegram:-800", frank, hopper_jpg)
    async with engine.db.transaction() as tx:
        await tx.execute(
            "UPDATE registrations SET last_used_at = '2000-01-01T00:00:00+00:00'"
            " WHERE scope = 'telegram:-800'"
        )
    assert await engine.registry.expire(365) == 1
    nobody = await engine.whoami("telegram:-800", hopper_jpg)
    assert not nobody.anyone and nobody.faces == ()


async def test_language_is_kept_and_forgotten(engine: Engine) -> None:
    grace = Person("discord", "5", "Grace")
    assert await engine.language(grace) is None
    await engine.set_language(grace, "es")
    assert await engine.language(grace) == "es"
    forgotten = await engine.forget(grace)
    assert forgotten.language and forgotten.anything and forgotten.scopes == ()
    assert await engine.language(grace) is None
    assert not (await engine.forget(grace)).language


async def test_engines_sharing_a_database_act_as_one(
    engine: Engine, pipeline: Pipeline, astronaut: Image.Image
) -> None:
    """Replicas: a face registered through A is recognised through B at once, and
    forgotten through C, it is unknown to every one of them."""
    b, c = Engine(engine.settings, pipeline=pipeline), Engine(engine.settings, pipeline=pipeline)
    await b.start()
    await c.start()
    try:
        scope, hana = "telegram:-900", Person("telegram", "4001", "Hana")
        photo = encode(astronaut.resize((460, 460)), "PNG")
        assert not await b.has_registrations(scope)
        before = await b.whoami(scope, photo)  # nobody there yet, as B sees it
        assert not before.anyone
        await engine.register(scope, hana, photo)
        assert await b.has_registrations(scope) and await c.has_registrations(scope)
        (seen,) = (await b.whoami(scope, photo)).faces
        assert isinstance(seen, Match) and seen.person.display_name == "Hana"
        forgotten = await c.forget(hana)
        assert forgotten.scopes == (scope,) and forgotten.person_deleted
        for replica in (engine, b, c):
            gone = await replica.whoami(scope, photo)
            assert not gone.anyone and gone.faces == ()
            assert not await replica.has_registrations(scope)
    finally:
        await b.close()
        await c.close()


# --- the registry alone, with synthetic embeddings -----------------------------


@pytest_asyncio.fixture(loop_scope="module")
async def registry(storage_url: str):
    db = connect(storage_url)
    await db.open()
    registry = Registry(db, embedder="dlib", dim=8, policy=MatchPolicy(0.95), limit=5)
    yield registry
    await registry.close()
    await db.close()


async def test_one_hundred_concurrent_tasks(registry: Registry) -> None:
    rng = np.random.default_rng(1)
    vectors = normalise(rng.normal(size=(50, 8)))

    async def register(i: int) -> None:
        person = Person("telegram", str(i), f"P{i}")
        await registry.add("telegram:1", person, vectors[i], FACE)

    async def whoami(i: int) -> None:
        await registry.match("telegram:1", [FACE], vectors[i : i + 1])

    tasks = [register(i) for i in range(50)] + [whoami(i) for i in range(50)]
    order = rng.permutation(len(tasks))
    await asyncio.gather(*(tasks[i] for i in order))
    assert (await registry.stats())["embeddings"] == 50
    assert len(await registry.gallery("telegram:1")) == 50
    results = await registry.match("telegram:1", [FACE] * 50, vectors)
    assert [r.person.user_id for r in results] == [str(i) for i in range(50)]
    assert await registry.db.integrity_check() == "ok"
    if registry.db.listening:  # fifty first queries at once opened one notification connection
        rows = await registry.db.fetchall(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE query LIKE 'LISTEN%'"
            " AND datname = current_database()"
        )
        assert rows == [(1,)]


async def test_the_limit_holds_under_concurrency(registry: Registry) -> None:
    rng = np.random.default_rng(2)
    person = Person("discord", "9", "Nine")
    outcomes = await asyncio.gather(
        *(registry.add("discord:2", person, normalise(rng.normal(size=8)), FACE) for _ in range(9)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, Exception) for o in outcomes) == 5
    assert all(isinstance(o, RegistrationLimit) for o in outcomes if isinstance(o, Exception))


async def test_schema_is_versioned(tmp_path: Path) -> None:
    path = tmp_path / "v.sqlite3"
    db = connect(path)
    await db.open()
    assert (await db.fetchone("PRAGMA user_version"))[0] == len(sqlite_backend.MIGRATIONS)
    assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
    assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
    assert (await db.fetchone("PRAGMA secure_delete"))[0] == 1
    await db.close()
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {len(sqlite_backend.MIGRATIONS) + 1}")
    with pytest.raises(DatabaseError, match="newer"):
        await connect(path).open()


async def test_processes_starting_together_on_a_new_file_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "together.sqlite3"
    opened = [connect(path) for _ in range(6)]
    try:
        await asyncio.gather(*(db.open() for db in opened))  # bot processes starting at once
        for db in opened:
            assert (await db.fetchone("PRAGMA user_version"))[0] == len(sqlite_backend.MIGRATIONS)
    finally:
        for db in opened:
            await db.close()


async def test_postgres_schema_is_versioned_and_migrated_once(request) -> None:
    from tests.conftest import new_database

    url = new_database(request, "postgresql", Path())
    replicas = [connect(url) for _ in range(4)]
    await asyncio.gather(*(db.open() for db in replicas))  # they start together
    try:
        rows = await replicas[0].fetchall("SELECT version FROM schema_version ORDER BY 1")
        assert [r[0] for r in rows] == list(range(1, len(pg_backend.MIGRATIONS) + 1))
        await replicas[0].execute("INSERT INTO schema_version VALUES (?)", (99,))
        with pytest.raises(DatabaseError, match="newer"):
            await connect(url).open()
    finally:
        for db in replicas:
            await db.close()


def test_separate_processes_opening_a_new_file_at_one_instant_all_come_up(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "locked" at once, not after the busy timeout,
    while another process does the same: a bot's second shard once exited on it."""
    code = (
        "import asyncio, sys, time; from engine.storage import connect\n"
        "time.sleep(max(0.0, float(sys.argv[2]) - time.time()))\n"
        "async def main():\n"
        "    db = connect(sys.argv[1]); await db.open(); await db.close()\n"
        "asyncio.run(main())\n"
    )
    for attempt in range(4):
        path = tmp_path / f"new{attempt}.sqlite3"
        instant = time.time() + 3.0  # every process imported and waiting by then
        started = [
            subprocess.Popen(
                [sys.executable, "-c", code, str(path), str(instant)],
                cwd=ROOT,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        for process in started:
            _, err = process.communicate(timeout=60)
            assert process.returncode == 0, err
