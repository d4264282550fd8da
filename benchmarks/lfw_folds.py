"""LFW verification in ten folds over View 1 (pairsDevTrain plus pairsDevTest).

Run: .venv/bin/python -m benchmarks.lfw_folds [--lfw ../shared/datasets/lfw]
     [--cache run/cache] [--folds 10] [--json]

LFW's own ten-fold protocol is for View 2, which is reserved here, so this runs
the same protocol on View 1's 2,841 pairs: the matched and the mismatched pairs
are each cut, in file order, into ten blocks, and fold k is block k of both. For
each fold the threshold of best accuracy is chosen on the other nine and the
accuracy measured on it; it prints the mean and standard deviation over folds,
and the pairs dropped because a photo had no face found (counted as errors).

For a before-and-after comparison, run it in each checkout with its own
``--cache`` folder: the cache is keyed by the detector's settings, not the code.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from engine.config import Settings
from engine.pipeline import Pipeline
from training import lfw
from training.cache import EmbeddingCache
from training.calibrate import embeddings
from training.verification import accuracy, best_accuracy_threshold


def folds_of(same: list[bool], count: int) -> np.ndarray:
    """The fold of each pair: matched and mismatched pairs each in ``count`` blocks."""
    fold = np.zeros(len(same), int)
    for kind in (True, False):
        where = np.flatnonzero(np.asarray(same) == kind)
        fold[where] = np.arange(len(where)) * count // len(where)
    return fold


def ten_fold(scores: np.ndarray, same: np.ndarray, fold: np.ndarray, count: int) -> list[float]:
    """Accuracy on each fold at the threshold best on the others. A dropped pair has a
    NaN score and counts as wrong."""
    found = ~np.isnan(scores)
    result = []
    for k in range(count):
        train = (fold != k) & found
        threshold = best_accuracy_threshold(scores[train], same[train])
        test = fold == k
        right = accuracy(scores[test & found], same[test & found], threshold)
        result.append(right * (test & found).sum() / test.sum())
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "datasets" / "lfw")
    parser.add_argument("--cache", type=Path, default=Path("run/cache"))
    parser.add_argument("--folds", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    images = args.lfw / "images"
    pairs = [
        pair
        for name in ("pairsDevTrain.txt", "pairsDevTest.txt")
        for pair in lfw.read_pairs(args.lfw / name, images)
    ]
    pipeline = Pipeline(Settings.from_env())
    cache = EmbeddingCache(args.cache / "embeddings.sqlite3")
    vectors = embeddings(pipeline, pairs, cache, progress=not args.json)
    cache.close()
    scores = np.array(
        [
            np.nan
            if vectors[p.first] is None or vectors[p.second] is None
            else float(vectors[p.first] @ vectors[p.second])
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    accuracies = ten_fold(scores, same, folds_of(list(same), args.folds), args.folds)
    result = {
        "pairs": len(pairs),
        "dropped": int(np.isnan(scores).sum()),
        "folds": args.folds,
        "accuracy_mean": round(float(np.mean(accuracies)), 5),
        "accuracy_std": round(float(np.std(accuracies)), 5),
        "per_fold": [round(a, 4) for a in accuracies],
    }
    if args.json:
        print(json.dumps(result))
        return
    print(
        f"LFW View 1, {result['pairs']} pairs ({result['dropped']} dropped: no face), "
        f"{args.folds} folds: accuracy {result['accuracy_mean']:.2%} "
        f"± {result['accuracy_std']:.2%}"
    )


if __name__ == "__main__":
    main()
