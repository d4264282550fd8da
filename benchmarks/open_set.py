"""Open-set recognition on LFW: enrol people, query with their other photos and with strangers.

Run: .venv/bin/python -m benchmarks.open_set [--lfw ../shared/datasets/lfw] [--json]

The people come from LFW but none from pairsDevTrain.txt (used to calibrate the
threshold) nor from people-10.txt (the celebrity model's classes). Those with at
least three photos are enrolled with up to three photos, keeping at least one back
as a genuine query; strangers are people with one photo, never enrolled. All the
enrolled people share one gallery, which is harder than a chat of a few dozen.
It reports, for galleries of several sizes (people drawn from the enrolled ones)
and each way of scoring a person (best photo, mean of best two), the rates at
the calibrated threshold for that gallery size, and the best true-accept rate
with zero false accepts.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[20, 50, 100, 250], help="people per gallery"
    )
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
    rows = []
    for size in args.sizes:
        names = random.Random(size).sample(sorted(enrolled), min(size, len(enrolled)))
        gallery, ids = Gallery(pipeline.embedder.dim), {}
        for number, name in enumerate(names, start=1):
            ids[name] = number
            for photo in enrolled[name]:
                if photo in vectors:
                    gallery.add(number, vectors[photo])
        queries = [(n, p) for n, p in genuine if n in ids]
        for aggregate in ("max", "top2"):
            policy = dataclasses.replace(calibrated, aggregate=aggregate)
            tar, far, wrong = evaluate(gallery, ids, queries, strangers, vectors, policy)
            zero = zero_false_accept_tar(gallery, ids, queries, strangers, vectors, aggregate, 0.0)
            rows.append(
                {
                    "people": len(names),
                    "photos": len(gallery),
                    "genuine": len(queries),
                    "aggregate": aggregate,
                    "threshold": policy.threshold_for(len(names)),
                    "tar": tar,
                    "far": far,
                    "misidentified": wrong,
                    "tar_at_zero_fa": zero,
                }
            )
    summary = {"strangers": len(strangers), "open_far": calibrated.open_far, "rows": rows}
    if args.json:
        print(json.dumps(summary))
        return
    print(
        f"{len(strangers)} stranger queries; people enrolled with up to {args.enrol} photos;"
        f" whoami's threshold grows with the gallery for a {calibrated.open_far:.0%} chance"
        " of taking a stranger for someone"
    )
    print("  people photos genuine score threshold   TAR     FAR   misidentified  TAR at zero FA")
    for r in rows:
        print(
            f"  {r['people']:>6} {r['photos']:>6} {r['genuine']:>7} {r['aggregate']:<5}"
            f" {r['threshold']:.4f}  {r['tar']:6.1%} {r['far']:6.2%}  {r['misidentified']:>6}"
            f"         {r['tar_at_zero_fa']:6.1%}"
        )


if __name__ == "__main__":
    main()
