"""Abuse and faults: floods, forged buttons, junk, broken models, a failing database and API."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import sqlite3
from pathlib import Path

import pytest
import pytest_asyncio
from PIL import Image

from bot.app import redact_secrets
from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, Upload, User
from engine.engine import Engine
from engine.pipeline import Pipeline
from tests.conftest import encode
from tests.fakes.telegram import FakeTelegram, photo_sizes, telegram_bot, user
from tests.test_telegram import next_reply, push_text, sent_to, text_of, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = Chat("telegram", "-77", is_group=True)
OTHER_GROUP = Chat("telegram", "-78", is_group=True)
ALICE = User("telegram", "11", "Alice", "en")
BOB = User("telegram", "12", "Bob", "en")
MALLORY = User("telegram", "13", "Mallory", "en")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def upload(data: bytes, content_type: str | None = "image/jpeg", size: int | None = None) -> Upload:
    async def fetch() -> bytes:
        upload.fetched += 1  # type: ignore[attr-defined]
        return data

    return Upload(size=len(data) if size is None else size, content_type=content_type, fetch=fetch)


upload.fetched = 0  # type: ignore[attr-defined]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(tmp_path_factory, pipeline: Pipeline, toy_model):
    settings = dataclasses.replace(
        pipeline.settings,
        model=toy_model,
        db=tmp_path_factory.mktemp("db") / "hard.sqlite3",
        db_timeout=0.2,
    )
    engine = Engine(settings)
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
def conversation(engine: Engine) -> Conversation:
    settings = BotSettings(rate_limit_photos=3, rate_limit_seconds=60, admin_ids=("telegram:12",))
    return Conversation(engine, settings, clock=Clock())


# --- abuse -------------------------------------------------------------------------------


async def test_a_flood_is_limited_and_others_are_still_served(
    conversation: Conversation, astronaut: Image.Image
) -> None:
    data = encode(astronaut, "JPEG")
    answers = await asyncio.gather(
        *(conversation.on_photo(GROUP, MALLORY, upload(data), True) for _ in range(8))
    )
    served = [a for a in answers if a[0].pictures]
    limited = [a for a in answers if "faster than I can look" in a[0].text]
    assert (len(served), len(limited)) == (3, 5)
    (reply,) = await conversation.on_photo(GROUP, BOB, upload(data), True)
    assert reply.pictures and "Eileen Collins" in reply.text


async def test_huge_and_unsupported_uploads_are_refused_before_download(
    conversation: Conversation,
) -> None:
    upload.fetched = 0  # type: ignore[attr-defined]
    (huge,) = await conversation.on_photo(GROUP, ALICE, upload(b"x", size=10**9), True)
    assert "too big" in huge.text
    (video,) = await conversation.on_photo(GROUP, ALICE, upload(b"x", "video/mp4"), True)
    assert "isn't a photo I can read" in video.text
    assert upload.fetched == 0  # type: ignore[attr-defined]
    (pdf,) = await conversation.on_photo(GROUP, ALICE, upload(b"%PDF-1.4\n" * 50, None), True)
    assert "isn't a photo I can read" in pdf.text


async def test_commands_with_junk_arguments(conversation: Conversation) -> None:
    (lang,) = await conversation.on_command(GROUP, ALICE, "lang", "klingon")
    assert lang.buttons  # it asks instead
    (whoami,) = await conversation.on_command(GROUP, ALICE, "whoami", "\x00" * 500)
    assert "Send me a photo" in whoami.text
    (unknown,) = await conversation.on_command(GROUP, ALICE, "rm -rf /", "")
    assert "don't know that command" in unknown.text
    (register,) = await conversation.on_command(GROUP, ALICE, "REGISTER", "please now!!")
    assert register.buttons


async def test_forged_and_replayed_buttons_do_nothing(
    conversation: Conversation, engine: Engine, hopper: Image.Image
) -> None:
    (question,) = await conversation.on_command(GROUP, BOB, "register", "", upload(encode(hopper)))
    yes = next(b.data for b in question.buttons if ":yes:" in b.data)
    stolen = await conversation.on_button(GROUP, MALLORY, yes)
    assert stolen.notice and "for the person who asked" in stolen.notice and not stolen.replies
    forged = yes.rsplit(":", 1)[0] + ":00000000"
    assert "expired" in (await conversation.on_button(GROUP, BOB, forged)).notice
    assert "expired" in (await conversation.on_button(GROUP, BOB, "garbage")).notice
    elsewhere = await conversation.on_button(OTHER_GROUP, BOB, yes)  # a chat he wasn't asked in
    assert "expired" in elsewhere.notice and not elsewhere.replies
    done = await conversation.on_button(GROUP, BOB, yes)
    assert "I'll recognise you here" in done.replies[0].text
    replayed = await conversation.on_button(GROUP, BOB, yes)
    assert "expired" in replayed.notice and not replayed.replies
    assert [r["scope"] for r in (await engine.export(BOB.person()))["registrations"]] == [
        GROUP.scope
    ]
    await engine.forget(BOB.person())


async def test_admin_commands_are_checked(conversation: Conversation) -> None:
    (refused,) = await conversation.on_command(GROUP, ALICE, "stats", "")
    assert "for the bot's admins" in refused.text
    (in_group,) = await conversation.on_command(GROUP, BOB, "stats", "")
    assert "only in a private chat" in in_group.text  # an admin's figures stay private
    private = Chat("telegram", BOB.id)
    (stats,) = await conversation.on_command(private, BOB, "stats", "")
    assert "Celebrity model: 3 people" in stats.text and stats.private


# --- faults -------------------------------------------------------------------------------


async def test_a_missing_or_corrupt_model_leaves_the_rest_working(
    tmp_path: Path, pipeline: Pipeline, hopper: Image.Image, astronaut: Image.Image
) -> None:
    (tmp_path / "broken.npz").write_bytes(b"\x00" * 100)
    (tmp_path / "broken.json").write_text('{"classes": ["A"], "embedder": ')
    settings = dataclasses.replace(
        pipeline.settings, model=tmp_path / "broken", db=tmp_path / "db.sqlite3"
    )
    engine = Engine(settings)
    await engine.start()  # starts anyway
    conversation = Conversation(engine, BotSettings())
    try:
        (reply,) = await conversation.on_photo(GROUP, ALICE, upload(encode(hopper)), True)
        assert "isn't available right now, but I found 1 face" in reply.text
        await engine.register(GROUP.scope, ALICE.person(), encode(astronaut))
        (match,) = (await engine.whoami(GROUP.scope, encode(astronaut))).faces
        assert match.person.display_name == "Alice"
    finally:
        await engine.close()


async def test_storage_faults_end_in_a_clear_error_and_lose_nothing(
    engine: Engine, astronaut: Image.Image, hopper: Image.Image
) -> None:
    conversation = Conversation(engine, BotSettings(rate_limit_photos=100))
    await engine.register(OTHER_GROUP.scope, ALICE.person(), encode(astronaut))
    path = engine.settings.db

    async def register_bob() -> str:
        (question,) = await conversation.on_command(
            OTHER_GROUP, BOB, "register", "", upload(encode(hopper))
        )
        yes = next(b.data for b in question.buttons if ":yes:" in b.data)
        return (await conversation.on_button(OTHER_GROUP, BOB, yes)).replies[0].text

    locker = sqlite3.connect(path)
    locker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        assert "can't save anything right now" in await register_bob()
    finally:
        locker.rollback()
        locker.close()

    await engine.db.conn.execute("PRAGMA query_only = 1")  # as if the file were read-only
    try:
        assert "can't save anything right now" in await register_bob()
    finally:
        await engine.db.conn.execute("PRAGMA query_only = 0")

    conn = engine.db.conn
    (pages,) = await engine.db.fetchone("PRAGMA page_count")
    await conn.execute(f"PRAGMA max_page_count = {pages + 1}")  # a disk about to fill up
    try:
        for size in (3000, 300, 30):  # fill every page, down to its last bytes
            with pytest.raises(sqlite3.OperationalError, match="full"):
                for i in range(10_000):
                    await conn.execute(
                        "INSERT INTO people (platform, user_id, display_name, created_at)"
                        " VALUES ('filler', ?, ?, 'now')",
                        (f"{size}-{i}", "x" * size),
                    )
        assert "can't save anything right now" in await register_bob()
    finally:
        await conn.execute("DELETE FROM people WHERE platform = 'filler'")
        await conn.execute("PRAGMA max_page_count = 1073741823")

    (alice,) = (await engine.whoami(OTHER_GROUP.scope, encode(astronaut))).faces
    assert alice.person.display_name == "Alice"  # nothing lost
    assert await engine.db.integrity_check() == "ok"
    assert "I'll recognise you" in await register_bob()  # and it works again
    await engine.forget(BOB.person())


async def test_the_bot_api_failing_is_retried_and_nothing_is_lost(
    engine: Engine, astronaut: Image.Image
) -> None:
    fake = FakeTelegram()
    await fake.start()
    try:
        async with telegram_bot(fake, engine, telegram_timeout=1.0):
            fake.failures = {"getFile": [500], "sendMediaGroup": [502, 500]}
            start = len(fake.calls)
            data = encode(astronaut, "JPEG")
            file_id = fake.add_file(data)
            fake.push(
                message=fake.message(901, user(901, "Eve"), photo=photo_sizes(file_id, len(data)))
            )
            reply = await next_reply(fake, 901, start)
            assert "Eileen Collins" in text_of(reply)
            failed = [m for m, _ in fake.calls[start:] if "!" in m]
            assert failed == ["getFile!500", "sendMediaGroup!502", "sendMediaGroup!500"]

            fake.failures = {"sendMessage": [429]}  # flood control: retry_after 1 s
            start = len(fake.calls)
            push_text(fake, 901, user(901, "Eve"), "/help")
            assert "/register" in text_of(await next_reply(fake, 901, start))

            fake.delays = {"sendMessage": [2.5]}  # longer than TELEGRAM_TIMEOUT
            start = len(fake.calls)
            push_text(fake, 901, user(901, "Eve"), "/privacy")
            # The server finishes the stalled call after the client gave up on it, 1.5 s
            # after any retry would have arrived: exactly one copy must reach the chat.
            await wait_for(fake, lambda c: any(m == "sendMessage!slow" for m, _ in c[start:]))
            await next_reply(fake, 901, start)
            copies = [p for _, p in sent_to(fake, 901, start) if "Privacy" in text_of(p)]
            assert len(copies) == 1
    finally:
        await fake.stop()


async def test_tokens_never_reach_the_logs(
    engine: Engine, caplog: pytest.LogCaptureFixture, hopper: Image.Image
) -> None:
    fake = FakeTelegram(token="987654:SECRET-TOKEN-NOT-FOR-LOGS")
    await fake.start()
    factory = logging.getLogRecordFactory()
    redact_secrets([fake.token])
    caplog.set_level(logging.DEBUG)
    try:
        async with telegram_bot(fake, engine):
            start = len(fake.calls)
            data = encode(hopper, "JPEG")
            fake.push(
                message=fake.message(
                    902, user(902, "Ann"), photo=photo_sizes(fake.add_file(data), len(data))
                )
            )
            await next_reply(fake, 902, start)
            logging.getLogger("test").exception("with a URL: %s", fake.base_url + fake.token)
    finally:
        await fake.stop()
        logging.setLogRecordFactory(factory)
    texts = [r.getMessage() + (r.exc_text or "") for r in caplog.records]
    assert not [t for t in texts if fake.token in t]
    assert any("[token]" in t for t in texts), "nothing logged a URL: the test proves nothing"
