"""Time from a photo update reaching the bot to its reply, against the fake Bot API server.

Run: .venv/bin/python -m benchmarks.telegram_latency [--repeat 20] [--json]

The real python-telegram-bot client polls tests/fakes/telegram.py on 127.0.0.1;
each photo (Grace Hopper, 1280x960 JPEG) is sent alone, and the clock runs from
the moment the fake hands the update to the bot until the reply arrives back:
download, decode, detect, embed, classify, draw, upload.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import time
from pathlib import Path

from benchmarks.common import median, percentile, photo_1280x960
from engine.config import Settings
from engine.engine import Engine
from tests.fakes.telegram import FakeTelegram, photo_sizes, telegram_bot, user

REPLIES = ("sendMessage", "sendPhoto", "sendMediaGroup")


async def measure(repeat: int) -> list[float]:
    fake = FakeTelegram()
    await fake.start()
    with tempfile.TemporaryDirectory() as scratch:
        engine = Engine(dataclasses.replace(Settings.from_env(), db=Path(scratch) / "b.sqlite3"))
        await engine.start()
        times = []
        async with telegram_bot(fake, engine, rate_limit_photos=10_000):
            data = photo_1280x960()
            sender = user(77, "Bench")
            for i in range(repeat + 2):
                before = sum(m in REPLIES for m, _ in fake.calls)
                file_id = fake.add_file(data)
                message = fake.message(77, sender, photo=photo_sizes(file_id, len(data)))
                fake.push(message=message)
                start = time.perf_counter()
                while True:
                    fake.changed.clear()  # before looking, so that no reply slips between
                    if sum(m in REPLIES for m, _ in fake.calls) > before:
                        break
                    await fake.changed.wait()
                if i >= 2:  # two warm-up photos
                    times.append(time.perf_counter() - start)
        await engine.close()
    await fake.stop()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    times = asyncio.run(measure(args.repeat))
    result = {
        "photos": len(times),
        "median_ms": median(times) * 1000,
        "p90_ms": percentile(times, 90) * 1000,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"update to reply, {len(times)} photos one at a time:"
            f" median {result['median_ms']:.0f} ms, p90 {result['p90_ms']:.0f} ms"
        )


if __name__ == "__main__":
    main()
