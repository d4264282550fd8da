"""The real python-telegram-bot client against a fake Bot API server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

import pytest
import pytest_asyncio

from engine.engine import Engine
from tests.conftest import encode
from tests.fakes.telegram import BOT_USERNAME, FakeTelegram, photo_sizes, telegram_bot, user

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = user(501, "Alice")
BOB = user(502, "Bob", "es")
GROUP = -1001


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def telegram(toy_engine: Engine):
    fake = FakeTelegram()
    await fake.start()
    async with telegram_bot(fake, toy_engine, rate_limit_photos=100):
        yield fake
    await fake.stop()


async def wait_for(
    fake: FakeTelegram,
    done: Callable[[list[tuple[str, dict[str, Any]]]], bool],
    within: float = 60,
) -> list[tuple[str, dict[str, Any]]]:
    deadline = time.monotonic() + within
    while True:
        fake.changed.clear()  # before looking, so that no call slips between
        if done(fake.calls):
            return fake.calls
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out; calls so far: {[m for m, _ in fake.calls]}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fake.changed.wait(), 0.5)


def sent_to(fake: FakeTelegram, chat_id: int, since: int = 0) -> list[tuple[str, dict[str, Any]]]:
    return [
        (m, p)
        for m, p in fake.calls[since:]
        if m in ("sendMessage", "sendPhoto", "sendMediaGroup", "sendDocument")
        and int(p.get("chat_id", 0)) == chat_id
    ]


def text_of(params: dict[str, Any]) -> str:
    if "media" in params:
        return params["media"][0].get("caption") or ""
    return params.get("text") or params.get("caption") or ""


def push_photo(fake: FakeTelegram, chat_id: int, sender: dict, data: bytes, **fields: Any) -> None:
    file_id = fake.add_file(data)
    fake.push(
        message=fake.message(chat_id, sender, photo=photo_sizes(file_id, len(data)), **fields)
    )


def push_text(fake: FakeTelegram, chat_id: int, sender: dict, text: str, **fields: Any) -> None:
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    fake.push(message=fake.message(chat_id, sender, text=text, entities=entities, **fields))


def press(fake: FakeTelegram, message: dict[str, Any], sender: dict, answer: str) -> None:
    keyboard = message["reply_markup"]["inline_keyboard"][0]
    data = next(b["callback_data"] for b in keyboard if f":{answer}:" in b["callback_data"])
    fake.push(
        callback_query={
            "id": str(time.monotonic_ns()),
            "from": sender,
            "chat_instance": "1",
            "data": data,
            "message": fake.message(
                int(message["chat_id"]),
                {"id": 4242, "is_bot": True, "first_name": "Lookalike"},
                text="?",
            ),
        }
    )


async def next_reply(fake: FakeTelegram, chat_id: int, since: int) -> dict[str, Any]:
    await wait_for(fake, lambda c: len(sent_to(fake, chat_id, since)) > 0)
    return sent_to(fake, chat_id, since)[0][1]


async def test_a_private_photo_gets_text_and_pictures(telegram: FakeTelegram, astronaut) -> None:
    start = len(telegram.calls)
    push_photo(telegram, ALICE["id"], ALICE, encode(astronaut, "JPEG"))
    await wait_for(telegram, lambda c: len(sent_to(telegram, ALICE["id"], start)) > 0)
    method, params = sent_to(telegram, ALICE["id"], start)[0]
    assert method == "sendMediaGroup"  # the numbered photo and the collage
    assert len(params["media"]) == 2
    caption = text_of(params)
    assert "1. Eileen Collins" in caption and "%" in caption
    assert caption.count("\n") >= 3  # the top 3 and what the score means
    actions = [p["action"] for m, p in telegram.calls[start:] if m == "sendChatAction"]
    assert actions and actions[0] == "upload_photo"


async def test_a_group_photo_without_a_mention_is_ignored(telegram: FakeTelegram, hopper) -> None:
    start, handled = len(telegram.calls), len(telegram.handled)
    push_photo(telegram, GROUP, ALICE, encode(hopper, "JPEG"))
    push_photo(
        telegram,
        GROUP,
        ALICE,
        encode(hopper, "JPEG"),
        caption=f"@{BOT_USERNAME} me?",
        caption_entities=[{"type": "mention", "offset": 0, "length": len(BOT_USERNAME) + 1}],
    )
    await wait_for(telegram, lambda _: len(telegram.handled) >= handled + 2)  # both handled
    assert sorted(len(r) for r in telegram.handled[handled:]) == [0, 1]
    (reply,) = [p for _, p in sent_to(telegram, GROUP, start)]  # only the mention was answered
    assert "Grace Hopper" in text_of(reply)


async def test_register_with_consent_then_whoami_then_forget(
    telegram: FakeTelegram, hopper, astronaut
) -> None:
    start = len(telegram.calls)
    push_text(telegram, GROUP, BOB, "/register")
    question = await next_reply(telegram, GROUP, start)
    assert "128" in text_of(question) and "¿Aceptas?" in text_of(question)  # Bob speaks Spanish
    press(telegram, question, ALICE, "yes")  # not Alice's question: nothing happens
    await wait_for(telegram, lambda c: any(m == "answerCallbackQuery" for m, _ in c[start:]))
    assert len(sent_to(telegram, GROUP, start)) == 1

    start = len(telegram.calls)
    press(telegram, question, BOB, "yes")
    assert "foto" in text_of(await next_reply(telegram, GROUP, start))
    start = len(telegram.calls)
    push_photo(telegram, GROUP, BOB, encode(hopper, "JPEG"))
    assert "Listo" in text_of(await next_reply(telegram, GROUP, start))

    start = len(telegram.calls)
    push_photo(telegram, GROUP, ALICE, encode(hopper.resize((400, 469)), "JPEG"), caption="/whoami")
    assert "Bob" in text_of(await next_reply(telegram, GROUP, start))

    start = len(telegram.calls)
    push_text(telegram, GROUP, BOB, "/forget")
    confirm = await next_reply(telegram, GROUP, start)
    start = len(telegram.calls)
    press(telegram, confirm, BOB, "yes")
    assert "Borré 1" in text_of(await next_reply(telegram, GROUP, start))

    start = len(telegram.calls)
    push_photo(telegram, GROUP, ALICE, encode(hopper, "JPEG"), caption="/whoami")
    assert "Bob" not in text_of(await next_reply(telegram, GROUP, start))


async def test_a_corrupt_photo_gets_a_friendly_error(telegram: FakeTelegram, hopper) -> None:
    start = len(telegram.calls)
    data = encode(hopper, "JPEG")
    push_photo(telegram, ALICE["id"], ALICE, data[: len(data) // 3])
    reply = await next_reply(telegram, ALICE["id"], start)
    assert "damaged" in text_of(reply)
    assert "Traceback" not in text_of(reply)


async def test_twenty_photos_at_once_and_help_meanwhile(telegram: FakeTelegram, astronaut) -> None:
    start = len(telegram.calls)
    data = encode(astronaut, "JPEG")
    for _ in range(20):
        push_photo(telegram, ALICE["id"], ALICE, data)
    push_text(telegram, ALICE["id"], ALICE, "/help")
    await wait_for(telegram, lambda c: len(sent_to(telegram, ALICE["id"], start)) >= 21, 180)
    replies = sent_to(telegram, ALICE["id"], start)
    assert sum(m == "sendMediaGroup" for m, _ in replies) == 20
    order = [m for m, _ in replies]
    help_at = next(i for i, (m, p) in enumerate(replies) if "/register" in text_of(p))
    assert help_at < len(order) - 1, "/help waited for every photo"
