"""The Telegram adapter within the Bot API's limits, private replies, anonymous senders,
and photos that are not the sender's, against the fake Bot API (which refuses what
Telegram refuses)."""

from __future__ import annotations

import pytest
import pytest_asyncio
from PIL import Image

from bot.core import Button, Chat, Picture, Reply, User
from bot.limits import Question, button_data
from engine.engine import Engine
from tests.conftest import encode
from tests.fakes.telegram import (
    CAPTION_LIMIT,
    GROUP_ANONYMOUS_BOT,
    TEXT_LIMIT,
    FakeTelegram,
    photo_sizes,
    telegram_bot,
    user,
)
from tests.test_telegram import next_reply, press, push_photo, push_text, sent_to, text_of

pytestmark = pytest.mark.asyncio(loop_scope="module")

ALICE = user(531, "Alice")
BOB = user(532, "Bob")
GROUP = -3001


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def telegram(toy_engine: Engine):
    fake = FakeTelegram()
    await fake.start()
    async with telegram_bot(fake, toy_engine, rate_limit_photos=100) as adapter:
        yield fake, adapter
    await fake.stop()


def jpeg(size: tuple[int, int]) -> bytes:
    return encode(Image.new("RGB", size, (200, 120, 40)), "JPEG")


def refused(fake: FakeTelegram, since: int) -> list[str]:
    return [m for m, _ in fake.calls[since:] if m.endswith(("!400", "!403"))]


async def test_a_long_answer_with_many_pictures_is_delivered_whole(telegram) -> None:
    fake, adapter = telegram
    start = len(fake.calls)
    text = "\n".join(f"{n}. Someone Famous – 42% (some resemblance)" for n in range(200))
    pictures = tuple(Picture(f"p{n}.jpg", jpeg((64, 64))) for n in range(12))
    await adapter.send(Chat("telegram", str(GROUP), is_group=True), [Reply(text, pictures)])
    sent = sent_to(fake, GROUP, start)
    messages = [p["text"] for m, p in sent if m == "sendMessage"]
    assert len(text) > TEXT_LIMIT and len(messages) == 3
    assert "\n".join(messages) == text  # cut at line ends, nothing lost
    groups = [len(p["media"]) for m, p in sent if m == "sendMediaGroup"]
    assert groups == [10, 2]
    assert not refused(fake, start)


async def test_eleven_pictures_make_no_group_of_one_and_captions_fit(telegram) -> None:
    fake, adapter = telegram
    start = len(fake.calls)
    pictures = tuple(Picture(f"p{n}.jpg", jpeg((64, 64))) for n in range(11))
    caption = "x" * (CAPTION_LIMIT + 1)
    await adapter.send(Chat("telegram", str(GROUP), is_group=True), [Reply(caption, pictures)])
    sent = sent_to(fake, GROUP, start)
    assert [m for m, _ in sent] == ["sendMessage", "sendMediaGroup", "sendMediaGroup"]
    assert [len(p["media"]) for m, p in sent[1:]] == [9, 2]
    assert all(not media.get("caption") for _, p in sent[1:] for media in p["media"])
    assert not refused(fake, start)


async def test_a_picture_too_tall_for_a_photo_goes_as_a_file(telegram) -> None:
    fake, adapter = telegram
    start = len(fake.calls)
    tall, small = Picture("tall.jpg", jpeg((400, 9800))), Picture("ok.jpg", jpeg((64, 64)))
    await adapter.send(Chat("telegram", str(GROUP), is_group=True), [Reply("hi", (small, tall))])
    assert [m for m, _ in sent_to(fake, GROUP, start)] == ["sendPhoto", "sendDocument"]
    assert not refused(fake, start)


async def test_a_file_too_large_for_bots_is_refused_before_download(telegram) -> None:
    fake, _ = telegram
    start = len(fake.calls)
    file_id = fake.add_file(b"\xff\xd8\xff" + bytes(25 * 10**6))
    photo = photo_sizes(file_id, 25 * 10**6)
    fake.push(message=fake.message(ALICE["id"], ALICE, photo=photo))
    assert "too big" in text_of(await next_reply(fake, ALICE["id"], start))
    assert not [m for m, _ in fake.calls[start:] if m.startswith("getFile")]


async def test_button_data_fits_and_the_fake_refuses_more(telegram) -> None:
    fake, adapter = telegram
    longest = User("telegram", str(2**53), "Long Id")  # Telegram ids have at most 52 bits
    for kind in ("consent", "forget", "lang"):
        question = Question(kind, Chat("telegram", str(GROUP), True), longest, 0.0)
        assert len(button_data(question, "yes").encode()) <= 64
    with pytest.raises(ValueError, match="64 bytes"):
        button_data(
            Question("consent", Chat("telegram", "1"), User("telegram", "9" * 50, "x"), 0), "yes"
        )
    start = len(fake.calls)
    forged = Reply("Press", buttons=(Button("too long", "x" * 65),))
    await adapter.send(Chat("telegram", str(GROUP), is_group=True), [forged])  # logged, no crash
    assert refused(fake, start) == ["sendMessage!400"]


async def test_mydata_in_a_group_points_to_a_private_chat(telegram) -> None:
    fake, _ = telegram
    start = len(fake.calls)
    push_text(fake, GROUP, ALICE, "/mydata")
    pointer = await next_reply(fake, GROUP, start)
    assert "only in a private chat" in text_of(pointer)
    assert not [m for m, _ in fake.calls[start:] if m.startswith("sendDocument")]
    start = len(fake.calls)
    push_text(fake, ALICE["id"], ALICE, "/mydata")
    export = await next_reply(fake, ALICE["id"], start)
    assert export["document"]["filename"] == "lookalike-data.json"


async def test_a_private_reply_goes_to_the_person_never_to_the_group(telegram) -> None:
    fake, adapter = telegram
    group = Chat("telegram", str(GROUP), is_group=True)
    stranger = User("telegram", "539", "Stranger")  # never opened a chat with the bot
    start = len(fake.calls)
    await adapter.send(group, [Reply("yours only", private=True)], user=stranger)
    assert refused(fake, start) == ["sendMessage!403"] and not sent_to(fake, GROUP, start)
    push_text(fake, ALICE["id"], ALICE, "/start")  # Alice has a private chat with the bot
    await next_reply(fake, ALICE["id"], start)
    start = len(fake.calls)
    alice = User("telegram", str(ALICE["id"]), "Alice")
    await adapter.send(group, [Reply("yours only", private=True)], user=alice)
    assert [p["text"] for _, p in sent_to(fake, ALICE["id"], start)] == ["yours only"]
    assert not sent_to(fake, GROUP, start)


async def test_anonymous_admins_cannot_use_personal_commands(telegram, hopper) -> None:
    fake, _ = telegram
    group_as_sender = {"id": GROUP, "type": "supergroup", "title": "Test group"}
    for command in ("/mydata", "/register", "/forget"):
        start = len(fake.calls)
        entities = [{"type": "bot_command", "offset": 0, "length": len(command)}]
        fake.push(
            message=fake.message(
                GROUP,
                GROUP_ANONYMOUS_BOT,
                text=command,
                entities=entities,
                sender_chat=group_as_sender,
            )
        )
        reply = await next_reply(fake, GROUP, start)
        assert "posting anonymously" in text_of(reply) and "reply_markup" not in reply
    start = len(fake.calls)
    push_photo(
        fake,
        GROUP,
        GROUP_ANONYMOUS_BOT,
        encode(hopper, "JPEG"),
        sender_chat=group_as_sender,
        caption="/lookalike",
    )
    assert "Grace Hopper" in text_of(await next_reply(fake, GROUP, start))


async def test_register_as_a_reply_to_someone_elses_photo_registers_nobody(
    telegram, toy_engine: Engine, hopper
) -> None:
    fake, _ = telegram
    bobs = fake.message(GROUP, BOB, photo=photo_sizes(fake.add_file(encode(hopper, "JPEG")), 1000))
    start = len(fake.calls)
    push_text(fake, GROUP, ALICE, "/register", reply_to_message=bobs)
    question = await next_reply(fake, GROUP, start)
    start = len(fake.calls)
    press(fake, question, ALICE, "yes")
    assert "only register a photo that you send yourself" in text_of(
        await next_reply(fake, GROUP, start)
    )
    alice = User("telegram", str(ALICE["id"]), "Alice").person()
    assert await toy_engine.photos_registered(f"telegram:{GROUP}", alice) == 0
