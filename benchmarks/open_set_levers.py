"""Open-set levers on LFW: runner-up margins and cohort score normalisation, judged on halves.

Run: .venv/bin/python -m benchmarks.open_set_levers [--lfw ../shared/datasets/lfw] [--json]

The people, photos and strangers are benchmarks/open_set.py's. They are split
by name into two halves, A and B, each with half the strangers, so that a lever
chosen on one half can be checked on people not used for choosing it. For each
gallery size it prints the best true-accept rate with no stranger accepted and
nobody misidentified (an exact threshold, not a grid), for:
- ``max`` and ``top2``: a person's best photo, or the mean of their best two;
- ``+M``: the best person must also lead the runner-up by M;
- cohort normalisation, the cohort being every photo of pairsDevTrain.txt (the
  calibration people, never in a chat), with K the cohort scores kept:
  ``z``: a score minus the mean of the template's K best cohort scores (a
  per-person threshold); ``zs``: also divided by their deviation; ``t``: the
  same with the query's; ``as``: the mean of ``zs`` and ``t`` (adaptive S-norm).

Then per-template quality weights, with the best-photo score: each template's score
minus beta x (1 - its quality), the quality being ``size``, its face's width over
100 px (LFW's faces are about 93 px wide), or ``agree``, its mean cosine to the
person's other templates.

Then, for the whole set and each gallery size, the strangers that set the
threshold with the best-photo score: the three whose best match scores highest,
whom they match, and how many genuine queries score below each.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from benchmarks.open_set import split
from engine.config import Settings
from engine.pipeline import Pipeline
from training import lfw
from training.cache import EmbeddingCache
from training.embedding import embed_files

LEVERS = (
    ("max", 0.0, 0),
    ("top2", 0.0, 0),
    ("max", 0.02, 0),
    ("top2", 0.01, 0),
    ("top2", 0.02, 0),
    ("z-top2", 0.0, 20),
    ("z-top2", 0.0, 100),
    ("zs-top2", 0.0, 20),
    ("zs-top2", 0.0, 100),
    ("t-max", 0.0, 100),
    ("as-max", 0.0, 100),
    ("as-top2", 0.0, 100),
)
QUALITY = (("size", 0.05), ("size", 0.1), ("size", 0.2), ("agree", 0.05), ("agree", 0.1))


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def cohort_stats(vectors: np.ndarray, cohort: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    """Mean and deviation of each vector's ``k`` best cohort scores."""
    best = np.sort(vectors @ cohort.T, axis=1)[:, -k:]
    return best.mean(1), best.std(1) + 1e-6


def person_scores(scores: np.ndarray, owners: np.ndarray, people: int, top2: bool) -> np.ndarray:
    """(queries, people): each person's best score, or the mean of their best two."""
    out = np.empty((len(scores), people))
    for person in range(people):
        mine = np.sort(scores[:, owners == person], axis=1)
        out[:, person] = mine[:, -2:].mean(1) if top2 and mine.shape[1] > 1 else mine[:, -1]
    return out


def tar_at_zero_fa(truth: np.ndarray, scores: np.ndarray, margin: float) -> float:
    """The best true-accept rate with no stranger (truth -1) accepted and nobody misidentified."""
    order = np.argsort(-scores, axis=1)
    rows = np.arange(len(scores))
    best, top = order[:, 0], scores[rows, order[:, 0]]
    leads = top - scores[rows, order[:, 1]] >= margin
    genuine = truth >= 0
    bad = top[leads & (~genuine | (best != truth))]
    threshold = bad.max() + 1e-9 if len(bad) else -np.inf
    return float((leads & genuine & (best == truth) & (top >= threshold)).sum() / genuine.sum())


def quality_penalty(t, how: str, widths: dict[Path, float]) -> np.ndarray:
    """Each template's 1 - quality: ``size``, 1 - its face's width / 100 px (at least 0);
    ``agree``, 1 - its mean cosine to the person's other templates."""
    if how == "size":
        return np.maximum(0.0, 1 - np.array([widths[f] for f in t.template_files]) / 100)
    penalty = np.zeros(len(t.templates))
    for i, person in enumerate(t.owners):
        others = np.flatnonzero(t.owners == person)
        others = others[others != i]
        if len(others):
            penalty[i] = 1 - float((t.templates[others] @ t.templates[i]).mean())
    return penalty


def threshold_setters(truth, scores, names, strangers, count=3):
    """The ``count`` strangers with the highest best-person scores: (stranger, the person
    matched, the score, genuine queries whose own person's score is below it)."""
    genuine = truth >= 0
    own = scores[np.flatnonzero(genuine), truth[genuine]]
    top, who = scores[~genuine].max(1), scores[~genuine].argmax(1)
    order = np.argsort(-top)[:count]
    return [
        (strangers[i].parent.name, names[who[i]], round(float(v), 4), int((own < v).sum()))
        for i, v in zip(order, top[order], strict=True)
    ]


def lever(templates, owners, queries, truth, cohort, people, how: str, margin: float, k: int):
    scores = queries @ templates.T
    if how[:2] in ("as", "t-", "zs", "z-"):
        mean_q, dev_q = cohort_stats(queries, cohort, k)
        mean_t, dev_t = cohort_stats(templates, cohort, k)
        z = (scores - mean_t[None]) / dev_t[None]
        t = (scores - mean_q[:, None]) / dev_q[:, None]
        scores = {"z-": scores - mean_t[None], "zs": z, "t-": t, "as": (z + t) / 2}[how[:2]]
    per = person_scores(scores, owners, people, how.endswith("top2"))
    return tar_at_zero_fa(truth, per, margin)


@dataclasses.dataclass
class Trial:
    """One chat: ``size`` people drawn from a half, their templates, and the queries
    (their other photos, then the half's strangers; truth -1 for a stranger)."""

    half: str
    size: int
    chosen: list[str]
    strangers: list[Path]
    template_files: list[Path]
    templates: np.ndarray
    owners: np.ndarray
    queries: np.ndarray
    truth: np.ndarray


def trials(enrolled, genuine, strangers, vectors, sizes) -> Iterator[Trial]:
    """The chats of every size, for the whole set and for the halves A and B (people and
    strangers split by name), from unit ``vectors`` by file."""
    names, strangers = sorted(enrolled), sorted(p for p in strangers if p in vectors)
    halves = {
        "all": (names, strangers),
        "A": (names[0::2], strangers[0::2]),
        "B": (names[1::2], strangers[1::2]),
    }
    for half, (pool, stranger_pool) in halves.items():
        for size in [s for s in sizes if s <= len(pool)]:
            chosen = random.Random(size).sample(pool, size)
            ids = {name: i for i, name in enumerate(chosen)}
            kept = [(ids[n], p) for n in chosen for p in enrolled[n] if p in vectors]
            asked = [(ids[n], vectors[p]) for n, p in genuine if n in ids and p in vectors]
            asked += [(-1, vectors[p]) for p in stranger_pool]
            yield Trial(
                half,
                size,
                chosen,
                stranger_pool,
                [p for _, p in kept],
                np.stack([vectors[p] for _, p in kept]),
                np.array([i for i, _ in kept]),
                np.stack([v for _, v in asked]),
                np.array([i for i, _ in asked]),
            )


def arguments(doc: str) -> argparse.Namespace:
    """--lfw, --sizes and --json, as the open-set benchmarks take them."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared" / "datasets" / "lfw")
    parser.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100, 250])
    parser.add_argument("--json", action="store_true")
    return parser.parse_args()


def main() -> None:
    args = arguments(__doc__)

    pipeline = Pipeline(Settings.from_env())
    cache = EmbeddingCache(ROOT / "run" / "cache" / "embeddings.sqlite3")
    enrolled, genuine, strangers = split(args.lfw, 3, 500, 0)
    pairs = lfw.read_pairs(args.lfw / "pairsDevTrain.txt", args.lfw / "images")
    cohort_files = sorted({p for pair in pairs for p in (pair.first, pair.second)})
    files = sorted(
        {p for ps in enrolled.values() for p in ps} | {p for _, p in genuine} | set(strangers)
    )
    entries, _ = embed_files(pipeline, files + cohort_files, cache, progress=not args.json)
    vectors = {f: e.vector for f, e in zip(files + cohort_files, entries, strict=True)}
    own = zip(files, entries[: len(files)], strict=True)
    widths = {f: e.box[2] - e.box[0] for f, e in own if e.box}
    vectors = {f: unit(v) for f, v in vectors.items() if v is not None}
    cohort = np.stack([vectors[f] for f in cohort_files if f in vectors])
    rows, quality = [], {f"{how}-{beta}": {} for how, beta in QUALITY}
    for t in trials(enrolled, genuine, strangers, vectors, args.sizes):
        row = {"half": t.half, "people": t.size, "genuine": int((t.truth >= 0).sum())}
        for how, margin, k in LEVERS:
            name = how + (f"+{margin}" if margin else "") + (f"/{k}" if k else "")
            row[name] = lever(
                t.templates, t.owners, t.queries, t.truth, cohort, t.size, how, margin, k
            )
        scores = t.queries @ t.templates.T
        if t.half == "all":
            best = person_scores(scores, t.owners, t.size, False)
            row["setters"] = threshold_setters(t.truth, best, t.chosen, t.strangers)
        rows.append(row)
        penalties = {how: quality_penalty(t, how, widths) for how in dict(QUALITY)}
        for how, beta in QUALITY:
            weighted = scores - beta * penalties[how][None]
            quality[f"{how}-{beta}"][f"{t.half} {t.size}"] = tar_at_zero_fa(
                t.truth, person_scores(weighted, t.owners, t.size, False), 0.0
            )
    if args.json:
        print(json.dumps({"levers": rows, "quality": quality}))
        return
    columns = [c for c in rows[0] if c not in ("half", "people", "genuine", "setters")]
    print("TAR at zero false accepts; cohort:", len(cohort), "photos of pairsDevTrain.txt")
    print("  half people genuine " + " ".join(f"{c:>10}" for c in columns))
    for r in rows:
        print(
            f"  {r['half']:<4} {r['people']:>6} {r['genuine']:>7} "
            + " ".join(f"{r[c]:10.1%}" for c in columns)
        )
    print("Per-template quality, best photo: a template's score minus beta x (1 - quality)")
    columns = list(quality[next(iter(quality))])
    print("  quality-beta " + " ".join(f"{c:>9}" for c in columns))
    for name, figures in quality.items():
        print(f"  {name:<12} " + " ".join(f"{figures[c]:9.1%}" for c in columns))
    print("Strangers that set the threshold (best photo): stranger ~ person, score, genuine below")
    for r in rows:
        if "setters" in r:
            print(
                f"  {r['people']:>4} people, {r['genuine']} genuine: "
                + "; ".join(f"{a} ~ {b} {v:.4f} ({n})" for a, b, v, n in r["setters"])
            )


if __name__ == "__main__":
    main()
