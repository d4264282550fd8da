"""The shared conversation's rules with the real engine: questions, consent, privacy, limits."""

from __future__ import annotations

import dataclasses

import pytest
import pytest_asyncio
from PIL import Image

from bot import replies
from bot.commands import Command, Photo, Request
from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, Reply, Upload, User
from engine.engine import Engine
from engine.pipeline import Pipeline
from tests.conftest import encode

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = Chat("telegram", "-90", is_group=True)
ALICE = User("telegram", "91", "Alice", "en")
BOB = User("telegram", "92", "Bob", "es")
ANONYMOUS = User("telegram", "chat-90in-90", "Test group", anonymous=True)


class Clock:
    def __init__(self) -> None:
        self.now = 5000.0

    def __call__(self) -> float:
        return self.now


def upload(data: bytes, sender: str | None = None) -> Upload:
    async def fetch() -> bytes:
        return data

    return Upload(len(data), "image/jpeg", fetch, sender)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engine(tmp_path_factory, pipeline: Pipeline, toy_model):
    settings = dataclasses.replace(
        pipeline.settings, model=toy_model, db=tmp_path_factory.mktemp("db") / "c.sqlite3"
    )
    engine = Engine(settings)
    await engine.start()
    yield engine
    await engine.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def conversation(engine: Engine, clock: Clock) -> Conversation:
    return Conversation(engine, BotSettings(rate_limit_photos=20), clock=clock)


def yes(reply: Reply) -> str:
    return next(b.data for b in reply.buttons if ":yes:" in b.data)


async def test_a_refused_photo_keeps_the_registration_open(
    conversation: Conversation, engine: Engine, group_photo: Image.Image, hopper: Image.Image
) -> None:
    (question,) = await conversation.on_command(GROUP, ALICE, "register")
    (ask,) = (await conversation.on_button(GROUP, ALICE, yes(question))).replies
    assert "send me a clear photo" in ask.text
    crowd = await conversation.on_photo(GROUP, ALICE, upload(encode(group_photo, "JPEG")), False)
    assert "I see 2 faces" in crowd[0].text and "another photo" in crowd[-1].text
    (done,) = await conversation.on_photo(GROUP, ALICE, upload(encode(hopper, "JPEG")), False)
    assert "I'll recognise you here" in done.text  # not answered as a lookalike
    assert await engine.photos_registered(GROUP.scope, ALICE.person()) == 1
    await engine.forget(ALICE.person())


async def test_a_rate_limited_photo_keeps_the_registration_open(
    engine: Engine, clock: Clock, hopper: Image.Image
) -> None:
    conversation = Conversation(engine, BotSettings(rate_limit_photos=1), clock=clock)
    await conversation.on_photo(GROUP, BOB, upload(encode(hopper, "JPEG")), True)  # the one allowed
    (question,) = await conversation.on_command(GROUP, BOB, "register")
    await conversation.on_button(GROUP, BOB, yes(question))
    limited = await conversation.on_photo(GROUP, BOB, upload(encode(hopper, "JPEG")), False)
    assert "Mandas fotos más rápido" in limited[0].text and "otra foto" in limited[-1].text
    clock.now += 61
    (done,) = await conversation.on_photo(GROUP, BOB, upload(encode(hopper, "JPEG")), False)
    assert "te reconoceré aquí" in done.text
    await engine.forget(BOB.person())


async def test_consent_is_asked_once_per_person_and_chat(
    conversation: Conversation, engine: Engine, hopper: Image.Image
) -> None:
    photo = encode(hopper, "JPEG")
    (question,) = await conversation.on_command(GROUP, ALICE, "register", "", upload(photo))
    assert question.buttons
    (first,) = (await conversation.on_button(GROUP, ALICE, yes(question))).replies
    assert "1 of 5" in first.text
    mirrored = encode(hopper.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG")
    (second,) = await conversation.on_command(GROUP, ALICE, "register", "", upload(mirrored))
    assert not second.buttons and "2 of 5" in second.text
    elsewhere = Chat("telegram", "-95", is_group=True)
    (asked,) = await conversation.on_command(elsewhere, ALICE, "register", "", upload(photo))
    assert asked.buttons  # consent belongs to a chat
    (confirm,) = await conversation.on_command(GROUP, ALICE, "forget")
    (done,) = (await conversation.on_button(GROUP, ALICE, yes(confirm))).replies
    assert done.text == "Done. I erased 2 face embeddings from 1 chat."  # no language: never set


async def test_only_the_senders_own_photo_registers_them(
    conversation: Conversation, engine: Engine, hopper: Image.Image
) -> None:
    someone_elses = upload(encode(hopper, "JPEG"), sender=BOB.id)  # /register as a reply to Bob's
    (question,) = await conversation.on_command(GROUP, ALICE, "register", "", someone_elses)
    replies_ = (await conversation.on_button(GROUP, ALICE, yes(question))).replies
    assert "only register a photo that you send yourself" in replies_[0].text
    assert await engine.photos_registered(GROUP.scope, ALICE.person()) == 0
    own = upload(encode(hopper, "JPEG"), sender=ALICE.id)  # the question is still open
    (done,) = await conversation.on_photo(GROUP, ALICE, own, False)
    assert "I'll recognise you here" in done.text
    assert "must be of you" in replies.t("en", "register_explain")
    await engine.forget(ALICE.person())


async def test_private_data_never_goes_to_a_group(conversation: Conversation) -> None:
    (pointer,) = await conversation.on_command(GROUP, ALICE, "mydata")
    assert "only in a private chat" in pointer.text and pointer.document is None
    private = Chat("telegram", ALICE.id)
    (export,) = await conversation.on_command(private, ALICE, "mydata")
    assert export.private and export.document is not None
    (ephemeral,) = await conversation.on_command(GROUP, ALICE, "mydata", private_ok=True)
    assert ephemeral.private and ephemeral.document is not None  # Discord: only they see it


async def test_anonymous_senders_cannot_use_personal_commands(
    conversation: Conversation, hopper: Image.Image
) -> None:
    for name in ("register", "forget", "mydata", "lang"):
        (refused,) = await conversation.on_command(GROUP, ANONYMOUS, name)
        assert "posting anonymously" in refused.text and not refused.buttons
        assert f"/{name}" in refused.text
    (answer,) = await conversation.on_photo(GROUP, ANONYMOUS, upload(encode(hopper, "JPEG")), True)
    assert "Grace Hopper" in answer.text  # a lookalike needs nobody's identity


async def test_limits_count_the_work_a_photo_costs(
    engine: Engine, clock: Clock, group_photo: Image.Image, hopper: Image.Image
) -> None:
    settings = BotSettings(rate_limit_photos=100, rate_limit_work_seconds=0.01)
    conversation = Conversation(engine, settings, clock=clock)
    (first,) = await conversation.on_photo(GROUP, ALICE, upload(encode(group_photo)), True)
    assert first.pictures  # answered: the budget was not spent before
    (second,) = await conversation.on_photo(GROUP, ALICE, upload(encode(hopper)), True)
    assert "kept me busy" in second.text
    (other,) = await conversation.on_photo(GROUP, BOB, upload(encode(hopper)), True)
    assert other.pictures  # someone else is not held up
    clock.now += 61
    (later,) = await conversation.on_photo(GROUP, ALICE, upload(encode(hopper)), True)
    assert later.pictures


async def test_whoami_in_an_empty_chat_does_no_work(conversation: Conversation) -> None:
    # Not even a photo: had it been decoded, this would be an error about the file.
    (reply,) = await conversation.on_command(GROUP, ALICE, "whoami", "", upload(b"not a photo"))
    assert "Nobody has registered in this chat yet" in reply.text


async def test_many_faces_are_capped_and_answered_one_line_each(
    engine: Engine, pipeline: Pipeline, toy_model, tmp_path, astronaut: Image.Image
) -> None:
    crowd = Image.new("RGB", (6 * 200, 2 * 200))
    face = astronaut.crop((130, 10, 330, 210))
    for index in range(12):
        crowd.paste(face, (200 * (index % 6), 200 * (index // 6)))
    settings = dataclasses.replace(
        pipeline.settings, model=toy_model, db=tmp_path / "cap.sqlite3", max_faces=8
    )
    async with Engine(settings) as capped:
        conversation = Conversation(capped, BotSettings())
        (reply,) = await conversation.on_photo(GROUP, ALICE, upload(encode(crowd, "JPEG")), True)
    lines = reply.text.splitlines()
    assert lines[0] == "I found 12 faces; here are the 8 largest."
    assert [line.split(".")[0] for line in lines[1:9]] == [str(n) for n in range(1, 9)]
    assert all("Eileen Collins" in line for line in lines[1:9])


async def test_forget_says_exactly_what_it_erased(
    conversation: Conversation, engine: Engine, hopper: Image.Image
) -> None:
    await conversation.on_command(GROUP, BOB, "lang", "en")  # a language, nothing else
    (confirm,) = await conversation.on_command(GROUP, BOB, "forget")
    (done,) = (await conversation.on_button(GROUP, BOB, yes(confirm))).replies
    assert done.text == "Done. I erased your language preference."
    await engine.register(GROUP.scope, ALICE.person(), encode(hopper, "JPEG"))
    await engine.register("telegram:-96", ALICE.person(), encode(hopper, "JPEG"))
    (confirm,) = await conversation.on_command(GROUP, ALICE, "forget")
    (done,) = (await conversation.on_button(GROUP, ALICE, yes(confirm))).replies
    assert done.text == "Done. I erased 2 face embeddings from 2 chats."  # no language was set
    (confirm,) = await conversation.on_command(GROUP, ALICE, "forget")
    (nothing,) = (await conversation.on_button(GROUP, ALICE, yes(confirm))).replies
    assert nothing.text == "I had nothing stored about you."


async def test_help_is_made_from_the_command_table(conversation: Conversation) -> None:
    (english,) = await conversation.on_command(Chat("shell", "private"), ALICE, "help")
    (spanish,) = await conversation.on_command(Chat("shell", "private"), BOB, "help")
    for command in conversation.commands.values():
        shown = f"/{command.name} – " in english.text
        assert shown == command.listed, command.name
        if command.listed:
            assert f"/{command.name} – {command.describe('es')}" in spanish.text


async def test_a_new_command_is_one_declaration(conversation: Conversation) -> None:
    async def echo(request: Request) -> list[Reply]:
        return [Reply(f"{request.args} ({request.lang}, photo: {request.upload is not None})")]

    conversation.add_command(
        Command("echo", echo, {"en": "Say it back", "es": "Repítelo"}, photo=Photo.OPTIONAL)
    )
    (reply,) = await conversation.on_command(GROUP, BOB, "echo", " hola ")
    assert reply.text == "hola (es, photo: False)"
    (help_,) = await conversation.on_command(GROUP, BOB, "help")
    assert "/echo – Repítelo" in help_.text
    with pytest.raises(ValueError, match="already"):
        conversation.add_command(Command("echo", echo, {"en": "again"}))


async def test_a_chat_chooses_its_fields_and_a_word_that_names_none_is_explained(
    conversation: Conversation, engine: Engine
) -> None:
    chat = Chat("shell", "fields-group", is_group=True)
    (now,) = await conversation.on_command(chat, ALICE, "fields")
    assert "every field" in now.text
    (chosen,) = await conversation.on_command(chat, ALICE, "fields", "Música, sports & film")
    assert chosen.text == "Done: answers in this chat now come from Film & TV, Music and Sport."
    assert await engine.chat_fields(chat.scope) == ("film", "music", "sport")
    (spanish,) = await conversation.on_command(chat, BOB, "fields")
    assert "Cine y TV, Música y Deporte" in spanish.text
    (unknown,) = await conversation.on_command(chat, ALICE, "fields", "cooking sport")
    assert "“cooking”" in unknown.text and "Royalty" in unknown.text
    assert await engine.chat_fields(chat.scope) == ("film", "music", "sport")  # unchanged
    (unknown,) = await conversation.on_command(chat, ALICE, "lookalike", "cooking", upload(b"x"))
    assert "“cooking”" in unknown.text
    await conversation.on_command(chat, BOB, "fields", "todos")
    assert await engine.chat_fields(chat.scope) == ()


async def test_lookalike_answers_from_the_field_asked_for(
    conversation: Conversation, hopper: Image.Image
) -> None:
    chat = Chat("shell", "private")
    photo = encode(hopper, "JPEG")
    # The field given with the command holds for the photo sent after it.
    (asked,) = await conversation.on_command(chat, ALICE, "lookalike", "other")
    assert "Send me a photo" in asked.text
    (answer,) = await conversation.on_photo(chat, ALICE, upload(photo))
    assert "Grace Hopper" in answer.text and "Among Other only." in answer.text
    (nobody,) = await conversation.on_command(chat, ALICE, "lookalike", "deporte", upload(photo))
    assert nobody.text.startswith("I know no celebrities of Sport yet")
    (everyone,) = await conversation.on_command(chat, ALICE, "lookalike", "", upload(photo))
    assert "Grace Hopper" in everyone.text and "Among" not in everyone.text
