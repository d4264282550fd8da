"""The real discord.py client against a fake Discord REST API and gateway on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import discord
import pytest
import pytest_asyncio

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.delivery import split_text
from bot.discord_bot import DiscordAdapter
from bot.scheduling import LoopScheduler
from engine.engine import Engine
from tests.conftest import encode
from tests.fakes.discord import (
    CHANNEL_ID,
    DEFERRED_MESSAGE,
    DEFERRED_UPDATE,
    GUILD_ID,
    MESSAGE,
    MESSAGE_CONTENT,
    FakeDiscord,
    Interaction,
    Sent,
    pointed_at,
    user,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = user(600_000_000_000_000_501, "Alice")
BOB = user(600_000_000_000_000_502, "Bob")
ALICE_DM = 600_000_000_000_000_901


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def bot(toy_engine: Engine):
    engine = toy_engine
    fake = FakeDiscord()
    await fake.start()
    settings = BotSettings(
        discord_token=fake.token, discord_guild_id=GUILD_ID, rate_limit_photos=100
    )
    with pointed_at(fake):
        adapter = DiscordAdapter(Conversation(engine, settings), settings)
        handle = adapter.on_message

        async def recorded(message: discord.Message) -> None:
            await handle(message)
            fake.handled.append(message.id)
            fake.changed.set()

        adapter.on_message = recorded  # type: ignore[method-assign]
        task = asyncio.create_task(adapter.run())
        await asyncio.wait_for(fake.connected.wait(), 30)
        yield fake, adapter
        adapter.stop()
        await asyncio.wait_for(task, 30)
    await fake.stop()


@pytest.fixture
def discord_fake(bot) -> FakeDiscord:
    return bot[0]


async def wait_for(fake: FakeDiscord, done: Callable[[], bool], within: float = 60) -> None:
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            seen = [f"{c.method} {c.path}" for c in fake.calls[-20:]]
            raise AssertionError(f"timed out; last calls: {seen}; sent: {fake.sent[-5:]}")
        fake.changed.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fake.changed.wait(), 0.5)


async def next_sent(fake: FakeDiscord, since: int, channel_id: int = CHANNEL_ID) -> Sent:
    """The next message the bot showed in a channel (a "thinking" placeholder once filled)."""

    def shown() -> list[Sent]:
        return [
            s
            for s in fake.sent[since:]
            if s.channel_id == channel_id and not s.thinking and not s.deleted
        ]

    await wait_for(fake, lambda: bool(shown()))
    return shown()[0]


async def answer(fake: FakeDiscord, interaction: Interaction) -> Sent:
    """What the bot showed in response to an interaction: its response or first follow-up."""

    def shown() -> list[Sent]:
        return [
            s
            for s in fake.sent
            if s.interaction == interaction.token and not s.thinking and not s.deleted
        ]

    await wait_for(fake, lambda: bool(shown()))
    return shown()[0]


async def test_a_photo_with_a_mention_gets_a_reply_with_files(
    discord_fake: FakeDiscord, astronaut, hopper
) -> None:
    fake, start = discord_fake, len(discord_fake.sent)
    unaddressed = fake.attachment(encode(hopper, "JPEG"))
    hidden = await fake.message(ALICE, [unaddressed])  # no mention: Discord hides the photo
    photo = fake.attachment(encode(astronaut, "JPEG"), "me.jpg")
    message = await fake.message(ALICE, [photo], mention_bot=True, content="who?")

    reply = await next_sent(fake, start)
    assert reply.reference == int(message["id"])
    assert [name for name, _ in reply.files] == ["faces.jpg", "lookalikes.jpg"]
    assert all(data[:2] == b"\xff\xd8" for _, data in reply.files)  # JPEGs
    assert "1. Eileen Collins" in reply.content and "%" in reply.content
    typing = [c for c in fake.calls if c.path == f"/channels/{CHANNEL_ID}/typing"]
    assert typing, "no typing indicator while the bot worked"
    assert fake.downloads == [photo["id"]]
    await wait_for(fake, lambda: {int(hidden["id"]), int(message["id"])} <= set(fake.handled))
    assert len(fake.sent[start:]) == 1  # only the mention was answered

    start = len(fake.sent)
    await fake.message(
        ALICE, [fake.attachment(encode(hopper, "JPEG"))], channel_id=ALICE_DM, dm=True
    )
    reply = await next_sent(fake, start, ALICE_DM)
    assert "Grace Hopper" in reply.content and len(reply.files) == 2


async def test_register_with_consent_then_whoami_then_forget(
    discord_fake: FakeDiscord, hopper
) -> None:
    fake = discord_fake
    photo = fake.attachment(encode(hopper, "JPEG"))
    asked = await fake.slash("register", BOB, locale="es-ES", attachments={"photo": photo})
    question = await answer(fake, asked)
    assert question.ephemeral and "¿Aceptas?" in question.content  # Bob's Discord is in Spanish
    assert list(question.buttons) == ["Sí, acepto", "No, gracias"]
    assert asked.callback == MESSAGE and asked.answered_after < 3
    assert fake.downloads.count(photo["id"]) == 0  # nothing is downloaded before consent

    # Alice cannot answer Bob's question (were it shown to her): she is told so, alone.
    meddled = await fake.press(question, ALICE, "Sí, acepto")
    notice = await answer(fake, meddled)
    assert notice.ephemeral and "for the person who asked" in notice.content
    assert question.buttons, "the question is still open"

    pressed = await fake.press(question, BOB, "Sí, acepto", locale="es-ES")
    done = await answer(fake, pressed)
    assert done.ephemeral and "Listo" in done.content
    assert not question.buttons, "the answered question keeps its buttons"
    assert fake.downloads.count(photo["id"]) == 1

    other = fake.attachment(encode(hopper.resize((400, 469)), "JPEG"))
    whoami = await fake.slash("whoami", ALICE, attachments={"photo": other})
    reply = await answer(fake, whoami)
    assert "Bob" in reply.content and not reply.ephemeral

    forget = await fake.slash("forget", BOB, locale="es-ES")
    confirm = await answer(fake, forget)
    assert confirm.ephemeral and confirm.buttons
    pressed = await fake.press(confirm, BOB, "Borrar todo", locale="es-ES")
    forgot = await answer(fake, pressed)
    assert forgot.ephemeral and "Borré 1" in forgot.content

    again = await fake.slash(
        "whoami", ALICE, attachments={"photo": fake.attachment(encode(hopper, "JPEG"))}
    )
    assert "Bob" not in (await answer(fake, again)).content


async def test_a_bad_attachment_gets_a_friendly_error(discord_fake: FakeDiscord, hopper) -> None:
    fake = discord_fake
    text = fake.attachment(b"not a photo", "notes.txt", "text/plain")
    reply = await answer(fake, await fake.slash("lookalike", ALICE, attachments={"photo": text}))
    assert "isn't a photo" in reply.content and "Traceback" not in reply.content

    huge = fake.attachment(b"\xff\xd8" + bytes(21_000_000), "huge.jpg")  # over 20 MB
    reply = await answer(fake, await fake.slash("lookalike", ALICE, attachments={"photo": huge}))
    assert "too big" in reply.content
    assert text["id"] not in fake.downloads and huge["id"] not in fake.downloads  # checked first

    start = len(fake.sent)
    data = encode(hopper, "JPEG")
    broken = fake.attachment(data[: len(data) // 3])
    await fake.message(ALICE, [broken], mention_bot=True)
    assert "damaged" in (await next_sent(fake, start)).content


async def test_slow_work_is_deferred_then_answered(bot, astronaut) -> None:
    fake, adapter = bot
    adapter.answer_within = 0.0  # as if the engine were busy: defer at once
    try:
        photo = fake.attachment(encode(astronaut, "JPEG"))
        asked = await fake.slash("lookalike", ALICE, attachments={"photo": photo})
        reply = await answer(fake, asked)
        assert asked.callback == DEFERRED_MESSAGE and asked.answered_after < 3
        assert reply is asked.original  # the "thinking" placeholder became the answer
        assert "Eileen Collins" in reply.content and len(reply.files) == 2

        # A private answer cannot replace a public placeholder: it goes, the answer is ephemeral.
        forget = await fake.slash("forget", ALICE)
        confirm = await answer(fake, forget)
        assert forget.original.deleted and confirm.ephemeral and confirm.buttons
        pressed = await fake.press(confirm, ALICE, "Cancel")
        cancelled = await answer(fake, pressed)
        assert pressed.callback == DEFERRED_UPDATE and cancelled.ephemeral
        assert not confirm.buttons  # removed by editing the message once answered
    finally:
        adapter.answer_within = DiscordAdapter.answer_within


async def test_help_and_the_registered_commands(discord_fake: FakeDiscord) -> None:
    fake = discord_fake
    assert fake.identify is not None
    assert not fake.identify["intents"] & MESSAGE_CONTENT  # privileged, and off by default
    assert None not in fake.commands  # DISCORD_GUILD_ID set: synced to that server only
    commands = {c["name"]: c for c in fake.commands[GUILD_ID]}
    assert {"lookalike", "register", "whoami", "forget", "help", "privacy", "lang"} <= set(commands)
    assert "start" not in commands
    photo, field = commands["lookalike"]["options"]
    assert photo["type"] == 11 and photo["required"]  # an attachment
    assert field["name"] == "field" and not field.get("required")  # /lookalike sport
    assert [c["value"] for c in field["choices"]][:3] == ["film", "music", "sport"]
    assert "fields" in commands  # a feature's command, from the same table
    (language,) = commands["lang"]["options"]
    assert [c["value"] for c in language["choices"]] == ["en", "es"]

    reply = await answer(fake, await fake.slash("help", ALICE, channel_id=ALICE_DM, dm=True))
    assert "/register" in reply.content and not reply.ephemeral
    assert "mention me" not in reply.content  # a DM is no group

    chosen = await answer(fake, await fake.slash("lang", ALICE, options={"language": "es"}))
    assert chosen.content == "Te hablaré en español."
    asked = await answer(fake, await fake.slash("lang", ALICE))
    done = await answer(fake, await fake.press(asked, ALICE, "English"))
    assert done.content == "I'll speak English with you." and not asked.buttons


async def test_the_scheduler_runs_replaces_and_cancels() -> None:
    scheduler, ran = LoopScheduler(), []

    def note(name: str):
        async def callback() -> None:
            ran.append(name)

        return callback

    async def turns(n: int = 20) -> None:  # let every task that can run, run
        for _ in range(n):
            await asyncio.sleep(0)

    scheduler.call_later(0.0, "round", note("first"))
    scheduler.call_later(0.0, "round", note("second"))  # replaces the first
    scheduler.call_later(0.0, "other", note("other"))
    scheduler.cancel("other")
    await turns()
    assert ran == []  # nothing runs before the client can send
    scheduler.start()
    await turns()
    assert ran == ["second"]
    scheduler.call_later(0.0, "later", note("later"))
    scheduler.stop()  # the adapter stops: pending timers go
    scheduler.start()
    await turns()
    assert ran == ["second"]


async def test_long_texts_are_split_at_line_ends() -> None:
    text = "\n".join(f"line {n:04d}" for n in range(500))
    pieces = split_text(text, 2000)
    assert all(len(p) <= 2000 for p in pieces) and len(pieces) > 1
    assert "\n".join(pieces) == text
    assert split_text("", 2000) == [""]


async def test_server_errors_and_rate_limits_are_retried_and_delivered_once(
    discord_fake: FakeDiscord, astronaut
) -> None:
    fake, start = discord_fake, len(discord_fake.sent)
    fake.failures = {"POST /channels/#/messages": [502, 429]}  # then it works
    calls = len(fake.calls)
    photo = fake.attachment(encode(astronaut, "JPEG"))
    message = await fake.message(ALICE, [photo], mention_bot=True)
    reply = await next_sent(fake, start)
    assert reply.reference == int(message["id"])
    posts = [c for c in fake.calls[calls:] if c.method == "POST" and c.path.endswith("/messages")]
    assert [c.failed for c in posts] == [502, 429, None]  # discord.py's own retries
    await wait_for(fake, lambda: int(message["id"]) in fake.handled)
    assert len([s for s in fake.sent[start:] if s.reference == int(message["id"])]) == 1
