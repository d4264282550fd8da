"""One photo of a crowd: what it costs the model worker, as /whoami and as a lookalike.

Run: .venv/bin/python -m benchmarks.crowd [--faces 484] [--side 1280]

The photo tiles the astronaut's face (scikit-image) into a square grid: 484 faces of
about 58 px in a 1280x1280 JPEG, the shape of photo that once took 34 s of the single
model worker for /whoami. Each measurement runs in a fresh process, so that its peak
RSS is its own; it reports the faces answered, the worker's time and the peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT


def crowd_jpeg(faces: int, side: int) -> bytes:
    import math

    import skimage.data
    from PIL import Image

    per_row = math.ceil(math.sqrt(faces))
    tile = side // per_row
    face = Image.fromarray(skimage.data.astronaut()).crop((150, 30, 300, 180)).resize((tile, tile))
    canvas = Image.new("RGB", (side, side), (120, 120, 120))
    for index in range(faces):
        canvas.paste(face, (tile * (index % per_row), tile * (index // per_row)))
    buffer = io.BytesIO()
    canvas.save(buffer, "JPEG", quality=90)
    return buffer.getvalue()


async def measure(kind: str, photo: bytes, db: Path) -> dict[str, object]:
    from engine.config import Settings
    from engine.engine import Engine
    from engine.registry import Person

    async with Engine(Settings(db=db)) as engine:
        if kind == "whoami":  # someone registered, so that the photo is looked at
            single = crowd_jpeg(1, 400)
            await engine.register("bench:crowd", Person("bench", "1", "Eileen"), single)
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        if kind == "whoami":
            found = await engine.whoami("bench:crowd", photo)
            faces = len(getattr(found, "faces", found))
        else:
            faces = len((await engine.lookalike(photo, render=True)).faces)
        seconds = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "kind": kind,
        "faces_answered": faces,
        "seconds": round(seconds, 2),
        "peak_rss_mb": peak // 1024,
        "grown_mb": (peak - base) // 1024,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=484)
    parser.add_argument("--side", type=int, default=1280)
    parser.add_argument("--one", choices=("whoami", "lookalike"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    photo = crowd_jpeg(args.faces, args.side)
    if args.one:
        with tempfile.TemporaryDirectory() as tmp:
            result = asyncio.run(measure(args.one, photo, Path(tmp) / "bench.sqlite3"))
        print(json.dumps(result))
        return 0
    print(f"{args.faces} faces tiled in a {args.side}x{args.side} JPEG of {len(photo)} bytes")
    for kind in ("whoami", "lookalike"):
        done = subprocess.run(
            [sys.executable, "-m", "benchmarks.crowd", "--faces", str(args.faces),
             "--side", str(args.side), "--one", kind],
            capture_output=True, text=True, cwd=ROOT, check=True,
        )  # fmt: skip
        print(done.stdout.strip())
    return 0


if __name__ == "__main__":
    sys.exit(main())
