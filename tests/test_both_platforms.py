"""Telegram and Discord in one process, one Engine and one Conversation, against both fakes."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.app import choose, make_adapter
from bot.config import BotSettings
from bot.conversation import Conversation
from engine.engine import Engine
from engine.pipeline import Pipeline
from tests.conftest import encode
from tests.fakes import discord as fake_discord
from tests.fakes.discord import FakeDiscord, pointed_at
from tests.fakes.telegram import FakeTelegram, user
from tests.test_discord import next_sent
from tests.test_telegram import push_photo, sent_to, text_of, wait_for

ALICE_ON_TELEGRAM = user(501, "Alice")
ALICE_ON_DISCORD = fake_discord.user(600_000_000_000_000_501, "Alice")


async def test_both_platforms_answer_photos_in_one_process(
    tmp_path, pipeline: Pipeline, toy_model, astronaut, hopper
) -> None:
    telegram, discord = FakeTelegram(), FakeDiscord()
    await telegram.start()
    await discord.start()
    settings = BotSettings(
        telegram_token=telegram.token,
        telegram_base_url=telegram.base_url,
        telegram_base_file_url=telegram.base_file_url,
        discord_token=discord.token,
    )
    # What `python -m bot` does with both tokens set: every platform, one engine.
    platforms, _ = choose([], settings)
    assert platforms == ["telegram", "discord"]
    engine = Engine(dataclasses.replace(pipeline.settings, model=toy_model, db=tmp_path / "b.db"))
    await engine.start()
    conversation = Conversation(engine, settings)
    adapters = [make_adapter(name, conversation, settings, None, False, None) for name in platforms]
    try:
        with pointed_at(discord):
            running = asyncio.gather(*(adapter.run() for adapter in adapters))
            await asyncio.wait_for(discord.connected.wait(), 30)
            await wait_for(telegram, lambda calls: any(m == "setMyCommands" for m, _ in calls))

            push_photo(
                telegram, ALICE_ON_TELEGRAM["id"], ALICE_ON_TELEGRAM, encode(astronaut, "JPEG")
            )
            photo = discord.attachment(encode(hopper, "JPEG"))
            await discord.message(ALICE_ON_DISCORD, [photo], mention_bot=True)

            on_discord = await next_sent(discord, 0)
            await wait_for(telegram, lambda _: bool(sent_to(telegram, ALICE_ON_TELEGRAM["id"])))
            ((method, on_telegram),) = sent_to(telegram, ALICE_ON_TELEGRAM["id"])
            assert method == "sendMediaGroup" and "Eileen Collins" in text_of(on_telegram)
            assert "Grace Hopper" in on_discord.content and len(on_discord.files) == 2

            for adapter in adapters:
                adapter.stop()
            await asyncio.wait_for(running, 30)
    finally:
        await engine.close()
        await telegram.stop()
        await discord.stop()
