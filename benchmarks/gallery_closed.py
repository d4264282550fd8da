"""The held-out photos of LFW's 158 people against their own people only, and the whole gallery.

Run: .venv/bin/python -m benchmarks.gallery_closed [--model run/models/celebrities]
    [--lfw ../shared/datasets/lfw] [--json]

The previous model was a softmax head over 158 closed classes (99.55% top-1 on its own
held-out split). This answers whether such a head is still needed: the gallery's
aggregates on the model's held-out list (NAME.held-out.txt), first with only those
people competing (the head's closed set), then with everyone in the gallery.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT
from engine.celebrities import AGGREGATES, Celebrities
from engine.config import Settings
from engine.pipeline import Pipeline
from training import datasets
from training.evaluate import CACHE, embed_samples, read_list


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "run/models/celebrities")
    parser.add_argument("--lfw", type=Path, default=ROOT.parent / "shared/datasets/lfw")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    model = Celebrities.load(args.model)
    listed = read_list(args.model.with_name(args.model.name + ".held-out.txt"))
    found = datasets.scan(args.lfw / "images")
    samples = [s for s in found.samples if s.path.relative_to(found.root).as_posix() in listed]
    data = embed_samples(Pipeline(Settings.from_env()), samples, ROOT / CACHE, progress=False)
    targets = np.array([model.index_of(label) for label in data.labels])
    closed = np.unique(targets)
    rows = {}
    for how in AGGREGATES:
        sims = model.similarities(data.vectors, aggregate=how)
        among = closed[sims[:, closed].argmax(axis=1)]
        rows[how] = {
            "closed_top1": round(float((among == targets).mean()), 4),
            "open_top1": round(float((sims.argmax(axis=1) == targets).mean()), 4),
        }
    result = {"photos": len(targets), "their_people": len(closed), "gallery": len(model.people)}
    print(json.dumps({**result, "aggregates": rows}, indent=None if args.json else 1))


if __name__ == "__main__":
    main()
