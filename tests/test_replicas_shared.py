"""What bot replicas keep in the database, on SQLite and PostgreSQL: notes, and the open
questions and rate limits of conversations in several processes."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, User
from bot.limits import button_data
from bot.shared import SharedQuestions
from engine.engine import Engine
from engine.pipeline import Pipeline
from engine.storage import Storage
from engine.storage.shared import Notes

pytestmark = pytest.mark.asyncio

CHAT = Chat("telegram", "-5", is_group=True)
ANN = User("telegram", "51", "Ann")


@pytest.fixture
def storages(replicas: list[Storage]) -> list[Storage]:
    """Two processes' storages on one database."""
    return replicas[:2]


async def test_a_note_is_read_everywhere_and_taken_once(storages: list[Storage]) -> None:
    a, b = (Notes(db) for db in storages)
    await a.put("question:x", "v1", 60)
    value, left = await b.get("question:x")
    assert value == "v1" and 59 < left <= 60
    assert not await b.take("question:x", "v0")  # a newer question replaced it
    taken = await asyncio.gather(*(n.take("question:x", "v1") for n in (a, b, a, b)))
    assert sorted(taken) == [False, False, False, True]
    assert await a.get("question:x") is None
    await a.put("question:y", "v", 0.05)
    await asyncio.sleep(0.1)
    assert await b.get("question:y") is None and not await b.take("question:y", "v")


async def test_a_question_asked_in_one_process_is_answered_once_in_another(
    storage_url: str, pipeline: Pipeline
) -> None:
    settings = dataclasses.replace(pipeline.settings, db=storage_url)
    async with (
        Engine(settings, pipeline=pipeline) as one,
        Engine(settings, pipeline=pipeline) as two,
    ):
        bot = BotSettings(rate_limit_photos=2)
        here, there = (Conversation(e, bot, shared=True) for e in (one, two))
        assert isinstance(here.questions, SharedQuestions)
        replies = await here.on_command(CHAT, ANN, "forget")
        await here.questions.flush()
        (yes,) = [b.data for b in replies[0].buttons if ":yes:" in b.data]
        found = await there.questions.fetch(CHAT, ANN)
        assert found is not None and found.kind == "forget" and button_data(found, "yes") == yes
        assert found.on_answer is not None  # the method, found in the other process
        pressed = await asyncio.gather(
            there.on_button(CHAT, ANN, yes), here.on_button(CHAT, ANN, yes)
        )
        assert sorted(bool(p.replies) for p in pressed) == [False, True]  # one erasure

        # One budget, whichever process the photos reach.
        refusals = [await c.limits.admit(ANN) for c in (here, there, here)]
        assert [r is None for r in refusals] == [True, True, False]
        assert refusals[2].key == "rate_limited"
