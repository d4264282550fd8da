"""Embed labelled photos and score a model on them; `python -m training evaluate`."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.classifier import Classifier, display_name
from engine.config import Settings
from engine.errors import ModelMismatch, ModelUnavailable
from engine.pipeline import Pipeline
from training.cache import EmbeddingCache
from training.datasets import DatasetError, Sample, scan
from training.embedding import CHOICES, EmbedStats, embed_files

log = logging.getLogger(__name__)

CACHE = Path("run/cache")


@dataclasses.dataclass(frozen=True)
class Labelled:
    """The photos in which a face was found, with their embeddings.

    Attributes:
        samples: the photos kept, in input order.
        vectors: (n, dim) float32 unit embeddings, one per sample.
        boxes: the chosen face's (x1, y1, x2, y2) in each photo.
        stats: what the embedding step found, skipped photos included.
    """

    samples: tuple[Sample, ...]
    vectors: np.ndarray = dataclasses.field(repr=False)
    boxes: tuple[tuple[float, float, float, float], ...]
    stats: EmbedStats

    @property
    def labels(self) -> list[str]:
        return [s.label for s in self.samples]


def embed_samples(
    pipeline: Pipeline,
    samples: Sequence[Sample],
    cache_dir: Path,
    *,
    choose: str = "central",
    progress: bool = True,
) -> Labelled:
    """Embed every sample through the cache in ``cache_dir``; keep those with a face."""
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite3")
    try:
        entries, stats = embed_files(
            pipeline, [s.path for s in samples], cache, choose=choose, progress=progress
        )
    finally:
        cache.close()
    kept = [(s, e) for s, e in zip(samples, entries, strict=True) if e.status == "ok"]
    dim = pipeline.embedder.dim
    vectors = np.stack([e.vector for _, e in kept]) if kept else np.zeros((0, dim), np.float32)
    return Labelled(
        tuple(s for s, _ in kept),
        vectors.astype(np.float32),
        tuple(e.box for _, e in kept),  # type: ignore[misc]
        stats,
    )


def skipped_lines(stats: EmbedStats, root: Path, choose: str, not_images: int = 0) -> list[str]:
    """What was skipped or guessed, one line each, for people reading the output."""
    lines = []
    if not_images:
        lines.append(f"skipped {not_images} files that are not images")
    if stats.unreadable:
        lines.append(
            f"skipped {len(stats.unreadable)} unreadable photos: {_some(stats.unreadable, root)}"
        )
    if stats.no_face:
        lines.append(
            f"skipped {len(stats.no_face)} photos without a face: {_some(stats.no_face, root)}"
        )
    if stats.several_faces:
        lines.append(
            f"{len(stats.several_faces)} photos have several faces; used the {choose} one: "
            f"{_some(stats.several_faces, root)}"
        )
    return lines


def _some(paths: Sequence[Path], root: Path, limit: int = 3) -> str:
    shown = [relative(p, root) for p in paths[:limit]]
    return ", ".join(shown) + (f" and {len(paths) - limit} more" if len(paths) > limit else "")


def relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


# --- metrics ------------------------------------------------------------------


def ranks(probabilities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The rank (0 = first) of each row's true class among that row's scores."""
    true = probabilities[np.arange(len(targets)), targets][:, None]
    return (probabilities > true).sum(axis=1)


def scores(
    probabilities: np.ndarray, targets: np.ndarray, classes: Sequence[str]
) -> dict[str, object]:
    """top1, top5, n, per-class recall and the most-confused pairs of a scored set.

    Args:
        probabilities: (n, classes) scores, higher is more likely.
        targets: (n,) the index of each row's true class.
    """
    rank = ranks(probabilities, targets)
    recall = {}
    for index, label in enumerate(classes):
        mask = targets == index
        if mask.any():
            recall[label] = round(float((rank[mask] == 0).mean()), 4)
    return {
        "top1": round(float((rank == 0).mean()), 4) if len(rank) else None,
        "top5": round(float((rank < 5).mean()), 4) if len(rank) else None,
        "n": len(rank),
        "per_class_recall": recall,
        "confused": confused_pairs(probabilities, targets, classes),
    }


def confused_pairs(
    probabilities: np.ndarray, targets: np.ndarray, classes: Sequence[str], limit: int = 12
) -> list[dict[str, object]]:
    """The pairs of classes the model mixes up most, either way round.

    ``errors`` counts top-1 mistakes between the two; ``mass`` sums the probability
    each pair's photos gave the other class, so pairs rank even when errors are rare.
    """
    predicted = probabilities.argmax(axis=1)
    pairs: dict[tuple[int, int], list[float]] = {}
    for row, true in enumerate(targets):
        others = np.argsort(-probabilities[row])[:3]
        for other in others:
            if other == true:
                continue
            key = (min(true, other), max(true, other))
            entry = pairs.setdefault(key, [0.0, 0.0])
            entry[0] += float(predicted[row] == other)
            entry[1] += float(probabilities[row, other])
    ordered = sorted(pairs.items(), key=lambda item: (-item[1][0], -item[1][1]))[:limit]
    return [
        {"a": classes[a], "b": classes[b], "errors": int(e), "mass": round(m, 4)}
        for (a, b), (e, m) in ordered
    ]


def nearest_neighbour_top1(
    train: np.ndarray, train_y: np.ndarray, test: np.ndarray, test_y: np.ndarray
) -> float:
    """Top-1 of labelling each test embedding as its most similar training embedding."""
    if not len(test):
        return float("nan")
    nearest = (test @ train.T).argmax(axis=1)
    return float((train_y[nearest] == test_y).mean())


def centroid_top1(centroids: np.ndarray, test: np.ndarray, test_y: np.ndarray) -> float:
    """Top-1 of labelling each test embedding as its most similar class centroid."""
    if not len(test):
        return float("nan")
    return float(((test @ centroids.T).argmax(axis=1) == test_y).mean())


# --- the command ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training evaluate",
        description="Top-1 and top-5 accuracy and per-class recall on a labelled folder.",
    )
    parser.add_argument("--model", type=Path, required=True, help="run/models/NAME")
    parser.add_argument("--data", type=Path, required=True, help="one sub-folder per person")
    parser.add_argument("--choose", choices=CHOICES, default="central", help="face among several")
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="embedding cache folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def evaluate(args: argparse.Namespace, pipeline: Pipeline | None = None) -> dict[str, object]:
    """The metrics of ``args.model`` on ``args.data``.

    Raises:
        DatasetError, ModelUnavailable, ModelMismatch.
    """
    model = Classifier.load(args.model)
    if pipeline is None:
        settings = dataclasses.replace(Settings.from_env(), embedder=model.embedder)
        pipeline = Pipeline(settings)
    if pipeline.embedder.name != model.embedder or pipeline.embedder.dim != model.dim:
        raise ModelMismatch(
            model_embedder=model.embedder,
            model_dim=model.dim,
            embedder=pipeline.embedder.name,
            dim=pipeline.embedder.dim,
        )
    found = scan(args.data)
    index = {display_name(label): i for i, label in enumerate(model.classes)}
    known = [s for s in found.samples if display_name(s.label) in index]
    unknown = sorted({s.label for s in found.samples} - {s.label for s in known})
    if not known:
        raise DatasetError(f"none of the people in {args.data} is a class of the model")
    data = embed_samples(
        pipeline, known, args.cache_dir, choose=args.choose, progress=not args.quiet
    )
    targets = np.array([index[display_name(label)] for label in data.labels], dtype=np.int64)
    probabilities = probability_matrix(model, data.vectors)
    result = scores(probabilities, targets, model.classes)
    result.update(
        model=str(args.model),
        data=str(args.data),
        photos=len(found.samples),
        unknown_people=unknown,
        skipped=skipped_lines(data.stats, found.root, args.choose, len(found.not_images)),
    )
    return result


def probability_matrix(model: Classifier, vectors: np.ndarray) -> np.ndarray:
    """(n, classes) probabilities, through the model's public predict()."""
    columns = {display_name(label): i for i, label in enumerate(model.classes)}
    matrix = np.zeros((len(vectors), len(model.classes)), np.float32)
    for row, predictions in enumerate(model.predict(vectors, top_k=len(model.classes))):
        for p in predictions:
            matrix[row, columns[p.name]] = p.probability
    return matrix


def as_text(result: dict[str, object]) -> str:
    lines = [
        f"{result['model']} on {result['data']}: {result['n']} faces",
        f"top-1 {result['top1']:.2%}   top-5 {result['top5']:.2%}",
    ]
    recall: dict[str, float] = result["per_class_recall"]  # type: ignore[assignment]
    worst = sorted(recall.items(), key=lambda item: item[1])[:10]
    lines += ["lowest recall:"] + [f"  {display_name(k):<30} {v:.0%}" for k, v in worst]
    if result["unknown_people"]:
        lines.append(f"not in the model, left out: {', '.join(result['unknown_people'])}")  # type: ignore[arg-type]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, pipeline: Pipeline | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        result = evaluate(args, pipeline)
    except (DatasetError, ModelUnavailable, ModelMismatch) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for line in result["skipped"]:  # type: ignore[attr-defined]
        print(line, file=sys.stderr)
    if not result["n"]:
        print("error: no faces found in the labelled photos", file=sys.stderr)
        return 2
    print(json.dumps(result) if args.json else as_text(result))
    return 0
