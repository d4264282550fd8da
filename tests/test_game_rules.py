"""The game's rules and records (engine/game.py), on SQLite and on PostgreSQL, with a fake clock."""

from __future__ import annotations

import dataclasses
import io
import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine import cards
from engine.celebrities import Celebrity
from engine.engine import Engine
from engine.errors import ModelUnavailable, NoFaceFound, RoundOver, RoundRunning, UnknownCelebrity
from engine.faces import Face
from engine.game import Entry, choose_celebrity, podium, rank
from engine.game_store import Game
from engine.pipeline import Likeness, Pipeline
from engine.registry import Person
from engine.storage import Storage, connect
from tests.conftest import encode

CHAT = "telegram:-100"
START = 1_800_000_000.0  # wall-clock seconds: rounds are stored with real times


class FakeClock:
    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def player(name: str) -> Person:
    return Person("telegram", name.lower(), name, "en")


def photo(score: int, colour: str = "grey") -> Likeness:
    """What the engine says of a photo, for a given score (the rules never see the photo)."""
    tile = encode(Image.new("RGB", (64, 64), colour), "JPEG")
    return Likeness(Face((0, 0, 64, 64), 1.0, ()), score / 100, tile)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(storage_url: str):
    database = connect(storage_url)
    await database.open()
    yield database
    await database.close()


@pytest.fixture
def game(db: Storage, clock: FakeClock) -> Game:
    return Game(db, clock=clock, min_players=2)


async def play(game: Game, clock: FakeClock, scores: dict[str, int], scope: str = CHAT):
    """A whole round: each player sends one photo, a second apart; then time runs out."""
    round_ = await game.start(scope, "Tony_Blair", player("Host"), 60)
    for name, score in scores.items():
        clock.now += 1
        await game.enter(round_.id, player(name), photo(score), score)
    clock.now = round_.ends_at
    return await game.finish(round_.id)


def test_rank_shares_places_and_points_between_ties() -> None:
    entries = [
        Entry(player(name), score / 100, score, 1, float(i))
        for i, (name, score) in enumerate([("D", 50), ("B", 70), ("A", 90), ("C", 70)])
    ]
    standings = rank(entries)
    assert [(s.entry.player.display_name, s.place, s.points) for s in standings] == [
        ("A", 1, 4),  # one point for playing, one for each player beaten
        ("B", 2, 2),  # B and C tie: same place, same points; B's photo came first
        ("C", 2, 2),
        ("D", 4, 1),
    ]
    assert all(s.points == 0 for s in rank(entries, counted=False))
    # Players are ranked by how close they are, not by the rounded, clamped score shown.
    far, farther = Entry(player("E"), 0.80, 0, 1, 0.0), Entry(player("F"), 0.79, 0, 1, 0.0)
    assert [(s.entry.player.display_name, s.place) for s in rank([farther, far])] == [
        ("E", 1),
        ("F", 2),
    ]


async def test_a_round_ranks_players_and_awards_points(game: Game, clock: FakeClock) -> None:
    result = await play(game, clock, {"Alice": 72, "Bob": 65, "Carol": 40})
    assert result is not None and result.counted
    assert [(s.entry.player.display_name, s.place, s.points) for s in result.standings] == [
        ("Alice", 1, 3),
        ("Bob", 2, 2),
        ("Carol", 3, 1),
    ]
    assert [w.entry.player.display_name for w in result.winners] == ["Alice"]
    assert result.round.outcome == "time" and not result.late
    collage = podium(result, reference=None)
    assert collage is not None and collage[:3] == b"\xff\xd8\xff"
    # Three rows, each with the celebrity's name card where there is no reference photo.
    picture = np.asarray(Image.open(io.BytesIO(collage)), dtype=float)
    assert picture.shape[0] == 3 * (256 + 40 + 24 + 12) + 12
    card = np.asarray(cards.card(result.round.celebrity_name), dtype=float)
    for row in range(3):
        y = 24 + row * (256 + 40 + 24 + 12)
        column = picture[y : y + 256, 24 + 256 + 6 : 24 + 512 + 6]
        assert column.std() > 20 and np.abs(column - card).mean() < 6
    assert await game.finish(result.round.id) is None  # a round ends once


async def test_ties_share_the_win(game: Game, clock: FakeClock) -> None:
    result = await play(game, clock, {"Alice": 80, "Bob": 80, "Carol": 50})
    assert result is not None
    assert [(s.place, s.points) for s in result.standings] == [(1, 2), (1, 2), (3, 1)]
    assert {w.entry.player.display_name for w in result.winners} == {"Alice", "Bob"}
    board = await game.leaderboard(CHAT)
    assert [(row.place, row.player.display_name, row.points, row.wins) for row in board] == [
        (1, "Alice", 2, 1),
        (1, "Bob", 2, 1),
        (3, "Carol", 1, 0),
    ]


async def test_a_players_best_photo_counts(game: Game, clock: FakeClock) -> None:
    round_ = await game.start(CHAT, "Tony_Blair", player("Host"), 60)
    alice = player("Alice")
    first = await game.enter(round_.id, alice, photo(60), 60)
    worse = await game.enter(round_.id, alice, photo(40), 40)
    better = await game.enter(round_.id, alice, photo(75), 75)
    assert first.best and not worse.best and better.best
    assert worse.entry.score == 60 and better.entry.score == 75
    await game.enter(round_.id, player("Bob"), photo(70), 70)
    result = await game.finish(round_.id)
    assert result is not None
    (top, second) = result.standings
    assert (top.entry.player.user_id, top.entry.score, top.entry.photos) == ("alice", 75, 3)
    assert second.entry.photos == 1
    # Only the counted photo's face is kept for the collage.
    assert set(result.faces) == {("telegram", "alice"), ("telegram", "bob")}


async def test_a_round_needs_enough_players(game: Game, clock: FakeClock) -> None:
    alone = await play(game, clock, {"Alice": 90})
    assert alone is not None and not alone.counted
    assert alone.winners == () and [s.points for s in alone.standings] == [0]
    nobody = await play(game, clock, {})
    assert nobody is not None and nobody.standings == ()
    assert await game.leaderboard(CHAT) == []


async def test_one_round_at_a_time_per_chat_and_only_in_time(game: Game, clock: FakeClock) -> None:
    round_ = await game.start(CHAT, "Tony_Blair", player("Host"), 60)
    with pytest.raises(RoundRunning):
        await game.start(CHAT, "Serena_Williams", player("Bob"), 60)
    elsewhere = await game.start("telegram:-200", "Serena_Williams", player("Bob"), 60)
    assert elsewhere.id != round_.id
    clock.now = round_.ends_at
    with pytest.raises(RoundOver):  # the time is up, though no timer has ended it yet
        await game.enter(round_.id, player("Alice"), photo(90), 90)
    # A photo that arrived in time counts even when it is scored after the end.
    await game.enter(round_.id, player("Alice"), photo(90), 90, at=round_.ends_at - 0.5)
    result = await game.finish(round_.id)
    assert result is not None and len(result.standings) == 1
    with pytest.raises(RoundOver):
        await game.enter(round_.id, player("Bob"), photo(90), 90, at=round_.started_at)


async def test_stop_ends_a_round_with_its_points(game: Game, clock: FakeClock) -> None:
    round_ = await game.start(CHAT, "Tony_Blair", player("Host"), 60)
    await game.enter(round_.id, player("Alice"), photo(50), 50)
    await game.enter(round_.id, player("Bob"), photo(60), 60)
    clock.now += 10
    result = await game.finish(round_.id, stopped=True)
    assert result is not None and result.round.outcome == "stopped"
    assert [s.entry.player.display_name for s in result.winners] == ["Bob"]
    assert await game.current(CHAT) is None


async def test_rounds_and_scores_survive_a_reopened_database(storage_url: str) -> None:
    clock = FakeClock()
    db = connect(storage_url)
    await db.open()
    game = Game(db, clock=clock)
    await play(game, clock, {"Alice": 70, "Bob": 60})
    running = await game.start(CHAT, "Tony_Blair", player("Alice"), 60)
    await game.enter(running.id, player("Alice"), photo(55), 55)
    await game.enter(running.id, player("Bob"), photo(65), 65)
    await db.close()  # the process stops in the middle of a round

    clock.now = running.ends_at + 120  # and starts again two minutes after its end
    db = connect(storage_url)
    await db.open()
    try:
        game = Game(db, clock=clock)
        (resumed,) = await game.running("telegram")
        assert dataclasses.replace(resumed) == running
        assert await game.running("discord") == []
        result = await game.finish(resumed.id)
        assert result is not None and result.late and result.counted
        assert [s.entry.player.display_name for s in result.standings] == ["Bob", "Alice"]
        assert result.faces == {}  # face tiles were in memory only
        board = await game.leaderboard(CHAT)
        assert [(r.player.display_name, r.points, r.wins, r.rounds) for r in board] == [
            ("Alice", 3, 1, 2),
            ("Bob", 3, 1, 2),
        ]
    finally:
        await db.close()


async def test_forget_erases_a_players_entries(game: Game, clock: FakeClock, db: Storage) -> None:
    await play(game, clock, {"Alice": 70, "Bob": 60})
    await play(game, clock, {"Alice": 50, "Bob": 60})
    held = await game.export("telegram", "alice")
    assert [(e["scope"], e["celebrity"], e["score"], e["place"], e["points"]) for e in held] == [
        (CHAT, "Tony Blair", 70, 1, 2),
        (CHAT, "Tony Blair", 50, 2, 1),
    ]
    assert await game.forget("telegram", "alice") == 2
    assert await game.export("telegram", "alice") == []
    assert [r.player.display_name for r in await game.leaderboard(CHAT)] == ["Bob"]
    assert await game.forget("telegram", "alice") == 0
    starters = await db.fetchall("SELECT DISTINCT started_by FROM game_rounds")
    assert starters == [("host",)]
    assert await db.fetchall("SELECT DISTINCT language FROM game_rounds") == [("en",)]
    assert await game.forget("telegram", "host") == 0
    # Neither who started the rounds nor their language is kept.
    assert await db.fetchall("SELECT DISTINCT started_by, language FROM game_rounds") == [
        (None, None)
    ]


def test_choosing_the_celebrity() -> None:
    people = [
        Celebrity("Tony_Blair", "Tony Blair", "politics", well_known=True),
        Celebrity("Tom_Hanks", "Tom Hanks", "film", well_known=True),
        Celebrity("Serena_Williams", "Serena Williams", "sport", well_known=True),
        Celebrity("Venus_Williams", "Venus Williams", "sport", well_known=True),
        Celebrity("Jose_Maria_Aznar", "José María Aznar", "politics", well_known=False),
        Celebrity("Carlos_Moya", "Carlos Moyá", "sport", well_known=False),
    ]
    rng = random.Random(0)

    def label(wanted: str, fields: tuple[str, ...] = ()) -> str:
        return choose_celebrity(people, wanted, rng, fields).label

    assert label("tony blair") == "Tony_Blair"
    assert label("Serena_Williams") == "Serena_Williams"
    assert label("hanks") == "Tom_Hanks"
    assert label("jose maria aznar") == label("José María") == "Jose_Maria_Aznar"
    # At random: only well-known people, of the fields asked for.
    assert {label("") for _ in range(60)} == {"Tony_Blair", "Tom_Hanks", "Serena_Williams",
                                             "Venus_Williams"}  # fmt: skip
    assert {label("", ("sport",)) for _ in range(40)} == {"Serena_Williams", "Venus_Williams"}
    with pytest.raises(ModelUnavailable):
        label("", ("royalty",))
    with pytest.raises(UnknownCelebrity) as ambiguous:
        label("williams")
    assert ambiguous.value.details["options"] == "Serena Williams, Venus Williams"
    with pytest.raises(UnknownCelebrity) as typo:
        label("Tony Blear")
    assert "Tony Blair" in str(typo.value)
    with pytest.raises(UnknownCelebrity) as accents:
        label("Carlos Moyo")
    assert "Carlos Moyá" in str(accents.value)


async def test_a_photo_is_scored_by_its_largest_face_and_one_without_a_face_not_at_all(
    pipeline: Pipeline, toy_model: Path, tmp_path: Path, astronaut, hopper, no_face, group_photo
) -> None:
    settings = dataclasses.replace(pipeline.settings, model=toy_model, db=tmp_path / "e.sqlite3")
    async with Engine(settings) as engine:
        own = await engine.similarity_to(encode(astronaut, "JPEG"), "Eileen Collins")
        other = await engine.similarity_to(encode(hopper, "JPEG"), "Eileen_Collins")
        assert own.similarity > 0.95 > other.similarity
        assert own.score > other.score and 0 <= other.score <= own.score <= 100
        assert own.tile[:3] == b"\xff\xd8\xff"
        largest = await engine.similarity_to(encode(group_photo, "JPEG"), "Grace Hopper")
        assert largest.similarity > 0.95  # Grace Hopper is the largest of the three faces
        with pytest.raises(NoFaceFound):
            await engine.similarity_to(encode(no_face, "JPEG"), "Eileen Collins")
        with pytest.raises(ModelUnavailable):
            await engine.similarity_to(encode(astronaut, "JPEG"), "Nobody_Known")
