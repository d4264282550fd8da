"""Webhook replicas behind a balancer under load: 500 updates from 50 users, 3 replicas against 1.

python -m benchmarks.replicas [--users 50] [--replicas 3] [--json]

Starts a private PostgreSQL (pgserver), the fake Bot API in local mode, the
round-robin balancer of tests/fakes/cluster.py and N processes of
`python -m bot telegram` in webhook mode with the shipped model, then one
process alone, on a fresh database each. Every user, at once with the others,
in their private chat: /register with a photo (LFW, one person per user), Yes,
/whoami with another photo of them, /whoami with the astronaut, /help,
/privacy, /leaderboard; then a photo into their group's game round (groups of
10: one starts the round and stops it once 8 have entered), /forget, Yes.
Each step waits for its answer (a reply quoting the message, or the button's
answerCallbackQuery), as a person would. 50 users: 500 updates.
Needs ../shared/datasets/lfw.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import astronaut, jpeg, median, percentile
from tests.fakes.cluster import cluster
from tests.fakes.telegram import FakeTelegram, photo_sizes, user
from tests.test_telegram import wait_for

ROOT = Path(__file__).resolve().parents[1]
LFW = Path(os.environ.get("LOOKALIKE_DATASETS", ROOT.parent / "shared" / "datasets")) / "lfw"
GROUP = -9001
GROUP_SIZE = 10  # users per group, where one starts and stops a round ...
ENTRANTS = 8  # ... and this many enter it
ANSWER_WITHIN = 600.0  # seconds; later than this, an update counts as lost


class Stamped(list):
    """The fake's call list, indexing each answer to an update by the time it arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[tuple[str, object], list[float]] = {}
        self.first: dict[tuple[str, object], dict[str, Any]] = {}
        self.waiters: dict[tuple[str, object], asyncio.Event] = {}

    def append(self, item: Any) -> None:
        super().append(item)
        method, params = item
        key: tuple[str, object] | None = None
        if "!" in method:
            return
        if method.startswith("send"):
            quoted = (params.get("reply_parameters") or {}).get("message_id")
            key = ("message", quoted) if quoted is not None else None
        elif method == "answerCallbackQuery":
            key = ("button", str(params.get("callback_query_id")))
        if key is None:
            return
        self.answers.setdefault(key, []).append(time.monotonic())
        self.first.setdefault(key, params)
        self.waiters.setdefault(key, asyncio.Event()).set()


def people(count: int) -> list[list[bytes]]:
    """Two photos of each of ``count`` LFW people who have two (JPEG bytes)."""
    chosen = []
    for folder in sorted((LFW / "images").iterdir()):
        files = sorted(folder.glob("*.jpg"))[:2]
        if len(files) == 2:
            chosen.append([f.read_bytes() for f in files])
        if len(chosen) == count:
            return chosen
    raise SystemExit(f"needs {count} people with two photos in {LFW}")


@dataclasses.dataclass
class Round:
    """A group's game round: started, and who has entered it."""

    chat: int
    players: int
    started: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    entered: list[int] = dataclasses.field(default_factory=list)
    done: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)


class Load:
    """Pushes each user's steps and waits for their answers, timing every update."""

    def __init__(self, fake: FakeTelegram) -> None:
        self.fake = fake
        fake.calls = Stamped()
        self.pushed_at: dict[int, float] = {}
        self.keys: dict[int, tuple[str, object]] = {}  # update id -> what answers it

    async def step(self, **update: Any) -> dict[str, Any] | None:
        """Push one update; the first reply to it (a send's params), or None if lost."""
        if "message" in update:
            key: tuple[str, object] = ("message", update["message"]["message_id"])
        else:
            key = ("button", str(update["callback_query"]["id"]))
        calls: Stamped = self.fake.calls  # type: ignore[assignment]
        answered = calls.waiters.setdefault(key, asyncio.Event())
        pushed = self.fake.push(**update)
        self.pushed_at[pushed["update_id"]] = time.monotonic()
        self.keys[pushed["update_id"]] = key
        try:
            await asyncio.wait_for(answered.wait(), ANSWER_WITHIN)
        except TimeoutError:
            return None
        return calls.first[key]

    def photo(self, chat: int, who: dict, data: bytes, caption: str = "") -> dict[str, Any]:
        file_id = self.fake.add_file(data)
        fields: dict[str, Any] = {"photo": photo_sizes(file_id, len(data))}
        if caption:
            fields["caption"] = caption
        return {"message": self.fake.message(chat, who, **fields)}

    def text(self, chat: int, who: dict, text: str) -> dict[str, Any]:
        entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
        return {"message": self.fake.message(chat, who, text=text, entities=entities)}

    def press(self, who: dict, question: dict[str, Any] | None, answer: str) -> dict[str, Any]:
        keyboard = ((question or {}).get("reply_markup") or {}).get("inline_keyboard") or [[]]
        data = next(
            (b["callback_data"] for b in keyboard[0] if f":{answer}:" in b["callback_data"]), "x"
        )
        return {
            "callback_query": {
                "id": str(time.monotonic_ns()),
                "from": who,
                "chat_instance": "1",
                "data": data,
                "message": self.fake.message(
                    who["id"], {"id": 4242, "is_bot": True, "first_name": "L"}, text="?"
                ),
            }
        }

    async def user(self, who: dict, photos: list[bytes], other: bytes, game: Round | None) -> None:
        """One user's steps in their private chat, with an entry into a group's round."""
        me = who["id"]
        question = await self.step(**self.photo(me, who, photos[0], "/register"))
        await self.step(**self.press(who, question, "yes"))
        await self.step(**self.photo(me, who, photos[1], "/whoami"))
        await self.step(**self.photo(me, who, other, "/whoami"))
        for command in ("/help", "/privacy", "/leaderboard"):
            await self.step(**self.text(me, who, command))
        if game is not None:
            await game.started.wait()
            await self.step(**self.photo(game.chat, who, photos[1]))
            game.entered.append(me)
            if len(game.entered) == game.players:
                game.done.set()
        confirm = await self.step(**self.text(me, who, "/forget"))
        await self.step(**self.press(who, confirm, "yes"))

    async def round(self, game: Round, starter: dict) -> None:
        """/game in the group, then /game stop once its players have entered."""
        await self.step(**self.text(game.chat, starter, "/game"))
        game.started.set()
        await game.done.wait()
        await self.step(**self.text(game.chat, starter, "/game stop"))

    def report(self, wall_s: float) -> dict[str, Any]:
        latencies, answered, twice, lost = [], 0, 0, 0
        calls: Stamped = self.fake.calls  # type: ignore[assignment]
        for update_id, key in self.keys.items():
            answers = calls.answers.get(key, [])
            if not answers:
                lost += 1
                continue
            answered += 1
            twice += len(answers) > 1
            latencies.append(answers[0] - self.pushed_at[update_id])
        return {
            "sent": len(self.keys),
            "answered": answered,
            "lost": lost,
            "answered_twice": twice,
            "p50_s": round(median(latencies), 3),
            "p95_s": round(percentile(latencies, 95), 3),
            "wall_s": round(wall_s, 1),
            "updates_per_s": round(answered / wall_s, 2),
        }


async def run(url: str, replicas: int, users: int, folder: Path, threads: int) -> dict[str, Any]:
    model = ROOT / "run" / "models" / "celebrities"
    everyone = [user(20_000 + i, f"User{i}") for i in range(users)]
    photos = people(users)
    other = jpeg(astronaut())
    async with cluster(
        url,
        model,
        folder,
        replicas,
        RATE_LIMIT_PHOTOS="1000",
        GAME_ROUND_SECONDS="3600",
        LOOKALIKE_THREADS=str(threads),
    ) as (fake, _, bots):
        await wait_for(fake, lambda c: sum(m == "setWebhook" for m, _ in c) == replicas)
        load = Load(fake)
        started = time.monotonic()
        # Telegram lets a bot send 20 messages a minute into one group (python-telegram-bot's
        # AIORateLimiter keeps to it): rounds in groups of GROUP_SIZE, the rest in private.
        tasks, rounds = [], []
        for first in range(0, users, GROUP_SIZE):
            members = everyone[first : first + GROUP_SIZE]
            entrants = members[1 : 1 + ENTRANTS]
            game = Round(GROUP - first, len(entrants))
            rounds.append(load.round(game, members[0]))
            for who in members:
                entering = game if who in entrants else None
                tasks.append(load.user(who, photos[everyone.index(who)], other, entering))
        await asyncio.gather(*tasks, *rounds)
        report = load.report(time.monotonic() - started)
        report["replicas_alive"] = sum(b.alive for b in bots)
    report["replicas"], report["threads_each"] = replicas, threads
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument(
        "--alone-threads",
        type=int,
        default=1,
        help="model threads of the one replica alone (each of several has 1)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    import pgserver

    reports = []
    with tempfile.TemporaryDirectory(prefix="lookalike-replicas-") as folder:
        server = pgserver.get_server(Path(folder) / "pg", cleanup_mode="stop")
        try:
            for count, threads in ((args.replicas, 1), (1, args.alone_threads)):
                name = f"load{count}"
                server.psql(f"CREATE DATABASE {name};")
                logs = Path(folder) / name
                logs.mkdir()
                uri = server.get_uri(name)
                reports.append(asyncio.run(run(uri, count, args.users, logs, threads)))
        finally:
            server.cleanup()
    cores = len(os.sched_getaffinity(0))
    if args.json:
        print(json.dumps({"cores": cores, "runs": reports}))
        return
    print(f"{args.users} users, {cores} cores shared by every process")
    for r in reports:
        print(
            f"  {r['replicas']} replica(s), {r['threads_each']} model thread(s) each:"
            f" sent {r['sent']}, answered {r['answered']},"
            f" lost {r['lost']}, answered twice {r['answered_twice']};"
            f" p50 {r['p50_s']:.2f} s, p95 {r['p95_s']:.2f} s;"
            f" {r['updates_per_s']:.2f} updates/s over {r['wall_s']:.0f} s"
        )
    ratio = reports[0]["updates_per_s"] / reports[1]["updates_per_s"]
    print(f"  throughput, {reports[0]['replicas']} replicas against 1: {ratio:.2f}x")


if __name__ == "__main__":
    main()
