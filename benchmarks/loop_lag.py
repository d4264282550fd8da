"""Event-loop lag of a running bot while it works through a burst of photos.

Run: .venv/bin/python -m benchmarks.loop_lag [--photos 50] [--json]

The Telegram adapter (the real python-telegram-bot client) runs against the fake
Bot API server of tests/fakes/telegram.py, which serves from its own thread; 50
photos arrive at once. A task in the bot's event loop sleeps 10 ms over and over
and records how late it wakes: that lateness is how long anything else (a /help,
a button press) would have waited.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.common import percentile, photo_1280x960
from engine.config import Settings
from engine.engine import Engine
from tests.fakes.telegram import FakeTelegram, photo_sizes, telegram_bot, user

REPLIES = ("sendMessage", "sendPhoto", "sendMediaGroup")


def serve_elsewhere(fake: FakeTelegram) -> asyncio.AbstractEventLoop:
    """Run the fake server in its own thread and loop: its work is not the bot's lag."""
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(fake.start())
        started.set()
        loop.run_forever()

    threading.Thread(target=serve, daemon=True, name="fake-telegram").start()
    started.wait()
    return loop


async def measure(count: int) -> dict[str, float]:
    fake = FakeTelegram()
    server = serve_elsewhere(fake)
    with tempfile.TemporaryDirectory() as scratch:
        engine = Engine(dataclasses.replace(Settings.from_env(), db=Path(scratch) / "b.sqlite3"))
        await engine.start()
        lags: list[float] = []
        async with telegram_bot(fake, engine, poll=True, rate_limit_photos=10_000):
            data, sender = photo_1280x960(), user(88, "Burst")
            for _ in range(count):
                file_id = fake.add_file(data)
                message = fake.message(88, sender, photo=photo_sizes(file_id, len(data)))
                server.call_soon_threadsafe(lambda m=message: fake.push(message=m))
            start = time.perf_counter()
            while sum(m in REPLIES for m, _ in fake.calls) < count:
                before = time.perf_counter()
                await asyncio.sleep(0.01)
                lags.append(time.perf_counter() - before - 0.01)
            seconds = time.perf_counter() - start
        await engine.close()
    asyncio.run_coroutine_threadsafe(fake.stop(), server).result(10)
    server.call_soon_threadsafe(server.stop)
    return {
        "photos": count,
        "seconds": seconds,
        "p50_lag_ms": percentile(lags, 50) * 1000,
        "p99_lag_ms": percentile(lags, 99) * 1000,
        "max_lag_ms": max(lags) * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=50)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = asyncio.run(measure(args.photos))
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"{result['photos']} photos answered in {result['seconds']:.1f} s; event-loop lag:"
        f" p50 {result['p50_lag_ms']:.1f} ms, p99 {result['p99_lag_ms']:.1f} ms,"
        f" max {result['max_lag_ms']:.1f} ms"
    )


if __name__ == "__main__":
    main()
