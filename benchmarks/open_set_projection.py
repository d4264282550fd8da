"""Open-set recognition through a projection learned on LFW people who are never in a chat.

Run: .venv/bin/python -m benchmarks.open_set_projection [--lfw ../shared/datasets/lfw] [--json]

The chats, photos and strangers are benchmarks/open_set_levers.py's, and so are
the halves A and B. Every embedding, template and query alike, goes through a
128 x 128 matrix and is made unit again before the cosine. The matrix is learned
on the photos of the people of pairsDevTrain.txt and people-10.txt, whom
open_set.py never puts in a chat nor among the strangers:
- ``wccn/L``: within-class covariance normalisation: the inverse square root of
  the covariance of each photo around its person's mean, plus L times its mean
  variance on the diagonal. It is the projection that gives a person's photos
  equal spread in every direction (LDA keeping every dimension gives the same).
- ``margin/M/D``: a linear layer, starting from the identity, trained with a
  cosine softmax over the training people and margin M (CosFace), plus D times
  the squared distance of the layer from the identity.

For each it prints the true-accept rate with no stranger accepted and nobody
misidentified, with a person's best photo (``max``) and the mean of their best
two (``top2``); and LFW View 1: the DevTest accuracy at the threshold best on
DevTrain, with the matrix learned again without the people of pairsDevTest.txt.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from benchmarks.common import ROOT
from benchmarks.lfw_folds import held_out_accuracy
from benchmarks.open_set import names_in_pairs, split
from benchmarks.open_set_levers import arguments, person_scores, tar_at_zero_fa, trials, unit
from engine.config import Settings
from engine.pipeline import Pipeline
from training import lfw
from training.cache import EmbeddingCache
from training.embedding import embed_files

METHODS = ("none", "wccn/0.3", "wccn/1", "wccn/3", "margin/0.2/0.01", "margin/0.2/0.001")


def within_class(vectors: np.ndarray, people: np.ndarray) -> np.ndarray:
    """The covariance of each photo around its person's mean, over people with 2+ photos."""
    means = np.zeros_like(vectors)
    for person in np.unique(people):
        mine = people == person
        means[mine] = vectors[mine].mean(0)
    several = np.bincount(people)[people] > 1
    spread = (vectors - means)[several]
    return spread.T @ spread / len(spread)


def wccn(vectors: np.ndarray, people: np.ndarray, ridge: float) -> np.ndarray:
    covariance = within_class(vectors, people)
    covariance += ridge * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    values, basis = np.linalg.eigh(covariance)
    return basis @ np.diag(values**-0.5) @ basis.T


def margin_layer(
    vectors: np.ndarray, people: np.ndarray, margin: float, decay: float, epochs: int = 300
) -> np.ndarray:
    """A linear layer trained with a cosine softmax (scale 30, margin ``margin``) over
    the people, its class weights starting at their mean photos."""
    torch.manual_seed(0)
    x, y = torch.tensor(vectors, dtype=torch.float32), torch.tensor(people)
    count, dim = int(people.max()) + 1, vectors.shape[1]
    layer = torch.nn.Parameter(torch.eye(dim))
    classes = torch.nn.Parameter(torch.stack([x[y == c].mean(0) for c in range(count)]))
    optimiser = torch.optim.Adam([layer, classes], lr=1e-2)
    unit_t = torch.nn.functional.normalize
    for _ in range(epochs):
        cosines = unit_t(x @ layer, dim=1) @ unit_t(classes, dim=1).T
        logits = 30.0 * (cosines - margin * torch.nn.functional.one_hot(y, count))
        loss = torch.nn.functional.cross_entropy(logits, y)
        loss = loss + decay * ((layer - torch.eye(dim)) ** 2).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return layer.detach().double().numpy()


def learn(method: str, vectors: np.ndarray, people: np.ndarray) -> np.ndarray | None:
    kind, *numbers = method.split("/")
    if kind == "wccn":
        return wccn(vectors, people, float(numbers[0]))
    if kind == "margin":
        return margin_layer(vectors, people, float(numbers[0]), float(numbers[1]))
    if kind == "none":
        return None
    raise ValueError(f"unknown projection {method!r}: wccn/L, margin/M/D or none")


def photos_of(images: Path, names: set[str]) -> list[Path]:
    return [p for name in sorted(names) for p in sorted((images / name).glob("*.jpg"))]


def training_set(vectors: dict[Path, np.ndarray], files: list[Path]):
    kept = [f for f in files if f in vectors]
    names = sorted({f.parent.name for f in kept})
    index = {name: i for i, name in enumerate(names)}
    return (
        np.stack([vectors[f] for f in kept]).astype(np.float64),
        np.array([index[f.parent.name] for f in kept]),
    )


def view1_accuracy(train_pairs, test_pairs, vectors, projection) -> float:
    moved = {f: None if v is None else unit(v @ projection) for f, v in vectors.items()}
    return held_out_accuracy(train_pairs, test_pairs, moved)[0]


def main() -> None:
    args = arguments(__doc__)
    images = args.lfw / "images"

    enrolled, genuine, strangers = split(args.lfw, 3, 500, 0)
    dev_train = lfw.read_pairs(args.lfw / "pairsDevTrain.txt", images)
    dev_test = lfw.read_pairs(args.lfw / "pairsDevTest.txt", images)
    learners = names_in_pairs(args.lfw / "pairsDevTrain.txt") | set(
        (args.lfw / "people-10.txt").read_text().split()
    )
    view1_learners = names_in_pairs(args.lfw / "pairsDevTrain.txt") - names_in_pairs(
        args.lfw / "pairsDevTest.txt"
    )
    chats = {p for ps in enrolled.values() for p in ps} | {p for _, p in genuine}
    pair_files = {p for pair in dev_train + dev_test for p in (pair.first, pair.second)}
    files = sorted(chats | set(strangers) | pair_files | set(photos_of(images, learners)))
    pipeline = Pipeline(Settings.from_env())
    cache = EmbeddingCache(ROOT / "run" / "cache" / "embeddings.sqlite3")
    entries, _ = embed_files(pipeline, files, cache, progress=not args.json)
    cache.close()
    raw = {f: e.vector for f, e in zip(files, entries, strict=True)}
    vectors = {f: unit(v) for f, v in raw.items() if v is not None}
    learn_set = training_set(vectors, photos_of(images, learners))
    view1_set = training_set(vectors, photos_of(images, view1_learners))

    rows = []
    for method in METHODS:
        projection = learn(method, *learn_set)
        moved = (
            vectors if projection is None else {f: unit(v @ projection) for f, v in vectors.items()}
        )
        row: dict[str, object] = {"method": method}
        for t in trials(enrolled, genuine, strangers, moved, args.sizes):
            scores = t.queries @ t.templates.T
            for how in ("max", "top2"):
                per = person_scores(scores, t.owners, t.size, how == "top2")
                row[f"{how} {t.half} {t.size}"] = tar_at_zero_fa(t.truth, per, 0.0)
        view1 = learn(method, *view1_set)
        row["View 1 DevTest"] = view1_accuracy(
            dev_train, dev_test, raw, np.eye(128) if view1 is None else view1
        )
        rows.append(row)
    if args.json:
        print(json.dumps(rows))
        return
    print(
        f"Learned on {len(learn_set[0])} photos of {learn_set[1].max() + 1} people "
        f"(View 1: {len(view1_set[0])} photos of {view1_set[1].max() + 1}). "
        "TAR at zero false accepts, %; View 1 DevTest accuracy, %"
    )
    for how in ("max", "top2"):
        columns = [c for c in rows[0] if c.startswith(how)] + ["View 1 DevTest"]
        print(
            f"  {how:<18}"
            + "".join(f"{c[len(how) + 1 :] if c[0] != 'V' else 'View 1':>9}" for c in columns)
        )
        for r in rows:
            print(f"  {r['method']:<18}" + "".join(f"{100 * r[c]:9.1f}" for c in columns))


if __name__ == "__main__":
    main()
