"""Tight crops: how many pins photos give a face with and without padding, and leave-one-out.

Run: .venv/bin/python -m benchmarks.gallery_pad [--pins ../shared/datasets/pins] [--json]

Each pins photo is embedded as it is, always padded (training.embedding.TIGHT_PAD of
its size on every side, border pixels repeated), and padded only when no face is found
as it is, through the embedding cache. For each way it reports the photos in which a
face was found, and the top-1 of leaving each crop out of a gallery of the pins people
alone (the person's other crops stay in).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from engine.celebrities import Celebrities, people_of
from engine.config import Settings
from engine.pipeline import Pipeline
from training import datasets
from training.cache import EmbeddingCache
from training.embedding import TIGHT_PAD, embed_files
from training.evaluate import CACHE, embed_samples


def leave_one_out(vectors: np.ndarray, labels: list[str]) -> dict[str, float]:
    names = sorted(set(labels))
    owners = np.array([names.index(label) for label in labels])
    model = Celebrities(people_of(names), vectors, owners, "dlib", vectors.shape[1])
    order = np.argsort(owners, kind="stable")  # the model keeps templates grouped by person
    rows = np.arange(len(order))
    result = {}
    for how in ("max", "top2", "centroid"):
        if how == "centroid":  # a centroid with the query left out, computed by hand
            hits = []
            for k in rows:
                rest = [j for j in rows if j != k and model.owners[j] == model.owners[k]]
                if not rest:
                    continue
                sims = model.templates[k] @ model.centroids.T
                own = model.templates[rest].mean(axis=0)
                sims[model.owners[k]] = model.templates[k] @ (own / np.linalg.norm(own))
                hits.append(sims.argmax() == model.owners[k])
            result[how] = round(float(np.mean(hits)), 4)
            continue
        sims = model.similarities(model.templates, aggregate=how, exclude=rows)
        result[how] = round(float((sims.argmax(axis=1) == model.owners).mean()), 4)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pins", type=Path, default=ROOT.parent / "shared/datasets/pins")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / CACHE)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    found = datasets.scan(args.pins, tight=True)
    pipeline = Pipeline(Settings.from_env())
    report: dict[str, object] = {"photos": len(found.samples), "pad": TIGHT_PAD}
    cache = EmbeddingCache(args.cache_dir / "embeddings.sqlite3")
    paths = [s.path for s in found.samples]
    padded, stats = embed_files(pipeline, paths, cache, pad=TIGHT_PAD, progress=False)
    cache.close()
    kept = [
        (s.label, e.vector)
        for s, e in zip(found.samples, padded, strict=True)
        if e.vector is not None
    ]
    report["always_padded"] = {
        "with_a_face": len(kept),
        "no_face": [p.name for p in stats.no_face],
        "leave_one_out_top1": leave_one_out(np.stack([v for _, v in kept]), [k for k, _ in kept]),
    }
    # As is, and padded only where no face was found: what training does with --tight.
    for name, tight in (("as_is", False), ("as_is_then_padded", True)):
        samples = [dataclasses.replace(s, tight=tight) for s in found.samples]
        data = embed_samples(pipeline, samples, args.cache_dir, progress=False)
        report[name] = {
            "with_a_face": len(data.samples),
            "no_face": [p.name for p in data.stats.no_face],
            "leave_one_out_top1": leave_one_out(data.vectors, data.labels),
        }
    print(json.dumps(report, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
