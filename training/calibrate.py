"""python -m training calibrate: choose whoami's threshold from LFW pairs, and write it down."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine import calibration
from engine.celebrities import atomic_write
from engine.config import Settings
from engine.gallery import MatchPolicy
from engine.pipeline import Pipeline
from training import lfw
from training.cache import EmbeddingCache
from training.embedding import embed_files
from training.verification import (
    Roc,
    accuracy,
    best_accuracy_threshold,
    equal_error_rate,
    rates,
    roc,
    threshold_at_far,
)

log = logging.getLogger(__name__)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training calibrate",
        description="Compute the ROC of face verification on LFW pairs, pick whoami's "
        "threshold at a false-accept rate, and write it where the engine reads it.",
    )
    parser.add_argument("--pairs", type=Path, required=True, help="pairs to calibrate on")
    parser.add_argument("--images", type=Path, required=True, help="LFW's images folder")
    parser.add_argument(
        "--test-pairs",
        type=Path,
        help="pairs to report on (default: pairsDevTest.txt beside --pairs)",
    )
    parser.add_argument("--far", type=float, default=0.001, help="false-accept rate (0.001)")
    parser.add_argument(
        "--open-far",
        type=float,
        default=0.01,
        help="chance a stranger is taken for someone, in any gallery (0.01)",
    )
    parser.add_argument("--margin", type=float, help="margin to write (default: keep)")
    parser.add_argument("--aggregate", choices=("max", "top2"), help="to write (default: keep)")
    parser.add_argument(
        "--out", type=Path, help="calibration file (default: LOOKALIKE_CALIBRATION)"
    )
    parser.add_argument("--plot", type=Path, help="ROC plot (default: beside --out)")
    parser.add_argument("--cache", type=Path, default=Path("run/cache"), help="embedding cache")
    parser.add_argument("--dry-run", action="store_true", help="report, but write nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def embeddings(
    pipeline: Pipeline, pairs: list[lfw.Pair], cache: EmbeddingCache, progress: bool
) -> dict[Path, np.ndarray | None]:
    """The embedding of every photo in ``pairs`` (None where no face was found)."""
    files = sorted({p for pair in pairs for p in (pair.first, pair.second)})
    entries, _ = embed_files(pipeline, files, cache, progress=progress)
    return {f: e.vector for f, e in zip(files, entries, strict=True)}


def pair_scores(
    pairs: list[lfw.Pair], vectors: dict[Path, np.ndarray | None]
) -> tuple[np.ndarray, np.ndarray, int]:
    """(cosine similarity, same person) for each pair whose two faces were found; and
    how many pairs were dropped for lack of a face."""
    scores, same, dropped = [], [], 0
    for pair in pairs:
        a, b = vectors[pair.first], vectors[pair.second]
        if a is None or b is None:
            dropped += 1
            continue
        scores.append(float(a @ b))
        same.append(pair.same)
    return np.asarray(scores), np.asarray(same, bool), dropped


def impostor_tail(
    vectors: dict[Path, np.ndarray | None],
) -> tuple[list[tuple[float, float]], int]:
    """(false-accept rate, threshold) down to one in millions, and the number of comparisons.

    A pair list has too few different-person pairs to measure rare false accepts,
    so every two photos of different people among the pairs' photos are compared
    (4.7 million comparisons for pairsDevTrain.txt).
    """
    kept = [(f.parent.name, v) for f, v in sorted(vectors.items()) if v is not None]
    names = np.array([name for name, _ in kept])
    vectors = np.stack([v for _, v in kept])
    scores = []
    for start in range(0, len(vectors), 512):  # row blocks: the full matrix is large
        block = vectors[start : start + 512] @ vectors.T
        rows = np.arange(start, min(start + 512, len(vectors)))[:, None]
        upper = np.arange(len(vectors))[None, :] > rows
        different = names[start : start + 512, None] != names[None, :]
        scores.append(block[upper & different])
    impostors = np.sort(np.concatenate(scores))[::-1]
    tail = []
    for far in 10 ** np.arange(-1.0, -7.01, -0.25):
        count = int(len(impostors) * far)
        if count >= 1:
            tail.append((float(f"{far:.3g}"), round(float(impostors[count - 1]), 5)))
    return tail, len(impostors)


def plot_roc(curve: Roc, threshold_far: float, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6, 4.5))
    far = np.clip(curve.far, 1e-4, 1)
    axes.plot(far, curve.tar, lw=2)
    axes.axvline(max(threshold_far, 1e-4), color="grey", ls="--", lw=1, label="chosen threshold")
    axes.set(xscale="log", xlabel="false-accept rate", ylabel="true-accept rate", title=title)
    axes.set_ylim(0.5, 1.0)
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="lower right")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: figure.savefig(f, format="png", dpi=110))
    plt.close(figure)


def calibrate(args: argparse.Namespace, settings: Settings) -> dict[str, object]:
    pipeline = Pipeline(settings)
    cache = EmbeddingCache(args.cache / "embeddings.sqlite3")
    pairs = lfw.read_pairs(args.pairs, args.images)
    vectors = embeddings(pipeline, pairs, cache, not args.quiet)
    scores, same, dropped = pair_scores(pairs, vectors)
    curve = roc(scores, same)
    threshold = threshold_at_far(curve, args.far)
    eer, eer_threshold = equal_error_rate(curve)
    tar, far = rates(scores, same, threshold)
    best = best_accuracy_threshold(scores, same)
    result: dict[str, object] = {
        "embedder": pipeline.embedder.name,
        "pairs": args.pairs.name,
        "n_pairs": len(scores),
        "dropped_pairs": dropped,
        "target_far": args.far,
        "threshold": round(threshold, 6),
        "tar": round(tar, 4),
        "far": round(far, 4),
        "eer": round(eer, 4),
        "eer_threshold": round(eer_threshold, 6),
        "accuracy_threshold": round(best, 6),
        "accuracy": round(accuracy(scores, same, best), 4),
    }
    result["tail"], result["impostor_comparisons"] = impostor_tail(vectors)
    result["open_far"] = args.open_far
    test = args.test_pairs or args.pairs.with_name("pairsDevTest.txt")
    if test.is_file() and test != args.pairs:
        test_pairs = lfw.read_pairs(test, args.images)
        test_vectors = embeddings(pipeline, test_pairs, cache, not args.quiet)
        test_scores, test_same, test_dropped = pair_scores(test_pairs, test_vectors)
        test_tar, test_far = rates(test_scores, test_same, threshold)
        result["test"] = {
            "pairs": test.name,
            "n_pairs": len(test_scores),
            "dropped_pairs": test_dropped,
            "tar": round(test_tar, 4),
            "far": round(test_far, 4),
            "accuracy": round(accuracy(test_scores, test_same, best), 4),
        }
    cache.close()
    out = args.out or settings.calibration
    plot = args.plot or out.with_name(out.stem + "-roc.png")
    if not args.dry_run:
        plot_roc(curve, args.far, plot, f"{result['embedder']} on {args.pairs.name}")
        write(out, result, args)
        result["written"] = {"calibration": str(out), "plot": str(plot)}
    return result


def write(path: Path, result: dict[str, object], args: argparse.Namespace) -> None:
    """Merge this embedder's entry into the calibration file, keeping the others'."""
    data = calibration.read(path)
    name = str(result["embedder"])
    previous = data.get(name, {}) if isinstance(data.get(name), dict) else {}
    data[name] = {
        **{k: v for k, v in result.items() if k != "embedder"},
        "margin": args.margin if args.margin is not None else previous.get("margin", 0.0),
        "aggregate": args.aggregate or previous.get("aggregate", "max"),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": "python -m training calibrate " + " ".join(sys.argv[2:]),
    }
    atomic_write(path, lambda f: f.write((json.dumps(data, indent=1) + "\n").encode()))


def report(result: dict[str, object]) -> str:
    lines = [
        f"{result['embedder']} on {result['pairs']}: {result['n_pairs']} pairs"
        f" ({result['dropped_pairs']} dropped: no face found)",
        f"  threshold {result['threshold']:.4f} for false accepts <= {result['target_far']:.2%}:"
        f" true accepts {result['tar']:.2%}, false accepts {result['far']:.2%}",
        f"  equal error rate {result['eer']:.2%} (at {result['eer_threshold']:.4f});"
        f" best accuracy {result['accuracy']:.2%} (at {result['accuracy_threshold']:.4f})",
    ]
    if result.get("tail"):
        policy = MatchPolicy(
            float(result["threshold"]),  # type: ignore[arg-type]
            tail=tuple(tuple(row) for row in result["tail"]),  # type: ignore[union-attr,misc]
            open_far=float(result["open_far"]),  # type: ignore[arg-type]
        )
        sizes = ", ".join(f"{n} people {policy.threshold_for(n):.4f}" for n in (10, 100, 1000))
        lines.append(
            f"  {result['impostor_comparisons']:,} stranger comparisons; whoami's threshold for"
            f" a {result['open_far']:.0%} chance of taking a stranger for someone: {sizes}"
        )
    test = result.get("test")
    if isinstance(test, dict):
        lines.append(
            f"  {test['pairs']} ({test['n_pairs']} pairs): at that threshold true accepts"
            f" {test['tar']:.2%}, false accepts {test['far']:.2%};"
            f" verification accuracy {test['accuracy']:.2%}"
        )
    written = result.get("written")
    if isinstance(written, dict):
        lines.append(f"  wrote {written['calibration']} and {written['plot']}")
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for path in (args.pairs, args.images):
        if not path.exists():
            print(f"error: {path} does not exist", file=sys.stderr)
            return 2
    try:
        result = calibrate(args, Settings.from_env())
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else report(result))
    return 0
