"""Killed processes, on SQLite and PostgreSQL: the data survives a kill mid-write, and a game
round a crash, ended by the next process."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from engine.storage import connect
from tests.conftest import ROOT, encode

WRITER = textwrap.dedent(
    """
    import asyncio, sys
    import numpy as np
    from engine.faces import Face
    from engine.gallery import MatchPolicy
    from engine.registry import Person, Registry
    from engine.storage import connect

    async def main():
        db = connect(sys.argv[1])
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


def test_database_survives_a_process_killed_mid_write(storage_url: str) -> None:
    writer = subprocess.Popen(
        [sys.executable, "-c", WRITER, storage_url],
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
    rows, ids, integrity = asyncio.run(contents(storage_url))
    assert integrity == "ok"
    assert rows >= committed + 1
    assert set(range(committed + 1)) <= ids


async def contents(url: str) -> tuple[int, set[int], str]:
    """Embeddings stored, people's user ids, and the database's own integrity check."""
    db = connect(url)
    await db.open()
    try:
        (rows,) = await db.fetchone("SELECT COUNT(*) FROM embeddings")
        ids = {int(r[0]) for r in await db.fetchall("SELECT user_id FROM people")}
        return int(rows), ids, await db.integrity_check()
    finally:
        await db.close()


def test_a_crash_in_the_middle_of_a_round_recovers(
    tmp_path: Path, storage_url: str, toy_model, astronaut, hopper
):
    (tmp_path / "a.jpg").write_bytes(encode(astronaut, "JPEG"))
    (tmp_path / "h.jpg").write_bytes(encode(hopper, "JPEG"))
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "LOOKALIKE_MODEL": str(toy_model),
        "LOOKALIKE_DB": storage_url,
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
