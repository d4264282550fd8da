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
from training.calibrate import embeddings, pair_scores
from training.verification import accuracy, best_accuracy_threshold


def folds_of(pairs: list[lfw.Pair], count: int) -> list[int]:
    """The fold of each pair: matched and mismatched pairs each in ``count`` blocks."""
    fold = [0] * len(pairs)
    for kind in (True, False):
        where = [i for i, pair in enumerate(pairs) if pair.same == kind]
        for rank, i in enumerate(where):
            fold[i] = rank * count // len(where)
    return fold


def held_out_accuracy(
    train: list[lfw.Pair], test: list[lfw.Pair], vectors: dict[Path, np.ndarray | None]
) -> tuple[float, int]:
    """The accuracy on ``test`` at the threshold best on ``train``, a pair dropped for want
    of a face counting as wrong; and how many ``test`` pairs were dropped."""
    scores, same, _ = pair_scores(train, vectors)
    threshold = best_accuracy_threshold(scores, same)
    scores, same, lost = pair_scores(test, vectors)
    return accuracy(scores, same, threshold) * len(scores) / (len(scores) + lost), lost


def ten_fold(
    pairs: list[lfw.Pair], vectors: dict[Path, np.ndarray | None], count: int
) -> tuple[list[float], int]:
    """Accuracy on each fold at the threshold best on the others, a pair dropped for want
    of a face counting as wrong; and how many pairs were dropped."""
    fold = folds_of(pairs, count)
    result, dropped = [], 0
    for k in range(count):
        right, lost = held_out_accuracy(
            [p for p, f in zip(pairs, fold, strict=True) if f != k],
            [p for p, f in zip(pairs, fold, strict=True) if f == k],
            vectors,
        )
        result.append(right)
        dropped += lost
    return result, dropped


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
    accuracies, dropped = ten_fold(pairs, vectors, args.folds)
    result = {
        "pairs": len(pairs),
        "dropped": dropped,
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
