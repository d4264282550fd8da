"""A folder of 1280 px photos through python -m engine, against the plain face_recognition recipe.

Run: .venv/bin/python -m benchmarks.versus_face_recognition [--rounds 3] [--json]
     [--engine-root DIR]   (another checkout's python -m engine, for before and after)
     [--photos val|all]

The folder: the 25 photos of ../shared/datasets/five-celebrities/val (``--photos
all``: its 118 photos, train and val) scaled to 1280 px on their longer side
(without ../shared, 25 copies of the two face photos the dependencies ship, at
1280 px). Both commands run as whole processes, one after the other, ``--rounds``
times: ``python -m engine DIR --json --quiet`` (detect, align, embed and name the
celebrities) and ``python -m benchmarks.face_recognition_recipe DIR`` (dlib's HOG
detector, 5-point landmarks and descriptor, as face_recognition does by default).
Start-up counts, as it does for an admin running either, and is paid once a
folder, so the ratio grows with the folder: ``all`` brings it nearer the per-photo
ratio. It prints each command's median wall and CPU seconds, the faces each found,
and the median of the per-round ratios recipe / engine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from benchmarks.common import ROOT, astronaut, hopper

FIVE = ROOT.parent / "shared" / "datasets" / "five-celebrities"
SIDE = 1280


def make_folder(folder: Path, which: str = "val") -> int:
    """The photos at SIDE px on their longer side, as JPEGs in ``folder``; their count."""
    sets = ["val"] if which == "val" else ["train", "val"]
    sources = sorted(p for name in sets for p in (FIVE / name).glob("*/*.jpg"))
    photos = [(f"{p.parent.parent.name}_{p.parent.name}_{p.name}", Image.open(p)) for p in sources]
    if not photos:
        photos = [(f"{i:02d}.jpg", (astronaut(), hopper())[i % 2]) for i in range(25)]
    for name, photo in photos:
        photo = photo.convert("RGB")
        scale = SIDE / max(photo.size)
        size = (round(photo.width * scale), round(photo.height * scale))
        photo.resize(size, Image.Resampling.LANCZOS).save(folder / name, quality=90)
    return len(photos)


def run(command: list[str], cwd: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, faces found) of one whole run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    faces = sum(len(json.loads(line)["faces"]) for line in done.stdout.splitlines() if line)
    return wall, cpu, faces


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine-root", type=Path, default=ROOT)
    parser.add_argument("--photos", choices=("val", "all"), default="val")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        count = make_folder(folder, args.photos)
        commands = {
            "engine": ([sys.executable, "-m", "engine", str(folder), "--json", "--quiet"],
                       args.engine_root.resolve()),
            "recipe": ([sys.executable, "-m", "benchmarks.face_recognition_recipe", str(folder)],
                       ROOT),
        }  # fmt: skip
        for command, cwd in commands.values():  # a warm-up: the files in the page cache
            run(command, cwd)
        times: dict[str, list[tuple[float, float, int]]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, (command, cwd) in commands.items():
                times[name].append(run(command, cwd))
    report = {
        "photos": count,
        "cores": len(os.sched_getaffinity(0)),
        **{
            name: {
                "wall_s": statistics.median(t[0] for t in rows),
                "cpu_s": statistics.median(t[1] for t in rows),
                "faces": rows[0][2],
            }
            for name, rows in times.items()
        },
        "ratio_wall": statistics.median(
            r[0] / e[0] for r, e in zip(times["recipe"], times["engine"], strict=True)
        ),
        "ratio_cpu": statistics.median(
            r[1] / e[1] for r, e in zip(times["recipe"], times["engine"], strict=True)
        ),
    }
    if args.json:
        print(json.dumps(report))
        return
    print(f"{count} photos at {SIDE} px, {report['cores']} cores, {args.rounds} rounds (medians)")
    for name in commands:
        row = report[name]
        print(
            f"  {name:<7} wall {row['wall_s']:6.2f} s  cpu {row['cpu_s']:6.2f} s"
            f"  faces {row['faces']}"
        )
    print(f"  recipe / engine: wall {report['ratio_wall']:.2f}x, cpu {report['ratio_cpu']:.2f}x")


if __name__ == "__main__":
    main()
