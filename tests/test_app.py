"""bot/app.py's real start-up, as `python -m bot` runs it with both tokens: both platforms,
the game and the daily retention, against both fakes, until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import signal
import sqlite3
import time
from pathlib import Path

from bot.app import run
from bot.config import BotSettings
from engine.engine import Engine
from engine.pipeline import Pipeline
from engine.registry import Person
from tests.conftest import encode
from tests.fakes.discord import CHANNEL_ID, GUILD_ID, FakeDiscord, pointed_at
from tests.fakes.discord import user as discord_user
from tests.fakes.telegram import FakeTelegram, user
from tests.test_discord import answer
from tests.test_telegram import next_reply, push_photo, push_text, sent_to, text_of, wait_for

GROUP = -4001
ALICE, BOB = user(741, "Alice"), user(742, "Bob")


async def until(done, within: float = 60) -> None:
    """Poll a condition that another process or thread makes true."""
    deadline = time.monotonic() + within
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.1)


async def test_the_real_start_up_runs_both_platforms_the_game_and_retention(
    tmp_path: Path, pipeline: Pipeline, toy_model, astronaut, hopper
) -> None:
    telegram, discord = FakeTelegram(), FakeDiscord()
    await telegram.start()
    await discord.start()
    db = tmp_path / "app.sqlite3"
    settings = dataclasses.replace(pipeline.settings, model=toy_model, db=db)
    async with Engine(settings) as before:  # someone registered long ago, and someone lately
        await before.register("telegram:-4002", Person("telegram", "1", "Old"), encode(hopper))
    bot_settings = BotSettings(
        telegram_token=telegram.token,
        telegram_base_url=telegram.base_url,
        telegram_base_file_url=telegram.base_file_url,
        discord_token=discord.token,
        discord_guild_id=GUILD_ID,
        game_round_seconds=2,
    )
    try:
        with pointed_at(discord):
            app = asyncio.create_task(
                run(
                    ["telegram", "discord"],
                    settings=settings,
                    bot_settings=bot_settings,
                    retention_every=0.2,
                )
            )
            await asyncio.wait_for(discord.connected.wait(), 60)
            await wait_for(telegram, lambda c: any(m == "setMyCommands" for m, _ in c))

            # The game plugin is attached to Telegram: a whole round, ended by its timer.
            start = len(telegram.calls)
            push_text(telegram, GROUP, ALICE, "/game Eileen Collins")
            assert "Who looks most like Eileen Collins" in text_of(
                await next_reply(telegram, GROUP, start)
            )
            push_photo(telegram, GROUP, ALICE, encode(astronaut, "JPEG"))
            push_photo(telegram, GROUP, BOB, encode(hopper, "JPEG"))
            await wait_for(
                telegram,
                lambda _: any(
                    "Time's up" in text_of(p) for _, p in sent_to(telegram, GROUP, start)
                ),
            )

            # ... and to Discord, through the same engine.
            board = await answer(
                discord, await discord.slash("leaderboard", discord_user(9, "Zoe"))
            )
            assert "No scores here yet" in board.content  # scores belong to their chat
            assert board.channel_id == CHANNEL_ID

            # Retention runs while the bot runs, not only at start-up.
            with sqlite3.connect(db) as conn:
                conn.execute("UPDATE registrations SET last_used_at = '2000-01-01T00:00:00+00:00'")
            await until(lambda: _registrations(db) == 0)

            os.kill(os.getpid(), signal.SIGTERM)  # what a service manager sends
            await asyncio.wait_for(app, 60)
    finally:
        with contextlib.suppress(Exception):
            await telegram.stop()
        await discord.stop()


def _registrations(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT COUNT(*) FROM registrations").fetchone()[0]
