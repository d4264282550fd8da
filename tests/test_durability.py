"""The database survives a process killed in the middle of writing registrations."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import ROOT

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
