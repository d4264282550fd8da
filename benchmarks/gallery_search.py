"""Search time: one face against the whole celebrity gallery, and against bigger ones.

Run: .venv/bin/python -m benchmarks.gallery_search [--model run/models/celebrities] [--json]

The search is one matrix product of the face's embedding with every template, then
the per-person aggregate (engine.celebrities.Celebrities.predict, top 3). It times the
shipped gallery, and synthetic galleries of 10,000 and 50,000 templates (random unit
vectors, 2 per person), each the median of 200 calls after 20 warm-up calls, with the
torch/numpy threads the engine would use.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, median, timed
from engine.celebrities import Celebrities, normalise, people_of


def search_ms(model: Celebrities, face: np.ndarray, repeat: int = 200) -> float:
    return 1000 * median(timed(lambda: model.predict(face, top_k=3), repeat, warmup=20))


def synthetic(templates: int, dim: int = 128, per_person: int = 2) -> Celebrities:
    rng = np.random.default_rng(0)
    people = templates // per_person
    owners = np.repeat(np.arange(people), per_person)
    vectors = normalise(rng.normal(size=(len(owners), dim)))
    return Celebrities(people_of(f"P{i}" for i in range(people)), vectors, owners, "dlib", dim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "run/models/celebrities")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    face = normalise(rng.normal(size=(1, 128)))
    rows = []
    model = Celebrities.load(args.model)
    galleries = [("shipped", model), ("synthetic", synthetic(10_000))]
    galleries.append(("synthetic", synthetic(50_000)))
    for name, gallery in galleries:
        row = {
            "gallery": name,
            "people": len(gallery.people),
            "templates": len(gallery.templates),
            "aggregate": gallery.aggregate,
            "median_ms": round(search_ms(gallery, face), 3),
        }
        rows.append(row)
        if not args.json:
            print(
                f"{name:<9} {row['people']:>6} people {row['templates']:>6} templates "
                f"({row['aggregate']}): {row['median_ms']:.3f} ms"
            )
    if args.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
