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

from engine.celebrities import AGGREGATES, FIELDS, Celebrities, display_name
from engine.config import Settings
from engine.errors import ModelMismatch, ModelUnavailable
from engine.pipeline import Pipeline
from training.cache import EmbeddingCache
from training.datasets import DatasetError, Sample, scan
from training.embedding import CHOICES, TIGHT_PAD, EmbedStats, embed_files

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
    progress: bool | None = None,
    cached_only: bool = False,
) -> Labelled:
    """Embed every sample through the cache in ``cache_dir``; keep those with a face.

    A tight crop in which no face is found is tried again padded
    (`training.embedding.TIGHT_PAD`); see benchmarks/gallery_pad.py for why only then.
    """
    cache = EmbeddingCache(cache_dir / "embeddings.sqlite3")
    options = {"choose": choose, "progress": progress, "cached_only": cached_only}
    try:
        paths = [s.path for s in samples]
        entries, stats = embed_files(pipeline, paths, cache, **options)  # type: ignore[arg-type]
        retry = [i for i, e in enumerate(entries) if e.status == "no_face" and samples[i].tight]
        if retry:
            again, _ = embed_files(
                pipeline,
                [paths[i] for i in retry],
                cache,
                pad=TIGHT_PAD,
                **options,  # type: ignore[arg-type]
            )
            found = {paths[i] for i, e in zip(retry, again, strict=True) if e.status == "ok"}
            stats.no_face = [p for p in stats.no_face if p not in found]
            stats.embedded += sum(e.status == "ok" for e in again)
            for i, entry in zip(retry, again, strict=True):
                entries[i] = entry if entry.status == "ok" else entries[i]
    finally:
        cache.close()
    kept = [(s, e) for s, e in zip(samples, entries, strict=True) if e and e.status == "ok"]
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


def ranks(similarities: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """The rank (0 = first) of each row's true person among that row's similarities."""
    true = similarities[np.arange(len(targets)), targets][:, None]
    return (similarities > true).sum(axis=1)


def scores(
    similarities: np.ndarray,
    targets: np.ndarray,
    classes: Sequence[str],
    fields: Sequence[str] | None = None,
) -> dict[str, object]:
    """top1, top5, n, per-person recall, per-field figures and the most-confused pairs.

    Args:
        similarities: (n, people) scores, higher is more alike.
        targets: (n,) the index of each row's true person.
        fields: each person's field, for ``per_field``.
    """
    rank = ranks(similarities, targets)
    recall = {}
    for index, label in enumerate(classes):
        mask = targets == index
        if mask.any():
            recall[label] = round(float((rank[mask] == 0).mean()), 4)
    result: dict[str, object] = {
        "top1": round(float((rank == 0).mean()), 4) if len(rank) else None,
        "top5": round(float((rank < 5).mean()), 4) if len(rank) else None,
        "n": len(rank),
    }
    if fields is not None:
        of_row = np.array([fields[t] for t in targets])
        result["per_field"] = {
            field: {
                "n": int(mask.sum()),
                "top1": round(float((rank[mask] == 0).mean()), 4),
                "top5": round(float((rank[mask] < 5).mean()), 4),
            }
            for field in FIELDS
            if (mask := of_row == field).any()
        }
    result["per_class_recall"] = recall
    result["confused"] = confused_pairs(similarities, targets, classes)
    return result


def confused_pairs(
    similarities: np.ndarray, targets: np.ndarray, classes: Sequence[str], limit: int = 12
) -> list[dict[str, object]]:
    """The pairs of people most often mixed up (a top-1 answer that is the other), either
    way round; ``errors`` counts those answers."""
    predicted = similarities.argmax(axis=1)
    pairs: dict[tuple[int, int], int] = {}
    for true, guess in zip(targets, predicted, strict=True):
        if guess != true:
            key = (int(min(true, guess)), int(max(true, guess)))
            pairs[key] = pairs.get(key, 0) + 1
    ordered = sorted(pairs.items(), key=lambda item: -item[1])[:limit]
    return [{"a": classes[a], "b": classes[b], "errors": e} for (a, b), e in ordered]


# --- the command ----------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training evaluate",
        description="Top-1 and top-5 accuracy, per field and per person, on a labelled folder, "
        "with the whole gallery competing.",
    )
    parser.add_argument("--model", type=Path, required=True, help="run/models/NAME")
    parser.add_argument("--data", type=Path, required=True, help="one sub-folder per person")
    parser.add_argument(
        "--held-out",
        type=Path,
        help="only the photos this list names (PERSON/FILE a line, relative to --data), "
        "such as the NAME.held-out.txt that training writes",
    )
    parser.add_argument("--tight", action="store_true", help="the photos are tight face crops")
    parser.add_argument("--aggregate", choices=AGGREGATES, help="instead of the model's own")
    parser.add_argument("--choose", choices=CHOICES, default="central", help="face among several")
    parser.add_argument("--cache-dir", type=Path, default=CACHE, help="embedding cache folder")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser.parse_args(argv)


def read_list(path: Path) -> set[str]:
    """The PERSON/FILE lines of a held-out list; # starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the list {path}: {exc}") from None
    return {line.split("#", 1)[0].strip() for line in lines} - {""}


def evaluate(args: argparse.Namespace, pipeline: Pipeline | None = None) -> dict[str, object]:
    """The metrics of ``args.model`` on ``args.data``.

    Raises:
        DatasetError, ModelUnavailable, ModelMismatch.
    """
    model = Celebrities.load(args.model)
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
    found = scan(args.data, tight=args.tight)
    samples = list(found.samples)
    if args.held_out is not None:
        wanted = read_list(args.held_out)
        samples = [s for s in samples if relative(s.path, found.root) in wanted]
    known = [s for s in samples if model.index_of(s.label) is not None]
    unknown = sorted({s.label for s in samples} - {s.label for s in known})
    if not known:
        raise DatasetError(f"none of the people in {args.data} is in the model")
    progress = False if args.quiet else None
    data = embed_samples(pipeline, known, args.cache_dir, choose=args.choose, progress=progress)
    targets = np.array([model.index_of(label) for label in data.labels], dtype=np.int64)
    similarities = model.similarities(data.vectors, aggregate=args.aggregate)
    fields = [p.field for p in model.people]
    result = scores(similarities, targets, model.classes, fields)
    result.update(
        model=str(args.model),
        data=str(args.data),
        aggregate=args.aggregate or model.aggregate,
        gallery_people=len(model.people),
        photos=len(samples),
        unknown_people=unknown,
        skipped=skipped_lines(data.stats, found.root, args.choose, len(found.not_images)),
    )
    return result


def as_text(result: dict[str, object]) -> str:
    lines = [
        f"{result['model']} on {result['data']}: {result['n']} faces, "
        f"{result['gallery_people']} people competing ({result['aggregate']})",
        f"top-1 {result['top1']:.2%}   top-5 {result['top5']:.2%}",
    ]
    for field, figures in result.get("per_field", {}).items():  # type: ignore[union-attr]
        lines.append(
            f"  {field:<9} {figures['n']:5d} faces  top-1 {figures['top1']:.2%}"
            f"  top-5 {figures['top5']:.2%}"
        )
    recall: dict[str, float] = result["per_class_recall"]  # type: ignore[assignment]
    worst = [item for item in sorted(recall.items(), key=lambda item: item[1]) if item[1] < 1]
    if worst:
        lines += ["lowest recall:"] + [f"  {display_name(k):<30} {v:.0%}" for k, v in worst[:10]]
    if result["unknown_people"]:
        lines.append(f"not in the model, left out: {len(result['unknown_people'])} people")  # type: ignore[arg-type]
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
