"""The game end to end: rounds on the Telegram fake and in the shell, and restarts mid-round."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import io
import json
import re
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
from PIL import Image

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.discord_bot import DiscordAdapter
from bot.game import GameController
from bot.shell import Shell, ShellClock
from bot.telegram_bot import TelegramAdapter
from engine.celebrities import Celebrities, people_of
from engine.engine import Engine
from engine.pipeline import Pipeline
from tests.conftest import LFW, encode
from tests.fakes.discord import CHANNEL_ID, GUILD_ID, FakeDiscord, Sent, pointed_at
from tests.fakes.discord import user as discord_user
from tests.fakes.telegram import FakeTelegram, user
from tests.test_discord import answer as discord_answer
from tests.test_discord import wait_for as discord_wait_for
from tests.test_telegram import next_reply, push_photo, push_text, sent_to, text_of, wait_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = -2001
PLAYERS = ("Alice", "Bob", "Carol")
ALICE, BOB, CAROL = user(701, "Alice"), user(702, "Bob", "es"), user(703, "Carol")
# "Ann: closer to X than 83% of faces", or in Spanish "Ann: más cerca de X que el 83%".
ENTRY = re.compile(r"^(\w+): (?:closer (?:to .+? )?than|más cerca (?:de .+? )?que el) (\d+)%", re.M)
RANKED = re.compile(r"(\d+)\. (\w+) – (\d+)% \(\+(\d+)\)")


def make_model(stem: Path, photos: dict[str, Image.Image], pipeline: Pipeline) -> Path:
    """A real celebrity model whose classes are the people in ``photos``, each class's
    centroid their photo's embedding, with a reference gallery of their faces."""
    embedded = pipeline.embed_faces(list(photos.values()))
    found = {name: faces[0] for name, faces in zip(photos, embedded, strict=True)}
    centroids = np.stack([vector for _, vector in found.values()])
    people = people_of(photos)
    Celebrities(people, centroids, np.arange(len(people)), "dlib", centroids.shape[1]).save(stem)
    gallery = stem.with_name(stem.name + ".gallery")
    gallery.mkdir()
    for name, (face, _) in found.items():
        photos[name].crop(tuple(round(v) for v in face.box)).save(gallery / f"{name}.jpg")
    return stem


def lfw_photos(person: str) -> list[Path]:
    return sorted((LFW / "images" / person).glob("*.jpg"))


@pytest.fixture(scope="module")
def lfw_pipeline(tmp_path_factory: pytest.TempPathFactory, pipeline: Pipeline) -> Pipeline:
    """A model of three LFW people, made from their first photo each; players send others."""
    if not (LFW / "images").is_dir():
        pytest.skip(f"needs the LFW images at {LFW} (see ../shared/datasets/README.md)")
    people = ("Tony_Blair", "Gerhard_Schroeder", "Serena_Williams")
    photos = {name: Image.open(lfw_photos(name)[0]).convert("RGB") for name in people}
    stem = make_model(tmp_path_factory.mktemp("lfw_model") / "lfw", photos, pipeline)
    pipe = Pipeline(dataclasses.replace(pipeline.settings, model=stem))
    pipe.load()
    return pipe


@pytest.fixture(scope="module")
def toy_pipeline(pipeline: Pipeline, toy_model: Path) -> Pipeline:
    pipe = Pipeline(dataclasses.replace(pipeline.settings, model=toy_model))
    pipe.load()
    return pipe


def settings_for(fake: FakeTelegram, round_seconds: int) -> BotSettings:
    return BotSettings(
        telegram_token=fake.token,
        telegram_base_url=fake.base_url,
        telegram_base_file_url=fake.base_file_url,
        rate_limit_photos=100,
        game_round_seconds=round_seconds,
        game_min_players=2,
    )


@contextlib.asynccontextmanager
async def telegram_bot(
    fake: FakeTelegram, pipeline: Pipeline, db: Path, settings: BotSettings
) -> AsyncIterator[None]:
    """One run of the bot, wired as bot/app.py does: it stops, and its engine closes, at the end."""
    engine = Engine(dataclasses.replace(pipeline.settings, db=db), pipeline=pipeline)
    await engine.start()
    conversation = Conversation(engine, settings)
    game = GameController(conversation, settings)
    adapter = TelegramAdapter(conversation, settings)
    await game.attach(adapter.platform, adapter.send, adapter.scheduler)
    since = len(fake.calls)
    task = asyncio.create_task(adapter.run())
    try:
        await wait_for(fake, lambda calls: any(m == "setMyCommands" for m, _ in calls[since:]))
        yield
    finally:
        adapter.stop()
        await asyncio.wait_for(task, 30)
        await engine.close()


@pytest_asyncio.fixture(loop_scope="module")
async def fake():
    server = FakeTelegram()
    await server.start()
    yield server
    await server.stop()


def texts(fake: FakeTelegram, since: int) -> list[str]:
    return [text_of(params) for _, params in sent_to(fake, GROUP, since)]


async def results(fake: FakeTelegram, since: int) -> tuple[str, dict]:
    """The round's announcement: its text and the call that sent it."""
    await wait_for(fake, lambda _: any("Time's up" in text for text in texts(fake, since)))
    return next(
        (text_of(p), {"method": m, **p})
        for m, p in sent_to(fake, GROUP, since)
        if "Time's up" in text_of(p)
    )


def entry_scores(replies: list[str]) -> dict[str, list[int]]:
    """Each player's scores, from the bot's replies to their photos."""
    scores: dict[str, list[int]] = {}
    for reply in replies:
        if "Time's up" not in reply:
            for name, score in ENTRY.findall(reply):
                scores.setdefault(name, []).append(int(score))
    return scores


def check_ranking(announcement: str, scores: dict[str, list[int]]) -> None:
    """Alice, who sent another photo of the celebrity himself, wins; each player is shown
    with their best photo's score, one point for playing and one for each player beaten."""
    assert sorted(scores) == ["Alice", "Bob", "Carol"]
    lines = announcement.splitlines()
    ranked = [RANKED.fullmatch(line) for line in lines[1:4]]
    assert all(ranked), lines
    rows = [(int(m[1]), m[2], int(m[3]), int(m[4])) for m in ranked if m]
    assert [(place, points) for place, _, _, points in rows] == [(1, 3), (2, 2), (3, 1)]
    assert rows[0][1] == "Alice"
    assert all(score == max(scores[name]) for _, name, score, _ in rows)
    shown = [score for _, _, score, _ in rows]
    assert shown == sorted(shown, reverse=True)  # 0% and 0% are still told apart, in order
    assert lines[4].startswith("🏆 The winner: Alice!")


def lfw_entries() -> tuple[list[Path], list[Path], list[Path]]:
    blair, schroeder, serena = (
        lfw_photos(name) for name in ("Tony_Blair", "Gerhard_Schroeder", "Serena_Williams")
    )
    return blair, schroeder, serena


async def test_a_full_round_with_three_players_on_telegram(
    fake: FakeTelegram, lfw_pipeline: Pipeline, tmp_path: Path, no_face: Image.Image
) -> None:
    async with telegram_bot(fake, lfw_pipeline, tmp_path / "bot.sqlite3", settings_for(fake, 2)):
        start = len(fake.calls)
        push_text(fake, GROUP, ALICE, "/game tony blair")
        opening = await next_reply(fake, GROUP, start)
        assert "Who looks most like Tony Blair?" in text_of(opening)
        assert "photo" in opening  # the celebrity's reference photo

        # Photos in the group, none mentioning the bot: during a round they are entries.
        blair, schroeder, serena = lfw_entries()
        push_photo(fake, GROUP, ALICE, blair[1].read_bytes())
        push_photo(fake, GROUP, BOB, schroeder[1].read_bytes())
        push_photo(fake, GROUP, CAROL, encode(no_face, "JPEG"))
        push_photo(fake, GROUP, CAROL, serena[1].read_bytes())
        push_photo(fake, GROUP, BOB, schroeder[2].read_bytes())  # a second photo: the best counts
        announcement, call = await results(fake, start)

        replies = texts(fake, start)
        assert any(r.startswith("Carol: I can't find a face") for r in replies)
        assert any("Tony Blair" in r and "Bob:" in r for r in replies)  # Bob's replies in Spanish
        scores = entry_scores(replies)
        assert len(scores["Bob"]) == 2
        check_ranking(announcement, scores)
        assert call["method"] == "sendPhoto"  # with the collage of faces and celebrity

        start = len(fake.calls)
        push_text(fake, GROUP, BOB, "/leaderboard")
        board = text_of(await next_reply(fake, GROUP, start))
        assert "1. Alice – 3 puntos (ganó 1 de 1 ronda)" in board


@contextlib.asynccontextmanager
async def discord_bot(
    fake: FakeDiscord, pipeline: Pipeline, db: Path, settings: BotSettings
) -> AsyncIterator[None]:
    """`telegram_bot`, on Discord."""
    engine = Engine(dataclasses.replace(pipeline.settings, db=db), pipeline=pipeline)
    await engine.start()
    conversation = Conversation(engine, settings)
    game = GameController(conversation, settings)
    try:
        with pointed_at(fake):
            adapter = DiscordAdapter(conversation, settings)
            await game.attach(adapter.platform, adapter.send, adapter.scheduler)
            task = asyncio.create_task(adapter.run())
            try:
                await asyncio.wait_for(fake.connected.wait(), 30)
                yield
            finally:
                adapter.stop()
                await asyncio.wait_for(task, 30)
    finally:
        await engine.close()


async def test_a_full_round_with_three_players_on_discord(
    lfw_pipeline: Pipeline, tmp_path: Path, no_face: Image.Image
) -> None:
    fake = FakeDiscord()
    await fake.start()
    settings = BotSettings(
        discord_token=fake.token,
        discord_guild_id=GUILD_ID,
        discord_message_content=True,  # plain photos reach the bot, as in a real round
        rate_limit_photos=100,
        game_round_seconds=2,
    )
    alice, bob, carol = (discord_user(800 + n, name) for n, name in enumerate(PLAYERS))
    try:
        async with discord_bot(fake, lfw_pipeline, tmp_path / "bot.sqlite3", settings):
            started = await fake.slash("game", alice, options={"name": "Tony Blair"})
            opening = await discord_answer(fake, started)
            assert "Who looks most like Tony Blair?" in opening.content
            assert [name for name, _ in opening.files] == ["celebrity.jpg"]

            blair, schroeder, serena = lfw_entries()
            await fake.message(alice, [fake.attachment(blair[1].read_bytes())])
            await fake.message(bob, [fake.attachment(schroeder[1].read_bytes())])
            await fake.message(carol, [fake.attachment(encode(no_face, "JPEG"))])
            photo = fake.attachment(serena[1].read_bytes())
            entered = await fake.slash("game", carol, attachments={"photo": photo})
            assert (await discord_answer(fake, entered)).content.startswith("Carol: ")

            def ended() -> list[Sent]:
                return [s for s in fake.sent if "Time's up" in s.content and not s.deleted]

            await discord_wait_for(fake, lambda: bool(ended()))
            (end,) = ended()
            replies = [s.content for s in fake.sent if s.channel_id == CHANNEL_ID]
            assert any(r.startswith("Carol: I can't find a face") for r in replies)
            check_ranking(end.content, entry_scores(replies))
            assert [name for name, _ in end.files] == ["round.jpg"]

            board = await discord_answer(fake, await fake.slash("leaderboard", bob))
            assert "1. Alice – 3 points (won 1 of 1 round)" in board.content
    finally:
        await fake.stop()


async def test_a_round_interrupted_by_a_restart_ends_at_start_up(
    fake: FakeTelegram, toy_pipeline: Pipeline, tmp_path: Path, astronaut, hopper
) -> None:
    db = tmp_path / "bot.sqlite3"
    settings = settings_for(fake, 5)
    async with telegram_bot(fake, toy_pipeline, db, settings):
        start = len(fake.calls)
        push_text(fake, GROUP, ALICE, "/game Eileen Collins")
        await next_reply(fake, GROUP, start)
        push_photo(fake, GROUP, ALICE, encode(astronaut, "JPEG"))
        push_photo(fake, GROUP, BOB, encode(hopper, "JPEG"))
        await wait_for(fake, lambda _: len(ENTRY.findall("\n".join(texts(fake, start)))) == 2)
    # The bot is down in the middle of the round, and stays down past its end.
    with sqlite3.connect(db) as conn:
        ((ends_at, ended_at),) = conn.execute("SELECT ends_at, ended_at FROM game_rounds")
    assert ended_at is None, "the round ended before the restart: make it longer"
    await asyncio.sleep(max(0.0, ends_at - time.time()) + 0.2)

    async with telegram_bot(fake, toy_pipeline, db, settings):
        announcement, call = await results(fake, start)
        lines = announcement.splitlines()
        assert lines[1] == "1. Alice – 100% (+2)"
        assert lines[2].startswith("2. Bob – ") and lines[2].endswith("(+1)")
        assert "The winner: Alice" in lines[3]
        assert call["method"] == "sendMessage"  # faces were in the old process's memory only
    with sqlite3.connect(db) as conn:
        assert (
            conn.execute("SELECT COUNT(*) FROM game_rounds WHERE ended_at IS NULL").fetchone()[0]
            == 0
        )


async def shell_session(
    pipeline: Pipeline, db: Path, settings: BotSettings, script: list[str]
) -> list[dict]:
    """The shell wired as bot/app.py wires it, in this process: what it said, one dict a reply."""
    clock = ShellClock()
    engine = Engine(dataclasses.replace(pipeline.settings, db=db), pipeline=pipeline)
    await engine.start()
    try:
        conversation = Conversation(engine, settings, clock=clock.time)
        stream = io.StringIO()
        shell = Shell(conversation, db.parent / "out", as_json=True, stream=stream, clock=clock)
        game = GameController(conversation, settings, clock=clock.wall)
        await game.attach(shell.platform, shell.send, shell.scheduler)
        await shell.run(io.StringIO("\n".join(script) + "\n"))
    finally:
        await engine.close()
    return [json.loads(line) for line in stream.getvalue().splitlines()]


async def test_a_scripted_shell_round(
    toy_pipeline: Pipeline, tmp_path: Path, astronaut, hopper, no_face
) -> None:
    """A round as a person scripts it in the shell: several players, a tie, /wait, /leaderboard."""
    for name, image in (("astronaut", astronaut), ("hopper", hopper), ("coffee", no_face)):
        image.save(tmp_path / f"{name}.jpg")
    script = [
        "/chat party",
        "/game Eileen Collins",
        "/as Alice",
        f"{tmp_path}/astronaut.jpg",
        "/as Bob",
        f"{tmp_path}/coffee.jpg",
        f"{tmp_path}/astronaut.jpg",  # the same photo as Alice's: a tie
        "/as Carol",
        f"{tmp_path}/hopper.jpg",
        "/game stop",  # Carol did not start it
        "/wait 31",
        "/leaderboard",
        "/game",
        "/as Alice",
        "/game stop",
    ]
    settings = BotSettings(game_round_seconds=30, game_min_players=2)
    said = await shell_session(toy_pipeline, tmp_path / "shell.sqlite3", settings, script)
    lines = [f"{r['user'] or 'bot'}: {r['text']}" for r in said]
    assert lines[0].startswith("Me: 🎮 New round! Who looks most like Eileen Collins?")
    assert said[0]["images"]  # the reference photo
    assert lines[1].startswith("Alice: Alice: closer to Eileen Collins than 100% of faces")
    assert lines[2].startswith("Bob: Bob: I can't find a face")
    assert lines[3].startswith("Bob: Bob: closer to Eileen Collins than 100% of faces. #1 of 2")
    assert lines[4].startswith("Carol: Carol: ")
    assert lines[5] == "Carol: Only whoever started this round, or an admin, can stop it."
    end = said[6]
    assert end["user"] is None and end["images"]  # the round's end, with its collage
    ranking = end["text"].splitlines()
    assert ranking[1:3] == ["1. Alice – 100% (+2)", "1. Bob – 100% (+2)"]
    assert ranking[-1].startswith("(The %: how many faces")
    assert ranking[3].startswith("3. Carol – ") and ranking[3].endswith("(+1)")
    assert ranking[4].startswith("🏆 A tie! The winners: Alice and Bob.")
    assert said[7]["text"].splitlines()[1:] == [
        "1. Alice – 2 points (won 1 of 1 round)",
        "1. Bob – 2 points (won 1 of 1 round)",
        "3. Carol – 1 point (won 0 of 1 round)",
    ]
    assert "New round!" in said[8]["text"]  # Carol starts one, at random; Alice can't stop it
    assert said[9]["text"] == "Only whoever started this round, or an admin, can stop it."


async def test_a_round_running_at_a_restart_is_resumed(
    toy_pipeline: Pipeline, tmp_path: Path
) -> None:
    settings = BotSettings(game_round_seconds=60)
    db = tmp_path / "shell.sqlite3"
    before = await shell_session(toy_pipeline, db, settings, ["/chat party", "/game", "/wait 10"])
    assert [r["text"].split("\n")[0] for r in before] == [
        "🎮 New round! Who looks most like " + before[0]["text"].split("like ")[1].split("\n")[0]
    ]
    # A new process: the round's timer is set again for the time it has left.
    script = ["/chat party", "/wait 45", "/game", "/wait 20", "/leaderboard"]
    after = [r["text"] for r in await shell_session(toy_pipeline, db, settings, script)]
    assert after[0].startswith("A round is on")
    assert after[1].startswith("⏱ Time's up!") and "Nobody played" in after[1]
    assert len(after) == 3
