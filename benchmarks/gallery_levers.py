"""Cheap levers on the gallery's per-person aggregate, from cached embeddings only.

Run: LOOKALIKE_MIN_FACE_SIZE=20 .venv/bin/python -m benchmarks.gallery_levers [--json]
(20 is the detector setting the shipped gallery's cache was embedded with.)

It rebuilds the shipped gallery's split (the same sources, roster, held-out photos and
strangers as `python -m training`, with --cached-only) and scores every person as

    a * centroid + (1 - a) * best template - b * (strangers' mean score for them)
      - f / (the person's template count)

where the centroid may weight each template by how central it is (weight
exp(t * (cosine to the person's other templates' centroid - 1))); --centre C first
subtracts C times the mean template from every embedding; --project METHOD first
passes every embedding through a projection of benchmarks/open_set_projection.py,
learned on the templates no query set uses. a, b, f and t are
chosen on a tuning split that is neither reported set: the LFW photos of gallery
people outside --hold-out with 3 photos or more, each left out of the gallery in
turn. The chosen levers are then measured on the held-out LFW photos and on the
pins crops left out one at a time, with the whole gallery competing.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys

import numpy as np

from benchmarks.common import ROOT
from benchmarks.open_set_projection import learn
from engine.celebrities import normalise
from engine.pipeline import Pipeline
from training import evaluate, train

SOURCES = [
    "--data", "../shared/datasets/lfw/images", "--tight", "../shared/datasets/pins",
    "--roster", "run/models/roster.csv", "--hold-out", "../shared/datasets/lfw/people-10.txt",
]  # fmt: skip
BLEND = np.round(np.linspace(0, 1, 11), 2)
BIAS = np.round(np.linspace(0, 1, 11), 2)
CENTRAL = (0.0, 10.0)
CENTRAL_QUICK = (0.0,)
FEW = (0.0, 0.01, 0.02, 0.03, 0.04, 0.06)


class Gallery:
    """Templates grouped by person, and each lever's person scores for a set of queries."""

    def __init__(self, templates: np.ndarray, owners: np.ndarray, strangers: np.ndarray):
        self.t, self.owners = templates, owners
        self.people = int(owners.max()) + 1
        self.counts = np.bincount(owners, minlength=self.people)
        self.starts = np.concatenate([[0], np.cumsum(self.counts)[:-1]])
        self.strangers = strangers @ templates.T
        self.stranger_vectors = strangers

    def weights(self, rows: np.ndarray, central: float) -> np.ndarray:
        """Each of one person's templates' weight: how close it is to the others' centroid."""
        if central == 0 or len(rows) < 3:
            return np.ones(len(rows), np.float32)
        v = self.t[rows]
        rest = normalise(v.sum(axis=0) - v)
        return np.exp(central * ((v * rest).sum(axis=1) - 1)).astype(np.float32)

    def one(self, sims: np.ndarray, rows: np.ndarray, central: float) -> tuple[np.ndarray, ...]:
        """(max, centroid) of one person for ``sims`` (n, len(rows)) similarities to their
        templates ``rows``."""
        w = self.weights(rows, central)
        norm = np.linalg.norm((w[:, None] * self.t[rows]).sum(axis=0))
        return sims.max(axis=1), sims @ w / max(norm, 1e-6)

    def components(self, q: np.ndarray, skip: np.ndarray, central: float) -> dict:
        """max, centroid and their strangers' means per person, for queries ``q`` whose
        template ``skip`` (-1 none) is left out of the gallery."""
        sims = q @ self.t.T
        best = np.maximum.reduceat(sims, self.starts, axis=1)
        cent = np.empty_like(best)
        s_best = np.maximum.reduceat(self.strangers, self.starts, axis=1).mean(axis=0)
        s_cent = np.empty(self.people, np.float32)
        for p in range(self.people):
            rows = np.arange(self.starts[p], self.starts[p] + self.counts[p])
            cent[:, p] = self.one(sims[:, rows], rows, central)[1]
            s_cent[p] = self.one(self.strangers[:, rows], rows, central)[1].mean()
        out = {
            "max": best,
            "cent": cent,
            "s_max": np.tile(s_best, (len(q), 1)),
            "s_cent": np.tile(s_cent, (len(q), 1)),
        }
        for i in np.flatnonzero(skip >= 0):  # the owner's column, without the query's template
            p = self.owners[skip[i]]
            rows = np.arange(self.starts[p], self.starts[p] + self.counts[p])
            rows = rows[rows != skip[i]]
            m, c = self.one(sims[i : i + 1, rows], rows, central)
            sm, sc = self.one(self.strangers[:, rows], rows, central)
            out["max"][i, p], out["cent"][i, p] = m[0], c[0]
            out["s_max"][i, p], out["s_cent"][i, p] = sm.mean(), sc.mean()
        return out


def score(
    parts: dict, targets: np.ndarray, blend: float, bias: float, few: float, counts: np.ndarray
) -> tuple[float, float]:
    sims = blend * parts["cent"] + (1 - blend) * parts["max"] - few / counts
    sims = sims - bias * (blend * parts["s_cent"] + (1 - blend) * parts["s_max"])
    true = sims[np.arange(len(targets)), targets][:, None]
    rank = (sims > true).sum(axis=1)
    return float((rank == 0).mean()), float((rank < 5).mean())


def splits() -> tuple[Gallery, dict]:
    """The shipped gallery and its three query sets: (queries, left-out template, targets)."""
    args = train.parse_args([*SOURCES, "--cached-only", "--quiet"])
    samples, _, _, _ = train.load_data(args)
    chosen, strangers, _, _ = train.choose_people(args, samples)
    strangers = train.pick_strangers(strangers, args.strangers, args.seed)
    pipeline = Pipeline(train._settings())
    options = {"choose": args.choose, "progress": False, "cached_only": True}
    data = evaluate.embed_samples(pipeline, chosen, args.cache_dir, **options)
    others = evaluate.embed_samples(pipeline, strangers, args.cache_dir, **options)
    in_gallery, held = train.hold_out(args, data)
    labels = sorted({data.labels[i] for i in in_gallery})
    index = {label: k for k, label in enumerate(labels)}
    rows = sorted(in_gallery, key=lambda i: (index[data.labels[i]], i))
    owners = np.array([index[data.labels[i]] for i in rows], np.int64)
    templates = normalise(data.vectors[rows])
    gallery = Gallery(templates, owners, normalise(others.vectors))
    held_people = {data.labels[i] for i in held}
    lfw = [k for k, i in enumerate(rows) if not data.samples[i].tight]
    lfw_count = np.bincount(owners[lfw], minlength=gallery.people)
    tune = [k for k in lfw if data.labels[rows[k]] not in held_people and lfw_count[owners[k]] >= 3]
    tight = [
        k for k, i in enumerate(rows) if data.samples[i].tight and gallery.counts[owners[k]] > 1
    ]
    none = np.full(len(held), -1)
    sets = {
        "tuning (LFW outside --hold-out, 3+ photos, leave-one-out)": (
            templates[tune],
            np.array(tune),
            owners[tune],
        ),
        "held-out LFW photos": (
            normalise(data.vectors[held]),
            none,
            np.array([index[data.labels[i]] for i in held]),
        ),
        "pins crops, leave-one-out": (templates[tight], np.array(tight), owners[tight]),
    }
    return gallery, sets


def moved(gallery: Gallery, sets: dict, move) -> tuple[Gallery, dict]:
    """The gallery and the query sets with ``move`` applied to every embedding."""
    out = Gallery(move(gallery.t), gallery.owners, move(gallery.stranger_vectors))
    return out, {n: (move(q), skip, t) for n, (q, skip, t) in sets.items()}


def centred(gallery: Gallery, sets: dict, amount: float) -> tuple[Gallery, dict]:
    """Every embedding minus ``amount`` of the templates' mean, made unit again: the
    direction all faces share counts less (one subtraction per query at search time)."""
    mean = gallery.t.mean(axis=0)
    return moved(gallery, sets, lambda v: normalise(v - amount * mean))


def projected(gallery: Gallery, sets: dict, method: str) -> tuple[Gallery, dict]:
    """Every embedding through a projection of benchmarks/open_set_projection.py, learned
    on the gallery's templates that no query set uses (the tuning people's and the pins
    crops are left out), made unit again."""
    used = np.concatenate([skip[skip >= 0] for _, skip, _ in sets.values()])
    rows = np.setdiff1d(np.arange(len(gallery.t)), used)
    _, people = np.unique(gallery.owners[rows], return_inverse=True)
    matrix = learn(method, gallery.t[rows].astype(np.float64), people).astype(np.float32)
    return moved(gallery, sets, lambda v: normalise(v @ matrix))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--centre", type=float, default=0.0, help="subtract this much of the mean")
    parser.add_argument(
        "--project", help="a learned projection: wccn/L or margin/M/D (open_set_projection.py)"
    )
    args = parser.parse_args()
    gallery, sets = splits()
    if args.centre:
        gallery, sets = centred(gallery, sets, args.centre)
    if args.project:
        gallery, sets = projected(gallery, sets, args.project)
    names = list(sets)
    counts = {}  # each query's view of every person's template count, its own left out
    for n, (_, skip, _) in sets.items():
        c = np.tile(gallery.counts.astype(np.float32), (len(skip), 1))
        hit = np.flatnonzero(skip >= 0)
        c[hit, gallery.owners[skip[hit]]] -= 1
        counts[n] = np.maximum(c, 1)
    grid = {}
    for central in CENTRAL_QUICK if args.centre or args.project else CENTRAL:
        parts = {n: gallery.components(q, s, central) for n, (q, s, _) in sets.items()}
        for blend, bias, few in itertools.product(BLEND, BIAS, FEW):
            grid[(central, float(blend), float(bias), few)] = [
                score(parts[n], sets[n][2], blend, bias, few, counts[n]) for n in names
            ]

    def row(key: tuple[float, ...]) -> dict:
        figures = {
            n: {"top1": round(a, 4), "top5": round(b, 4)}
            for n, (a, b) in zip(names, grid[key], strict=True)
        }
        return {
            "central": key[0],
            "blend": key[1],
            "bias": key[2],
            "few": key[3],
            **figures,
            "n": {n: len(sets[n][2]) for n in names},
        }

    chosen = max(grid, key=lambda k: (grid[k][0], -k[0], -k[2], -k[3]))  # on the tuning split only
    picks = {
        "centroid (shipped)": (0.0, 1.0, 0.0, 0.0),
        "max": (0.0, 0.0, 0.0, 0.0),
        "best blend, no bias": max(
            (k for k in grid if k[0] == 0 and k[2] == 0 and k[3] == 0), key=lambda k: grid[k][0]
        ),
        "best bias on centroid": max(
            (k for k in grid if k[0] == 0 and k[1] == 1 and k[3] == 0), key=lambda k: grid[k][0]
        ),
        "best central weights on centroid": max(
            (k for k in grid if k[1] == 1 and k[2] == 0 and k[3] == 0), key=lambda k: grid[k][0]
        ),
        "best few-template offset on centroid": max(
            (k for k in grid if k[0] == 0 and k[1] == 1 and k[2] == 0), key=lambda k: grid[k][0]
        ),
        "chosen on tuning": chosen,
    }
    result = {name: row(key) for name, key in picks.items()}
    if args.json:
        print(json.dumps(result))
        return
    for name, r in result.items():
        print(f"{name}: central {r['central']} blend {r['blend']} bias {r['bias']} few {r['few']}")
        for n in names:
            print(f"  {n} ({r['n'][n]}): top-1 {r[n]['top1']:.2%} top-5 {r[n]['top5']:.2%}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
