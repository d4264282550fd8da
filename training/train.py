"""python -m training [train]: embed a dataset once, train the celebrity head, write the model."""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from engine.classifier import Classifier, model_paths
from engine.config import Settings
from engine.device import resolve_device
from engine.errors import LookalikeError
from engine.pipeline import THOROUGH, Pipeline
from training import datasets, evaluate, report
from training.datasets import DatasetError, Sample
from training.embedding import CHOICES, recipe
from training.evaluate import CACHE, Labelled
from training.head import centroids_of, fit, similarity_scale

log = logging.getLogger(__name__)


class TrainingError(Exception):
    """Training cannot go on with this data or these options; the message says why."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Train the celebrity model on a folder of photos, one sub-folder per person.",
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", type=Path, help="a folder with one sub-folder per person")
    source.add_argument(
        "--dataset", choices=sorted(datasets.DATASETS), help="download a known dataset"
    )
    source.add_argument("--url", help="download a .zip or .tar.gz of such a folder")
    pick = parser.add_argument_group("selection")
    pick.add_argument("--people", type=Path, help="a file of the names to keep, one a line")
    pick.add_argument("--min-images", type=int, default=1, help="leave out people with fewer")
    pick.add_argument("--max-per-person", type=int, help="use at most this many photos a person")
    pick.add_argument("--choose", choices=CHOICES, default="central", help="face among several")
    fit = parser.add_argument_group("training")
    fit.add_argument("--val-fraction", type=float, default=0.2, help="held out per person")
    fit.add_argument("--seed", type=int, default=0, help="for the split and the training")
    fit.add_argument("--hidden", type=int, default=0, help="MLP hidden units; 0: a linear head")
    fit.add_argument("--dropout", type=float, default=0.0, help="dropout before each layer")
    fit.add_argument("--balance", choices=("none", "loss", "sampling"), default="none",
                     help="weigh classes equally in the loss, or sample them equally")  # fmt: skip
    fit.add_argument("--epochs", type=int, default=1000, help="at most this many")
    fit.add_argument("--patience", type=int, default=20, help="epochs without a better val loss")
    fit.add_argument("--lr", type=float, default=3e-2, help="AdamW's learning rate")
    fit.add_argument("--weight-decay", type=float, default=1e-4, help="AdamW's weight decay")
    fit.add_argument("--batch", type=int, default=256, help="embeddings per step")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, default=Path("run/models"), help="the model folder")
    out.add_argument("--name", default="celebrities", help="NAME of NAME.pth, NAME.json...")
    out.add_argument("--cache-dir", type=Path, default=CACHE, help="embedding cache folder")
    out.add_argument("--downloads", type=Path, default=Path("run/downloads"), help="archives")
    out.add_argument("--json", action="store_true", help="print a JSON summary")
    out.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)
    if not 0 < args.val_fraction < 1:
        parser.error("--val-fraction must be between 0 and 1")
    if args.min_images < 1 or (args.max_per_person is not None and args.max_per_person < 1):
        parser.error("--min-images and --max-per-person must be at least 1")
    return args


# --- data ---------------------------------------------------------------------------


def source_folder(args: argparse.Namespace) -> tuple[Path, str]:
    """The dataset folder, downloading it first when asked; and where it came from."""
    if args.data is not None:
        return args.data, str(args.data)
    url = datasets.DATASETS[args.dataset] if args.dataset else args.url
    return datasets.fetch(url, args.downloads, progress=not args.quiet), url


# --- the head -------------------------------------------------------------------------


# --- the command ----------------------------------------------------------------------


def load_data(args: argparse.Namespace) -> tuple[Path, list[Sample], int, str]:
    """(dataset folder, chosen samples, files that are not images, where the data came from)."""
    folder, origin = source_folder(args)
    found = datasets.scan(folder)
    people = datasets.read_people(args.people) if args.people else None
    chosen = datasets.select(
        found.samples,
        people=people,
        min_images=args.min_images,
        max_per_person=args.max_per_person,
        seed=args.seed,
    )
    if not chosen:
        raise DatasetError(f"no photos left in {folder} after --people and --min-images")
    return found.root, chosen, len(found.not_images), origin


def check_classes(data: Labelled) -> list[str]:
    """The classes to train, sorted; warns about people with a single usable photo."""
    counts: dict[str, int] = {}
    for label in data.labels:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        raise TrainingError(
            f"need faces of at least two people to train; found {len(counts)} "
            f"({len(data.samples)} photos with a face)"
        )
    single = sorted(label for label, n in counts.items() if n == 1)
    if single:
        log.warning(
            "%d people have one usable photo and none held out for validation: %s",
            len(single),
            ", ".join(single[:5]) + (" ..." if len(single) > 5 else ""),
        )
    if len(single) == len(counts):
        raise TrainingError("nobody has two usable photos, so none can be held out to validate")
    return sorted(counts)


@dataclasses.dataclass(frozen=True)
class Trained:
    """A trained model and how it did on the held-out photos."""

    model: Classifier
    metrics: dict
    history: list[dict[str, float]]
    best_epoch: int
    train_rows: list[int]
    device: torch.device


def run(args: argparse.Namespace, command: str, pipeline: Pipeline | None = None) -> dict:
    """Train and write the model; the summary of what was done.

    Raises:
        DatasetError, TrainingError, LookalikeError: with a message for the person running it.
    """
    started = time.monotonic()
    root, chosen, not_images, origin = load_data(args)
    settings = _settings()
    pipeline = pipeline or Pipeline(settings)
    data = evaluate.embed_samples(
        pipeline, chosen, args.cache_dir, choose=args.choose, progress=not args.quiet
    )
    for line in evaluate.skipped_lines(data.stats, root, args.choose, not_images):
        log.warning("%s", line)
    embedded_at = time.monotonic()
    trained = train_model(args, data, pipeline, settings)
    summary = {
        **{k: trained.metrics[k] for k in ("top1", "top5", "n")},
        "classes": len(trained.model.classes),
        "train_photos": len(trained.train_rows),
        **{k: trained.metrics[k] for k in ("nearest_neighbour_top1", "centroid_top1")},
        "best_epoch": trained.best_epoch,
        "embedded": data.stats.embedded,
        "cached": data.stats.cached,
        "embedding_s": round(embedded_at - started, 2),
        "training_s": round(time.monotonic() - embedded_at, 2),
    }
    paths = write_extras(args, trained, data)
    trained.model.info = {
        "metrics": summary,
        "dataset": describe_data(args, origin, chosen, data),
        "head": {"hidden": args.hidden, "dropout": args.dropout},
        "similarity_scale": trained.metrics.get("similarity_scale"),
        "training": training_options(args, pipeline, trained.device),
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "files": {k: v.name for k, v in paths.items()},
    }
    details = {"validation": trained.metrics, "history": trained.history}
    report.write_json(
        paths["report"], {**trained.model.info, **details, "skipped": skipped(data, root)}
    )
    pth, meta = trained.model.save(args.out / args.name)  # NAME.json last: watchers reload on it
    summary["total_s"] = round(time.monotonic() - started, 2)
    return {"model": str(pth.with_suffix("")), **summary, "files": [str(p) for p in (pth, meta)]}


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:  # a mistyped LOOKALIKE_* variable
        raise TrainingError(str(exc)) from None


def train_model(
    args: argparse.Namespace, data: Labelled, pipeline: Pipeline, settings: Settings
) -> Trained:
    """Split, train the head, and score it, the nearest neighbour and the centroids on the split."""
    classes = check_classes(data)
    targets = np.array([classes.index(label) for label in data.labels], dtype=np.int64)
    train_rows, val_rows = datasets.split(data.labels, args.val_fraction, args.seed)
    try:
        device = resolve_device(settings.device)
    except ValueError as exc:
        raise TrainingError(str(exc)) from None
    x, y = data.vectors[train_rows], targets[train_rows]
    vx, vy = data.vectors[val_rows], targets[val_rows]
    head, history, best_epoch = fit(args, (x, y), (vx, vy), len(classes), device)
    centroids = centroids_of(x, y, len(classes))
    embedder = pipeline.embedder
    model = Classifier(head, classes, embedder.name, embedder.dim, centroids)
    scale = similarity_scale(centroids, vx, vy) if len(vy) else None
    metrics = evaluate.scores(evaluate.probability_matrix(model, vx), vy, classes)
    metrics["nearest_neighbour_top1"] = round(evaluate.nearest_neighbour_top1(x, y, vx, vy), 4)
    metrics["centroid_top1"] = round(evaluate.centroid_top1(centroids, vx, vy), 4)
    if scale is not None:
        metrics["similarity_scale"] = scale
    return Trained(model, metrics, history, best_epoch, train_rows, device)


def describe_data(
    args: argparse.Namespace, origin: str, chosen: Sequence[Sample], data: Labelled
) -> dict:
    return {
        "source": origin,
        "fingerprint": datasets.fingerprint(data.samples),
        "people": len(set(data.labels)),
        "photos": len(chosen),
        "faces": len(data.samples),
        "selection": {
            "people_file": str(args.people) if args.people else None,
            "min_images": args.min_images,
            "max_per_person": args.max_per_person,
            "choose": args.choose,
        },
    }


def training_options(args: argparse.Namespace, pipeline: Pipeline, device: torch.device) -> dict:
    return {
        "seed": args.seed,
        "val_fraction": args.val_fraction,
        "balance": args.balance,
        "epochs": args.epochs,
        "patience": args.patience,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "batch": args.batch,
        "recipe": recipe(pipeline, args.choose, THOROUGH),
        "device": str(device),
    }


def skipped(data: Labelled, root: Path) -> dict[str, list[str]]:
    stats = data.stats
    return {
        "unreadable": [evaluate.relative(p, root) for p in stats.unreadable],
        "no_face": [evaluate.relative(p, root) for p in stats.no_face],
        "several_faces": [evaluate.relative(p, root) for p in stats.several_faces],
    }


def write_extras(args: argparse.Namespace, trained: Trained, data: Labelled) -> dict[str, Path]:
    """The gallery and plots; the paths of every file training writes beside the model."""
    stem = args.out / args.name
    pth, meta = model_paths(stem)
    paths = {
        "model": pth,
        "meta": meta,
        "report": stem.with_name(f"{args.name}.report.json"),
        "gallery": stem.with_name(f"{args.name}.gallery"),
    }
    rows = trained.train_rows
    targets = np.array([trained.model.classes.index(data.labels[r]) for r in rows])
    best = report.representatives(data.vectors[rows], targets, trained.model.centroids)
    faces = {k: (data.samples[rows[r]].path, data.boxes[rows[r]]) for k, r in best.items()}
    report.write_gallery(paths["gallery"], trained.model.classes, faces)
    curves = stem.with_name(f"{args.name}.curves.png")
    confused = stem.with_name(f"{args.name}.confused.png")
    if report.plot_curves(trained.history, trained.best_epoch, curves):
        paths["curves"] = curves
    if report.plot_confused(trained.metrics["confused"], confused):
        paths["confused"] = confused
    return paths


def as_text(summary: dict) -> str:
    return (
        f"model: {summary['model']} ({summary['classes']} people, "
        f"{summary['train_photos']} training photos)\n"
        f"validation ({summary['n']} photos): top-1 {summary['top1']:.2%}, "
        f"top-5 {summary['top5']:.2%}; nearest neighbour {summary['nearest_neighbour_top1']:.2%}, "
        f"nearest centroid {summary['centroid_top1']:.2%}\n"
        f"embedded {summary['embedded']} photos, {summary['cached']} from the cache; "
        f"{summary['total_s']:.1f} s in all"
    )


def main(argv: Sequence[str] | None = None, pipeline: Pipeline | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    command = shlex.join(["python", "-m", "training", *argv])
    try:
        summary = run(args, command, pipeline)
    except (DatasetError, TrainingError, LookalikeError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else as_text(summary))
    return 0
