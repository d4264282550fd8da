"""Killed processes: the database survives a kill mid-write, and a game round a crash."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.conftest import ROOT, encode

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    from engine.db import Database
    from engine.faces import Face
    from engine.gallery import MatchPolicy
    from engine.registry import Person, Registry

    async def main():
        db = Database(sys.argv[1])
        await db.open()
        registry = Registry(db, embedder="dlib", dim=8, policy=MatchPolicy(2.0), limit=10**9)
        rng = np.random.default_rng(0)
        for i in range(100000):
            person = Person("telegram", str(i), "x" * 200)
            await registry.add("telegram:1", person, rng.normal(size=8), Face((0, 0, 1, 1), 1, ()))
            print(i, flush=True)

    asyncio.run(main())
    """
)


def test_database_survives_a_process_killed_mid_write(tmp_path: Path) -> None:
    path = tmp_path / "killed.sqlite3"
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    committed = -1
    assert writer.stdout is not None
    for line in writer.stdout:
        committed = int(line)
        if committed >= 150:
            break
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        (rows,) = conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()
        ids = {int(r[0]) for r in conn.execute("SELECT user_id FROM people")}
    assert rows >= committed + 1
    assert set(range(committed + 1)) <= ids


def test_a_crash_in_the_middle_of_a_round_recovers(tmp_path: Path, toy_model, astronaut, hopper):
    (tmp_path / "a.jpg").write_bytes(encode(astronaut, "JPEG"))
    (tmp_path / "h.jpg").write_bytes(encode(hopper, "JPEG"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOOKALIKE_MODEL": str(toy_model),
        "LOOKALIKE_DB": str(tmp_path / "game.sqlite3"),
        "GAME_ROUND_SECONDS": "30",
        "LOG_LEVEL": "ERROR",
    }
    command = [sys.executable, "-m", "bot", "shell", "--json", "--out", str(tmp_path / "out")]
    first = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env
    )
    script = (
        f"/chat party\n/game Grace Hopper\n/as Ann\n{tmp_path / 'h.jpg'}\n"
        f"/as Ben\n{tmp_path / 'a.jpg'}\n"
    )
    assert first.stdin is not None and first.stdout is not None
    first.stdin.write(script)
    first.stdin.flush()
    lines = [first.stdout.readline() for _ in range(3)]  # the round, then two entries
    assert "Ben" in lines[-1]
    first.send_signal(signal.SIGKILL)  # no clean shutdown
    first.wait(timeout=10)
    started = time.monotonic()
    second = subprocess.run(
        command,
        input="/chat party\n/wait 31\n/leaderboard\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert second.returncode == 0, second.stderr
    assert "Time's up" in second.stdout and "The winner: Ann" in second.stdout
    assert "Ann – 2 points" in second.stdout
    assert time.monotonic() - started < 120
