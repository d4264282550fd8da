"""Open-set recognition on LFW: enrol people, query with their other photos and with strangers.

Run: .venv/bin/python -m benchmarks.open_set [--lfw ../shared/datasets/lfw] [--json]

The people come from LFW but none from pairsDevTrain.txt (used to calibrate the
threshold) nor from people-10.txt (the celebrity model's classes). Those with at
least three photos are enrolled with up to three photos, keeping at least one back
as a genuine query; strangers are people with one photo, never enrolled. All the
enrolled people share one gallery, which is harder than a chat of a few dozen.
It reports, for each way of scoring a person (best photo, mean of best two) and
each margin, the true-accept rate at the calibrated threshold, and the best
true-accept rate with zero false accepts.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from engine import calibration
from engine.config import Settings
from engine.gallery import Gallery, MatchPolicy
from engine.pipeline import Pipeline
from training.cache import EmbeddingCache
from training.embedding import embed_files


def names_in_pairs(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        fields = line.split()
        if len(fields) == 3:
            names.add(fields[0])
        elif len(fields) == 4:
            names.update((fields[0], fields[2]))
    return names


def split(lfw: Path, enrol_max: int, strangers: int, seed: int):
    excluded = names_in_pairs(lfw / "pairsDevTrain.txt") | set(
        (lfw / "people-10.txt").read_text().split()
    )
    people = {
        p.name: sorted(p.glob("*.jpg"))
        for p in sorted((lfw / "images").iterdir())
        if p.is_dir() and p.name not in excluded
    }
    rng = random.Random(seed)
    enrolled, genuine = {}, []
    for name, photos in people.items():
        if len(photos) >= 3:
            photos = photos[:]
            rng.shuffle(photos)
            keep = min(enrol_max, len(photos) - 1)
            enrolled[name] = photos[:keep]
            genuine += [(name, q) for q in photos[keep : keep + 3]]
    singles = [photos[0] for name, photos in people.items() if len(photos) == 1]
    return enrolled, genuine, rng.sample(singles, min(strangers, len(singles)))


def evaluate(gallery: Gallery, ids: dict[str, int], genuine, strangers, vectors, policy):
    """(true-accept rate, false-accept rate, misidentified genuine queries)."""
    queries = [vectors[p] for _, p in genuine] + [vectors[p] for p in strangers]
    found = gallery.best(np.stack(queries), policy)
    correct = wrong = 0
    for (name, _), c in zip(genuine, found[: len(genuine)], strict=True):
        if c is not None and c.accepted(policy):
            correct += c.person == ids[name]
            wrong += c.person != ids[name]
    false_accepts = sum(c is not None and c.accepted(policy) for c in found[len(genuine) :])
    return correct / len(genuine), false_accepts / len(strangers), wrong


def zero_false_accept_tar(gallery, ids, genuine, strangers, vectors, aggregate, margin):
    """The best true-accept rate with no stranger accepted and nobody misidentified."""
    best = 0.0
    for threshold in np.arange(0.85, 1.0, 0.0025):
        policy = MatchPolicy(float(threshold), margin, aggregate)
        tar, far, wrong = evaluate(gallery, ids, genuine, strangers, vectors, policy)
        if far == 0 and wrong == 0:
            best = max(best, tar)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "datasets" / "lfw")
    parser.add_argument("--enrol", type=int, default=3, help="most photos enrolled per person")
    parser.add_argument("--strangers", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    settings = Settings.from_env()
    pipeline = Pipeline(settings)
    calibrated = calibration.policy(settings, pipeline.embedder.name)
    enrolled, genuine, strangers = split(args.lfw, args.enrol, args.strangers, args.seed)
    files = sorted(
        {p for ps in enrolled.values() for p in ps} | {p for _, p in genuine} | set(strangers)
    )
    cache = EmbeddingCache(ROOT / "run" / "cache" / "embeddings.sqlite3")
    entries, _ = embed_files(pipeline, files, cache, progress=not args.json)
    vectors = {f: e.vector for f, e in zip(files, entries, strict=True) if e.vector is not None}
    genuine = [(n, p) for n, p in genuine if p in vectors]
    strangers = [p for p in strangers if p in vectors]
    gallery, ids = Gallery(pipeline.embedder.dim), {}
    for number, (name, photos) in enumerate(enrolled.items(), start=1):
        ids[name] = number
        for photo in photos:
            if photo in vectors:
                gallery.add(number, vectors[photo])
    rows = []
    for aggregate in ("max", "top2"):
        for margin in (0.0, 0.01, 0.02, 0.04):
            policy = MatchPolicy(calibrated.threshold, margin, aggregate)
            tar, far, wrong = evaluate(gallery, ids, genuine, strangers, vectors, policy)
            zero = zero_false_accept_tar(
                gallery, ids, genuine, strangers, vectors, aggregate, margin
            )
            rows.append(
                {
                    "aggregate": aggregate,
                    "margin": margin,
                    "tar": tar,
                    "far": far,
                    "misidentified": wrong,
                    "tar_at_zero_fa": zero,
                }
            )
    summary = {
        "enrolled_people": len(enrolled),
        "enrolled_photos": len(gallery),
        "genuine_queries": len(genuine),
        "stranger_queries": len(strangers),
        "threshold": calibrated.threshold,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(summary))
        return
    print(
        f"{summary['enrolled_people']} people enrolled with {summary['enrolled_photos']} photos;"
        f" {len(genuine)} genuine and {len(strangers)} stranger queries;"
        f" calibrated threshold {calibrated.threshold:.4f}"
    )
    print("  score  margin   TAR     FAR    misidentified   TAR at zero false accepts")
    for r in rows:
        print(
            f"  {r['aggregate']:<5}  {r['margin']:.2f}  {r['tar']:6.1%}  {r['far']:6.2%}"
            f"  {r['misidentified']:>6}          {r['tar_at_zero_fa']:6.1%}"
        )


if __name__ == "__main__":
    main()
