"""Two `python -m bot discord` processes, each running one of the bot's two shards."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, encode
from tests.fakes.discord import CHANNEL_ID, GUILD_ID, FakeDiscord, shard_of, user
from tests.test_discord import wait_for

pytestmark = pytest.mark.slow

OTHER_GUILD = GUILD_ID + (1 << 22)  # the next shard's, of two
ZOE = user(9101, "Zoe")


def start(fake: FakeDiscord, shard: int, db: Path, model: Path, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DISCORD_TOKEN": fake.token,
        "DISCORD_GUILD_ID": str(GUILD_ID),
        "DISCORD_SHARD_COUNT": "2",
        "DISCORD_SHARD_IDS": str(shard),
        "LOOKALIKE_DB": str(db),
        "LOOKALIKE_MODEL": str(model),
        "LOOKALIKE_THREADS": "1",
        "LOG_FILE": str(log),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.discord_launch", fake.api_url, fake.gateway_url],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )


def replies(fake: FakeDiscord, channel_id: int) -> int:
    return sum(s.channel_id == channel_id and not s.thinking for s in fake.sent)


async def test_two_processes_each_answer_the_servers_of_their_shard(
    tmp_path: Path, toy_model, astronaut
) -> None:
    assert shard_of(GUILD_ID, 2) != shard_of(OTHER_GUILD, 2)
    fake = FakeDiscord()
    fake.guilds = [GUILD_ID, OTHER_GUILD]
    await fake.start()
    db = tmp_path / "bot.sqlite3"
    processes = [
        start(fake, shard, db, toy_model, tmp_path / f"shard{shard}.log") for shard in (0, 1)
    ]
    channels = {GUILD_ID: CHANNEL_ID, OTHER_GUILD: OTHER_GUILD + 1}
    try:
        await wait_for(fake, lambda: len(fake._shards) == 2, 180)
        assert sorted(i["shard"] for i in fake.identifies) == [[0, 2], [1, 2]]
        photo = encode(astronaut, "JPEG")
        for guild, channel in channels.items():
            attachment = fake.attachment(photo, "me.jpg")
            await fake.message(
                ZOE, [attachment], mention_bot=True, guild_id=guild, channel_id=channel
            )
        await wait_for(fake, lambda: all(replies(fake, c) for c in channels.values()), 120)

        # Without the process of the other server's shard, only this server is answered.
        owner = processes[shard_of(OTHER_GUILD, 2)]
        owner.send_signal(signal.SIGKILL)
        owner.wait(30)
        await wait_for(fake, lambda: len(fake._shards) == 1, 30)
        assert not await fake.dispatch(
            "MESSAGE_CREATE",
            {"guild_id": str(OTHER_GUILD)},
        )  # that server's events have no connection to go to now
        kept = fake.attachment(photo, "me.jpg")
        await fake.message(ZOE, [kept], mention_bot=True, guild_id=GUILD_ID, channel_id=CHANNEL_ID)
        await wait_for(fake, lambda: replies(fake, CHANNEL_ID) == 2, 120)
        await asyncio.sleep(1)
        assert replies(fake, CHANNEL_ID) == 2 and replies(fake, OTHER_GUILD + 1) == 1
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(60)
                except subprocess.TimeoutExpired:
                    process.kill()
        await fake.stop()
        for shard in (0, 1):
            log = tmp_path / f"shard{shard}.log"
            if log.exists():
                print(f"--- shard {shard}\n" + "\n".join(log.read_text().splitlines()[-20:]))
