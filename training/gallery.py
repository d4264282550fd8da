"""Building the gallery: templates, the aggregate chosen by measurement, the calibrated score."""

from __future__ import annotations

import argparse
import collections
import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from engine.celebrities import AGGREGATES, FIELDS, Celebrities, Celebrity
from engine.pipeline import Pipeline
from training.evaluate import Labelled, scores

# Where the README's words put a stranger's best match (its 5th and 95th percentiles)
# and a celebrity's own photos (95% of them at 86 or more, their median at 100).
STRANGER_LOW, STRANGER_HIGH, OWN_LOW = 41.0, 72.0, 86.0
# Preference among aggregates that measure the same.
PREFERENCE = ("top2", "max", "centroid")
MIN_STRANGERS = 20


class GalleryError(ValueError):
    """Too little data for a gallery; the message says what is missing."""


@dataclasses.dataclass(frozen=True)
class Built:
    """The gallery, its measurements, its people per field, and each person's most
    typical photo (row in the embedded data), for the reference thumbnails."""

    model: Celebrities
    metrics: dict
    fields: dict[str, int]
    representatives: dict[int, int]


def build(
    data: Labelled,
    in_gallery: Sequence[int],
    held: Sequence[int],
    strangers: np.ndarray,
    people: Mapping[str, Celebrity],
    pipeline: Pipeline,
    args: argparse.Namespace,
) -> Built:
    """The gallery of ``in_gallery`` rows, measured on ``held`` rows, tight crops left out
    one at a time, and ``strangers`` (embeddings of people out of the gallery)."""
    labels = sorted({data.labels[i] for i in in_gallery})
    if len(labels) < 2:
        raise GalleryError(f"need photos of at least two people; found {len(labels)}")
    index = {label: k for k, label in enumerate(labels)}
    rows = sorted(in_gallery, key=lambda i: (index[data.labels[i]], i))  # grouped by person
    owners = np.array([index[data.labels[i]] for i in rows], np.int64)
    embedder = pipeline.embedder
    model = Celebrities(
        [people[label] for label in labels],
        data.vectors[rows],
        owners,
        embedder.name,
        embedder.dim,
    )
    fields = [p.field for p in model.people]
    held_targets = np.array([index[data.labels[i]] for i in held], np.int64)
    held_vectors = data.vectors[list(held)] if held else np.zeros((0, embedder.dim), np.float32)
    tight = [k for k, i in enumerate(rows) if data.samples[i].tight and model.counts[owners[k]] > 1]
    measured = {}
    for how in AGGREGATES:
        figures: dict[str, object] = {}
        if len(held):
            sims = model.similarities(held_vectors, aggregate=how)
            figures["held_out"] = scores(sims, held_targets, labels, fields)
        if tight:
            sims = model.similarities(
                model.templates[tight], aggregate=how, exclude=np.array(tight)
            )
            figures["leave_one_out"] = scores(sims, owners[tight], labels, fields)
        measured[how] = figures
    chosen = choose(measured) if args.aggregate == "auto" else args.aggregate
    model.aggregate = chosen
    check = calibrate(model, held_vectors, held_targets, strangers)
    if len(strangers) >= MIN_STRANGERS:
        model.strangers = np.quantile(
            model.similarities(strangers), np.linspace(0, 1, 101), axis=0
        ).T.astype(np.float32)
    metrics = {
        "held_out": measured[chosen].get("held_out", {}),
        "leave_one_out": measured[chosen].get("leave_one_out", {}),
        "aggregates": {how: _summary(figures) for how, figures in measured.items()},
        "score_check": check,
    }
    counted = collections.Counter(fields)
    return Built(
        model,
        metrics,
        {f: counted.get(f, 0) for f in FIELDS},
        representatives(model, rows),
    )


def _summary(figures: Mapping[str, object]) -> dict[str, object]:
    return {
        name: {k: part[k] for k in ("n", "top1", "top5", "per_field")}  # type: ignore[index]
        for name, part in figures.items()
    }


def choose(measured: Mapping[str, Mapping[str, object]]) -> str:
    """The aggregate with the best held-out top-1, then top-5, then leave-one-out top-1."""

    def key(how: str) -> tuple[float, ...]:
        held = measured[how].get("held_out") or {}
        loo = measured[how].get("leave_one_out") or {}
        return (
            held.get("top1") or 0.0,  # type: ignore[union-attr]
            held.get("top5") or 0.0,  # type: ignore[union-attr]
            loo.get("top1") or 0.0,  # type: ignore[union-attr]
            -PREFERENCE.index(how),
        )

    return max(PREFERENCE, key=key)


def calibrate(
    model: Celebrities, held: np.ndarray, targets: np.ndarray, strangers: np.ndarray
) -> dict[str, object]:
    """Set the model's score knots; how they do on the strangers not used to place them.

    0 is as close as a face usually is to anyone else in the gallery; a stranger's best
    match lands at 41 (5th percentile) to 72 (95th); 86 is the 5th percentile of the
    celebrities' own held-out photos and 100 their median. Strangers are split in two
    halves: one places the knots, the other checks them. Without strangers, the best
    match among *other* people of each held-out photo stands in for one.
    """
    if len(strangers) >= MIN_STRANGERS:
        place, check = strangers[0::2], strangers[1::2]
        placed = model.similarities(place)
        best = placed.max(axis=1)
        anyone = float(np.median(placed))
        source = "strangers"
    else:
        sims = model.similarities(held)
        rows = np.arange(len(targets))
        anyone = float(np.median(sims))
        sims[rows, targets] = -np.inf
        best, check = sims.max(axis=1), None
        source = "held-out photos' best other person"
    own = model.similarities(held)[np.arange(len(targets)), targets] if len(targets) else None
    knots = [(anyone, 0.0)]
    knots += [
        (float(np.percentile(best, 5)), STRANGER_LOW),
        (float(np.percentile(best, 95)), STRANGER_HIGH),
    ]
    if own is not None and len(own):
        knots += [(float(np.percentile(own, 5)), OWN_LOW), (float(np.median(own)), 100.0)]
    kept, dropped = [], []
    for point in knots:  # a knot that would make the scale fall is left out, and said
        if kept and point[0] <= kept[-1][0]:
            dropped.append(point)
            continue
        kept.append(point)
    scale = {
        "knots": [[round(s, 5), v] for s, v in kept],
        "dropped": [[round(s, 5), v] for s, v in dropped],
        "placed_on": source,
    }
    model.set_scale(scale)
    result: dict[str, object] = {}
    if check is not None and len(check):
        shown = np.array([model.score(s) for s in model.similarities(check).max(axis=1)])
        result["strangers_best_match"] = {
            "n": len(shown),
            "p5": float(np.percentile(shown, 5)),
            "median": float(np.median(shown)),
            "p95": float(np.percentile(shown, 95)),
            "share_85_or_more": round(float((shown >= 85).mean()), 4),
        }
    if own is not None and len(own):
        mine = np.array([model.score(s) for s in own])
        result["own_held_out"] = {
            "n": len(mine),
            "p5": float(np.percentile(mine, 5)),
            "median": float(np.median(mine)),
            "share_85_or_more": round(float((mine >= 85).mean()), 4),
        }
    return result


def representatives(model: Celebrities, rows: Sequence[int]) -> dict[int, int]:
    """For each person, the data row of the template nearest their centroid."""
    closeness = (model.templates * model.centroids[model.owners]).sum(axis=1)
    best: dict[int, int] = {}
    for k, owner in enumerate(model.owners):
        owner = int(owner)
        if owner not in best or closeness[k] > closeness[best[owner]]:
            best[owner] = k
    return {owner: rows[k] for owner, k in best.items()}
