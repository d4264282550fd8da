"""The bot as a process: time to ready, peak memory after 200 photos, growth over a long soak.

Run: .venv/bin/python -m benchmarks.bot_process [--photos 1000] [--json]

It starts `python -m bot shell --json` with the default celebrity model and a
fresh database, sends /help (its answer marks the bot ready: imports, model
loading, database), then photos with 1-3 faces (640-1280 px), one line each,
reading the process's resident memory (VmRSS) after every answer. Peak RSS is
VmHWM after 200 photos; growth is the slope of a straight line fitted to RSS
over the second half of the photos, after the allocators have settled.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from benchmarks.throughput import photos


def memory_mb(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) of a process, in MB."""
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def run(count: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        files = []
        for i, data in enumerate(photos()):
            path = folder / f"photo{i}.jpg"
            path.write_bytes(data)
            files.append(path)
        env = {
            **os.environ,
            "LOOKALIKE_DB": str(folder / "bot.sqlite3"),
            "RATE_LIMIT_PHOTOS": "1000000",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        start = time.perf_counter()
        bot = subprocess.Popen(
            [sys.executable, "-m", "bot", "shell", "--json", "--out", str(folder / "out")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            cwd=ROOT,
            env=env,
        )
        assert bot.stdin is not None and bot.stdout is not None
        bot.stdin.write("/help\n")
        bot.stdin.flush()
        bot.stdout.readline()
        ready = time.perf_counter() - start
        rss, peak_200 = [], 0.0
        for n in range(1, count + 1):
            bot.stdin.write(f"{files[n % len(files)]}\n")
            bot.stdin.flush()
            bot.stdout.readline()
            current, peak = memory_mb(bot.pid)
            rss.append(current)
            if n == min(200, count):
                peak_200 = peak
        bot.stdin.close()
        bot.wait(timeout=60)
    half = np.arange(count // 2, count)
    slope = float(np.polyfit(half, np.asarray(rss)[count // 2 :], 1)[0]) if count >= 20 else 0.0
    return {
        "ready_s": ready,
        "photos": count,
        "peak_rss_mb_after_200": peak_200,
        "final_rss_mb": rss[-1],
        "growth_mb_per_1000_photos": slope * 1000,
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=1000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.photos)
    if args.json:
        print(json.dumps(result))
        return
    print(f"ready (imports, models, database) in {result['ready_s']:.1f} s")
    print(f"peak RSS after 200 photos: {result['peak_rss_mb_after_200']:.0f} MB")
    print(
        f"after {result['photos']} photos: RSS {result['final_rss_mb']:.0f} MB, growth over the"
        f" second half {result['growth_mb_per_1000_photos']:+.1f} MB per 1000 photos"
        f" ({result['seconds']:.0f} s in all)"
    )


if __name__ == "__main__":
    main()
