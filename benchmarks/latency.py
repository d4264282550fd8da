"""Latency of one photo through decode, detect and embed: a 1280x960 JPEG with one face.

Run: .venv/bin/python -m benchmarks.latency [--repeat 20] [--json]
"""

from __future__ import annotations

import argparse
import json
import os

from benchmarks.common import median, percentile, photo_1280x960, timed
from engine.config import Settings
from engine.pipeline import Pipeline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    pipeline = Pipeline(Settings.from_env())
    pipeline.load()
    data = photo_1280x960()
    photo = pipeline.decode(data)
    (face,) = pipeline.detector.detect(photo)
    import numpy as np

    pixels = np.asarray(photo)
    crop = pipeline.embedder.align(pixels, face)
    stages = {
        "decode": lambda: pipeline.decode(data),
        "detect": lambda: pipeline.detector.detect(photo),
        "align": lambda: pipeline.embedder.align(pixels, face),
        "embed": lambda: pipeline.embedder.embed([crop]),
        "total": lambda: pipeline.embed_faces([pipeline.decode(data)]),
    }
    report = {}
    for name, function in stages.items():
        times = timed(function, args.repeat)
        report[name] = {"median_ms": median(times) * 1000, "p90_ms": percentile(times, 90) * 1000}
    report["cores"] = len(os.sched_getaffinity(0))
    report["embedder"] = pipeline.embedder.name
    report["device"] = str(pipeline.device)
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"1280x960 JPEG, one face, {args.repeat} runs, {report['cores']} cores, {report['device']}"
    )
    for name in stages:
        row = report[name]
        print(f"  {name:<7} median {row['median_ms']:7.1f} ms   p90 {row['p90_ms']:7.1f} ms")


if __name__ == "__main__":
    main()
