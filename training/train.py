"""python -m training [train]: embed photo folders once, build the celebrity gallery, write it."""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import shlex
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from engine.celebrities import AGGREGATES, Celebrity, display_name, model_paths
from engine.config import Settings
from engine.errors import LookalikeError
from engine.pipeline import THOROUGH, Pipeline
from training import datasets, evaluate, gallery, report, roster
from training.datasets import DatasetError, Sample
from training.embedding import CHOICES, TIGHT_PAD, recipe
from training.evaluate import CACHE, Labelled

log = logging.getLogger(__name__)

DEFAULT_OUT = Path("run/models")


class TrainingError(Exception):
    """Training cannot go on with this data or these options; the message says why."""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m training",
        description="Build the celebrity gallery from folders of photos, one sub-folder per "
        "person, merged by folder name.",
    )
    source = parser.add_argument_group("sources (at least one; repeat to merge several)")
    source.add_argument("--data", type=Path, action="append", default=[], help="a folder")
    source.add_argument(
        "--tight", type=Path, action="append", default=[],
        help="a folder of tight face crops, padded before detection",
    )  # fmt: skip
    source.add_argument("--dataset", choices=sorted(datasets.DATASETS), help="download one")
    source.add_argument("--url", action="append", default=[], help="a .zip or .tar.gz of a folder")
    pick = parser.add_argument_group("selection")
    pick.add_argument("--roster", type=Path, help="who is in: a roster CSV (run/models/roster.csv)")
    pick.add_argument("--people", type=Path, help="a file of the names to keep, one a line")
    pick.add_argument("--min-images", type=int, default=1, help="leave out people with fewer")
    pick.add_argument("--max-per-person", type=int, help="use at most this many photos a person")
    pick.add_argument("--choose", choices=CHOICES, default="central", help="face among several")
    held = parser.add_argument_group("evaluation and the score")
    held.add_argument(
        "--hold-out", type=Path,
        help="people (one a line) some of whose photos are kept out of the gallery to measure "
        "it; default: everyone with two photos or more",
    )  # fmt: skip
    held.add_argument("--val-fraction", type=float, default=0.2, help="held out per person")
    held.add_argument("--strangers", type=int, default=2000, help="people left out, to calibrate")
    held.add_argument(
        "--aggregate", choices=("auto", *AGGREGATES), default="auto",
        help="per person: the best template, the mean of the top 2, or the centroid; "
        "auto measures each on the held-out photos",
    )  # fmt: skip
    held.add_argument("--seed", type=int, default=0, help="for the splits")
    out = parser.add_argument_group("output")
    out.add_argument("--out", type=Path, help=f"the model folder ({DEFAULT_OUT}: see --force)")
    out.add_argument("--force", action="store_true", help="replace a model already in run/models")
    out.add_argument("--name", default="celebrities", help="NAME of NAME.npz, NAME.json...")
    out.add_argument("--cache-dir", type=Path, default=CACHE, help="embedding cache folder")
    out.add_argument(
        "--cached-only", action="store_true",
        help="use only photos already in the cache (a quick build while embedding runs)",
    )  # fmt: skip
    out.add_argument("--downloads", type=Path, default=Path("run/downloads"), help="archives")
    out.add_argument("--json", action="store_true", help="print a JSON summary")
    out.add_argument("--quiet", action="store_true", help="no progress bars, one line a stage")
    args = parser.parse_args(argv)
    if not (args.data or args.tight or args.dataset or args.url):
        parser.error("give at least one source: --data, --tight, --dataset or --url")
    if not 0 < args.val_fraction < 1:
        parser.error("--val-fraction must be between 0 and 1")
    if args.min_images < 1 or (args.max_per_person is not None and args.max_per_person < 1):
        parser.error("--min-images and --max-per-person must be at least 1")
    return args


def stage(text: str) -> None:
    """One line per stage on stderr, also with --quiet and in logs: no bars, no carriage returns."""
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def output_folder(args: argparse.Namespace) -> Path:
    """Where the model goes. Without --out, an existing model in run/models is the shipped
    one: replacing it takes --force, so that a trial run cannot lose it by accident."""
    if args.out is not None:
        return args.out
    existing = model_paths(DEFAULT_OUT / args.name)[1]
    if existing.exists() and not args.force:
        raise TrainingError(
            f"{existing.with_suffix('')} already exists (the shipped model): pass --out DIR to "
            "write the new model elsewhere, or --force to replace it"
        )
    return DEFAULT_OUT


# --- data ---------------------------------------------------------------------------


def sources(args: argparse.Namespace) -> list[tuple[Path, bool, str]]:
    """(folder, tight, where it came from) for each source, downloading archives first."""
    found = [(folder, False, str(folder)) for folder in args.data]
    found += [(folder, True, str(folder)) for folder in args.tight]
    urls = ([datasets.DATASETS[args.dataset]] if args.dataset else []) + list(args.url)
    for url in urls:
        found.append((datasets.fetch(url, args.downloads, progress=not args.quiet), False, url))
    return found


def load_data(args: argparse.Namespace) -> tuple[list[Sample], int, list[str], list[Path]]:
    """(every photo of every source, files that are not images, origins, roots), merged by
    folder name: one person's photos may come from several sources."""
    samples: list[Sample] = []
    not_images, origins, roots = 0, [], []
    for folder, tight, origin in sources(args):
        found = datasets.scan(folder, tight=tight)
        samples += found.samples
        not_images += len(found.not_images)
        origins.append(origin)
        roots.append(found.root)
    return samples, not_images, origins, roots


def choose_people(
    args: argparse.Namespace, samples: Sequence[Sample]
) -> tuple[list[Sample], list[Sample], dict[str, Celebrity], dict[str, object]]:
    """(the gallery people's photos, strangers' photos, who is in, the roster's counts).

    With a roster, only its ``in`` people are in; everyone else with photos is a
    stranger, counted by reason. Without one, everyone is in, with a plain name.
    """
    labels = sorted({s.label for s in samples})
    entries = roster.read(args.roster) if args.roster else None
    if entries is None:
        people = {label: Celebrity(label, display_name(label)) for label in labels}
        left: dict[str, object] = {}
    else:
        people = {e.folder: e.celebrity() for e in entries.values() if e.included}
        present = [entries[label] for label in labels if label in entries]
        left = roster.counts(present)
        left["no_row"] = sum(label not in entries for label in labels)
        left = {"photo_folders": len(labels), **left}
    inside = [s for s in samples if s.label in people]
    strangers = [s for s in samples if s.label not in people]
    chosen = datasets.select(
        inside,
        people=datasets.read_people(args.people) if args.people else None,
        min_images=args.min_images,
        max_per_person=args.max_per_person,
        seed=args.seed,
    )
    if not chosen:
        raise DatasetError("no photos left after the roster, --people and --min-images")
    return chosen, strangers, people, left


def pick_strangers(strangers: Sequence[Sample], limit: int, seed: int) -> list[Sample]:
    """One photo each of up to ``limit`` people out of the gallery, the same each run."""
    groups = datasets.by_label(strangers)
    rng = np.random.default_rng(seed)
    labels = sorted(groups)
    picked = sorted(rng.permutation(len(labels))[:limit]) if labels else []
    return [groups[labels[i]][rng.integers(len(groups[labels[i]]))] for i in picked]


def hold_out(args: argparse.Namespace, data: Labelled) -> tuple[list[int], list[int]]:
    """(gallery rows, held-out rows): ``--val-fraction`` of each --hold-out person's
    photos (everyone's without it) is kept out; tight crops never are."""
    wanted = None
    if args.hold_out:
        wanted = {display_name(n).casefold() for n in datasets.read_people(args.hold_out)}
    rows = [
        i
        for i, s in enumerate(data.samples)
        if not s.tight and (wanted is None or display_name(s.label).casefold() in wanted)
    ]
    _, held = datasets.split([data.labels[i] for i in rows], args.val_fraction, args.seed)
    held_rows = sorted(rows[i] for i in held)
    taken = set(held_rows)
    return [i for i in range(len(data.samples)) if i not in taken], held_rows


# --- the command ----------------------------------------------------------------------


def run(args: argparse.Namespace, command: str, pipeline: Pipeline | None = None) -> dict:
    """Build and write the gallery; the summary of what was done.

    Raises:
        DatasetError, TrainingError, LookalikeError, RosterError: with a message for
        the person running it.
    """
    started = time.monotonic()
    out = output_folder(args)
    samples, not_images, origins, roots = load_data(args)
    stage(f"found {len(samples)} photos of {len({s.label for s in samples})} people")
    chosen, strangers, people, left = choose_people(args, samples)
    if left:
        stage(f"roster: {left['in']} of {left['photo_folders']} photo folders are in")
    strangers = pick_strangers(strangers, args.strangers, args.seed)
    pipeline = pipeline or Pipeline(_settings())
    stage(f"embedding {len(chosen)} photos and {len(strangers)} strangers' (cached ones are quick)")
    progress = False if args.quiet else None
    options = {"choose": args.choose, "progress": progress, "cached_only": args.cached_only}
    data = evaluate.embed_samples(pipeline, chosen, args.cache_dir, **options)
    others = evaluate.embed_samples(pipeline, strangers, args.cache_dir, **options)
    if args.cached_only:
        stage(f"left out {data.stats.uncached + others.stats.uncached} photos not in the cache")
    for line in skipped_lines(data, roots, args.choose, not_images):
        log.warning("%s", line)
    embedded_at = time.monotonic()
    in_gallery, held = hold_out(args, data)
    try:
        built = gallery.build(data, in_gallery, held, others.vectors, people, pipeline, args)
    except gallery.GalleryError as exc:
        raise TrainingError(str(exc)) from None
    model = built.model
    stage(
        f"gallery: {len(model.people)} people, {len(model.templates)} templates; "
        f"aggregate {model.aggregate}; held out {built.metrics['held_out'].get('n', 0)} photos"
    )
    summary = {
        "people": len(model.people),
        "templates": len(model.templates),
        "aggregate": model.aggregate,
        "held_out": _short(built.metrics["held_out"]),
        "leave_one_out": _short(built.metrics["leave_one_out"]),
        "fields": built.fields,
        "roster": left,
        "embedded": data.stats.embedded + others.stats.embedded,
        "uncached_left_out": data.stats.uncached + others.stats.uncached,
        "cached": data.stats.cached + others.stats.cached,
        "embedding_s": round(embedded_at - started, 2),
        "building_s": round(time.monotonic() - embedded_at, 2),
    }
    stem = out / args.name
    model.info = {
        **model.info,
        "metrics": summary,
        "dataset": {
            "sources": origins,
            "fingerprint": datasets.fingerprint(data.samples),
            "photos": len(chosen),
            "faces": len(data.samples),
            "strangers": len(others.samples),
            "selection": {
                "roster": str(args.roster) if args.roster else None,
                "people_file": str(args.people) if args.people else None,
                "min_images": args.min_images,
                "max_per_person": args.max_per_person,
                "choose": args.choose,
                "hold_out": str(args.hold_out) if args.hold_out else None,
                "val_fraction": args.val_fraction,
                "seed": args.seed,
            },
            "recipe": recipe(pipeline, args.choose, THOROUGH),
            "tight_pad": TIGHT_PAD,
        },
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    files = write_extras(stem, built, data, held, roots)
    model.info["files"] = {k: v.name for k, v in files.items()}
    report.write_json(
        files["report"],
        {**model.info, "evaluation": built.metrics, "skipped": skipped(data, roots)},
    )
    npz, meta = model.save(stem)  # NAME.json last: watchers reload on it
    summary["total_s"] = round(time.monotonic() - started, 2)
    stage(f"wrote {meta}")
    return {"model": str(npz.with_suffix("")), **summary, "files": [str(p) for p in (npz, meta)]}


def _short(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("n", "top1", "top5") if k in metrics}


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except ValueError as exc:  # a mistyped LOOKALIKE_* variable
        raise TrainingError(str(exc)) from None


def relative(path: Path, roots: Sequence[Path]) -> str:
    for root in roots:
        if path.is_relative_to(root):
            return path.relative_to(root).as_posix()
    return path.as_posix()


def skipped_lines(data: Labelled, roots: Sequence[Path], choose: str, not_images: int) -> list[str]:
    root = roots[0] if len(roots) == 1 else Path("/")
    return evaluate.skipped_lines(data.stats, root, choose, not_images)


def skipped(data: Labelled, roots: Sequence[Path]) -> dict[str, list[str]]:
    stats = data.stats
    return {
        "unreadable": [relative(p, roots) for p in stats.unreadable],
        "no_face": [relative(p, roots) for p in stats.no_face],
        "several_faces": [relative(p, roots) for p in stats.several_faces],
    }


def write_extras(
    stem: Path, built: gallery.Built, data: Labelled, held: Sequence[int], roots: Sequence[Path]
) -> dict[str, Path]:
    """The held-out list, the thumbnails and the plot; every file written beside the model."""
    npz, meta = model_paths(stem)
    name = stem.name
    paths = {
        "model": npz,
        "meta": meta,
        "report": stem.with_name(f"{name}.report.json"),
        "held_out": stem.with_name(f"{name}.held-out.txt"),
        "gallery": stem.with_name(f"{name}.gallery"),
    }
    lines = sorted(relative(data.samples[i].path, roots) for i in held)
    header = "# photos kept out of the gallery, for `python -m training evaluate --held-out`\n"
    report.atomic_text(paths["held_out"], header + "".join(f"{line}\n" for line in lines))
    faces = {
        k: (data.samples[row].path, data.boxes[row]) for k, row in built.representatives.items()
    }
    report.write_gallery(paths["gallery"], built.model.classes, faces)
    confused = stem.with_name(f"{name}.confused.png")
    if report.plot_confused(built.metrics["held_out"].get("confused", []), confused):
        paths["confused"] = confused
    return paths


def as_text(summary: dict) -> str:
    held, loo = summary["held_out"], summary["leave_one_out"]
    lines = [
        f"model: {summary['model']} ({summary['people']} people, "
        f"{summary['templates']} templates, aggregate {summary['aggregate']})",
        "fields: " + ", ".join(f"{k} {v}" for k, v in summary["fields"].items()),
    ]
    if held.get("n"):
        lines.append(
            f"held-out photos ({held['n']}): top-1 {held['top1']:.2%}, top-5 {held['top5']:.2%}"
        )
    if loo.get("n"):
        lines.append(
            f"tight crops, leave-one-out ({loo['n']}): top-1 {loo['top1']:.2%}, "
            f"top-5 {loo['top5']:.2%}"
        )
    lines.append(
        f"embedded {summary['embedded']} photos, {summary['cached']} from the cache; "
        f"{summary['total_s']:.1f} s in all"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None, pipeline: Pipeline | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    command = shlex.join(["python", "-m", "training", *argv])
    try:
        summary = run(args, command, pipeline)
    except (DatasetError, TrainingError, LookalikeError, roster.RosterError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary) if args.json else as_text(summary))
    return 0
