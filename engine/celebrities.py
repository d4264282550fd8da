"""The celebrity gallery: reference embeddings per person, searched with one matrix product."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
import threading
import time
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from engine.errors import ModelMismatch, ModelUnavailable

log = logging.getLogger(__name__)

FORMAT_VERSION = 2
# What a celebrity is known for; the roster gives each person one.
FIELDS = ("film", "music", "sport", "politics", "royalty", "business", "science", "other")
# How a person's templates become one similarity: the best one, the mean of the best
# two (the best when there is one), or the similarity to their mean embedding.
AGGREGATES = ("max", "top2", "centroid")
# Queries scored at once: bounds the (queries, templates) similarity matrix in memory.
QUERY_CHUNK = 1024
# Used only when a model records no scale of its own: (similarity, score) knots.
DEFAULT_KNOTS = ((0.86, 0.0), (0.98, 100.0))


@dataclasses.dataclass(frozen=True)
class Celebrity:
    """Someone in the gallery: ``label`` is the dataset's folder name ("Jose_Maria_Aznar"),
    ``name`` the display name ("José María Aznar"), ``field`` one of `FIELDS`, and
    ``well_known`` whether most adults would know the name (what the game draws from)."""

    label: str
    name: str
    field: str = "other"
    well_known: bool = False


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One celebrity a face resembles.

    Attributes:
        label: the celebrity's folder name ("Tony_Blair").
        name: the display name ("Tony Blair").
        field: what they are known for, one of `FIELDS`.
        score: the resemblance shown to people, 0 to 100 (see `Celebrities.score`).
        similarity: the face's aggregated cosine similarity to the person's templates, -1 to 1.
    """

    label: str
    name: str
    field: str
    score: int
    similarity: float


def model_paths(stem: Path | str) -> tuple[Path, Path]:
    """(NAME.npz, NAME.json) for a model given as NAME, NAME.npz or NAME.json."""
    stem = Path(stem)
    if stem.suffix in (".npz", ".json", ".pth"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".npz"), stem.with_name(stem.name + ".json")


def display_name(label: str) -> str:
    """A dataset folder name ("Tony_Blair") as a plain name ("Tony Blair")."""
    return label.replace("_", " ").strip()


def folded(text: str) -> str:
    """``text`` as people may type it: any case, accents optional ("Música" -> "musica")."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def gallery_file_name(label: str) -> str:
    """The file name (without ".jpg") of a person's reference photo, in NAME.gallery/ and
    in the reference thumbnails' folder."""
    return re.sub(r"[^\w.-]+", "_", label).strip("._") or "person"


def normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)


class Celebrities:
    """The people of a gallery and their reference embeddings (templates).

    Args:
        people: one record per person, in the order ``owners`` indexes.
        templates: (n, dim) unit embeddings, any order.
        owners: (n,) the index in ``people`` of each template's person; everyone
            must have at least one.
        embedder: the embedder's name; ``dim`` its embedding length.
        aggregate: one of `AGGREGATES`.
        info: everything else in NAME.json (score scale, metrics, dataset, command...).
        strangers: optional (people, 101) percentiles of strangers' similarity to each
            person, for `percentile`.
        gallery: the folder of reference photos, when there is one.
    """

    def __init__(
        self,
        people: Sequence[Celebrity],
        templates: np.ndarray,
        owners: np.ndarray,
        embedder: str,
        dim: int,
        *,
        aggregate: str = "top2",
        info: dict[str, Any] | None = None,
        strangers: np.ndarray | None = None,
        gallery: Path | None = None,
    ) -> None:
        if aggregate not in AGGREGATES:
            raise ValueError(f"aggregate must be one of {AGGREGATES}")
        self.people = tuple(people)
        owners = np.asarray(owners, np.int64).reshape(-1)
        templates = np.asarray(templates, np.float32).reshape(len(owners), dim)
        if len(owners) and (owners.min() < 0 or owners.max() >= len(self.people)):
            raise ValueError("a template belongs to nobody")
        counts = np.bincount(owners, minlength=len(self.people))
        if (counts == 0).any():
            raise ValueError("everyone needs at least one template")
        order = np.argsort(owners, kind="stable")  # each person's templates side by side
        self.templates = np.ascontiguousarray(normalise(templates[order]))
        self.owners = owners[order]
        self.counts = counts
        self.starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        self._sums = np.add.reduceat(self.templates, self.starts, axis=0)
        self.centroids = normalise(self._sums)
        self.embedder, self.dim, self.aggregate = embedder, dim, aggregate
        self.info = dict(info or {})
        self.strangers = None if strangers is None else np.asarray(strangers, np.float32)
        self.gallery = gallery
        self._index = {}
        for index, person in enumerate(self.people):
            self._index.setdefault(person.label, index)
            self._index.setdefault(person.name.casefold(), index)
            self._index.setdefault(display_name(person.label).casefold(), index)
        self._fields = np.array([p.field for p in self.people])
        knots = self.info.get("score_scale", {}).get("knots") or DEFAULT_KNOTS
        self._knots = np.array(knots, np.float64).reshape(-1, 2)

    # --- search ------------------------------------------------------------------

    def similarities(
        self, embeddings: np.ndarray, *, aggregate: str | None = None, exclude: Any = None
    ) -> np.ndarray:
        """(queries, people) aggregated similarities: one matrix product over every template.

        Args:
            embeddings: (queries, dim) unit vectors from the model's embedder.
            aggregate: overrides the model's own (for measuring the choice).
            exclude: optional (queries,) template index to leave out per query, -1 for
                none (leave-one-out evaluation).
        """
        how = aggregate or self.aggregate
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, self.dim)
        if how == "centroid":
            return self._centroid_similarities(embeddings, exclude)
        out = np.empty((len(embeddings), len(self.people)), np.float32)
        for start in range(0, len(embeddings), QUERY_CHUNK):
            rows = slice(start, start + QUERY_CHUNK)
            sims = embeddings[rows] @ self.templates.T
            if exclude is not None:
                skip = np.asarray(exclude)[rows]
                hit = np.flatnonzero(skip >= 0)
                sims[hit, skip[hit]] = -np.inf
            out[rows] = self._reduce(sims, how)
        return out

    def _centroid_similarities(self, embeddings: np.ndarray, exclude: Any) -> np.ndarray:
        out = embeddings @ self.centroids.T
        if exclude is None:
            return out
        for row, skip in enumerate(np.asarray(exclude)):
            if skip < 0:
                continue
            owner = self.owners[skip]
            rest = self._sums[owner] - self.templates[skip]  # their centroid without it
            norm = float(np.linalg.norm(rest))
            out[row, owner] = embeddings[row] @ rest / norm if norm > 1e-6 else -np.inf
        return out

    def _reduce(self, sims: np.ndarray, how: str) -> np.ndarray:
        best = np.maximum.reduceat(sims, self.starts, axis=1)
        if how == "max":
            return best
        # The second best: the best once the best is masked (ties are rare in float32).
        masked = np.where(sims >= np.repeat(best, self.counts, axis=1), -np.inf, sims)
        second = np.maximum.reduceat(masked, self.starts, axis=1)
        return np.where(np.isfinite(second), (best + second) / 2, best)

    def predict(
        self, embeddings: np.ndarray, top_k: int = 3, fields: Collection[str] | None = None
    ) -> list[tuple[Prediction, ...]]:
        """The top-k celebrities for each embedding, most similar first.

        Args:
            embeddings: (n, dim) unit vectors from the model's embedder.
            top_k: how many people per face (at most the gallery's size).
            fields: when given, only people of these fields answer; names that are not
                fields match nobody, so a face may get no prediction at all.

        Returns:
            One tuple of ``Prediction`` per row, by similarity, descending.
        """
        embeddings = np.asarray(embeddings, np.float32).reshape(-1, self.dim)
        if len(embeddings) == 0:
            return []
        sims = self.similarities(embeddings)
        allowed = np.arange(len(self.people))
        if fields is not None:
            allowed = np.flatnonzero(np.isin(self._fields, list(fields)))
        k = max(0, min(top_k, len(allowed)))
        if k == 0:
            return [() for _ in embeddings]
        sub = sims[:, allowed]
        top = np.argpartition(-sub, k - 1, axis=1)[:, :k]
        results = []
        for row, picks in enumerate(top):
            picks = picks[np.argsort(-sub[row, picks], kind="stable")]
            results.append(tuple(self._prediction(allowed[j], float(sub[row, j])) for j in picks))
        return results

    def _prediction(self, index: int, similarity: float) -> Prediction:
        person = self.people[index]
        return Prediction(
            person.label, person.name, person.field, self.score(similarity), similarity
        )

    # --- scores --------------------------------------------------------------------

    def set_scale(self, scale: dict[str, Any]) -> None:
        """Use ``scale`` (``{"knots": [[similarity, score], ...], ...}``) for `score`."""
        self.info["score_scale"] = scale
        self._knots = np.array(scale.get("knots") or DEFAULT_KNOTS, np.float64).reshape(-1, 2)

    def score(self, similarity: float) -> int:
        """An aggregated similarity as the 0-100 resemblance people are shown.

        A piecewise-linear map through the model's ``score_scale`` knots, measured on
        held-out photos and strangers by training (see docs/model.md): 100 is as close
        as a celebrity's own held-out photos usually are, a stranger's best match
        usually lands between 40 and 70.
        """
        value = np.interp(similarity, self._knots[:, 0], self._knots[:, 1])
        return round(min(100.0, max(0.0, float(value))))

    def percentile(self, similarity: float, index: int) -> int:
        """The share of strangers' faces (0-100) less similar to person ``index`` than
        ``similarity``: "closer to them than 83% of faces". Without measurements (a model
        built with no strangers), the resemblance score stands in for it."""
        if self.strangers is None:
            return self.score(similarity)
        quantiles = self.strangers[index]
        shares = np.linspace(0, 100, len(quantiles))
        return round(float(np.interp(similarity, quantiles, shares)))

    def similarity_to(self, embedding: np.ndarray, index: int) -> float:
        """The aggregated similarity of one embedding to person ``index``."""
        rows = slice(self.starts[index], self.starts[index] + self.counts[index])
        if self.aggregate == "centroid":
            return float(np.dot(embedding, self.centroids[index]))
        sims = np.sort(self.templates[rows] @ np.asarray(embedding, np.float32))[::-1]
        return float(sims[0] if self.aggregate == "max" or len(sims) == 1 else sims[:2].mean())

    # --- people --------------------------------------------------------------------

    @property
    def celebrities(self) -> tuple[Celebrity, ...]:
        return self.people

    @property
    def classes(self) -> list[str]:
        """The folder names, in gallery order."""
        return [p.label for p in self.people]

    def index_of(self, name: str) -> int | None:
        """The index of a person given by label ("Tony_Blair") or display name."""
        found = self._index.get(name)
        return found if found is not None else self._index.get(name.casefold())

    def reference_photo(self, name: str) -> Path | None:
        """The person's reference thumbnail in NAME.gallery/, if there is one."""
        index = self.index_of(name)
        if self.gallery is None or index is None:
            return None
        path = self.gallery / f"{gallery_file_name(self.people[index].label)}.jpg"
        return path if path.is_file() else None

    # --- persistence ---------------------------------------------------------------

    def save(self, stem: Path | str) -> tuple[Path, Path]:
        """Write NAME.npz (float16 templates) and NAME.json, each atomically, .json last."""
        npz, meta = model_paths(stem)
        arrays = {"templates": self.templates.astype(np.float16), "owners": self.owners}
        if self.strangers is not None:
            arrays["strangers"] = self.strangers.astype(np.float16)
        info = {
            **self.info,
            "format_version": FORMAT_VERSION,
            "embedder": {"name": self.embedder, "dim": self.dim},
            "aggregate": self.aggregate,
            "people": [dataclasses.asdict(p) for p in self.people],
        }
        atomic_write(npz, lambda f: np.savez_compressed(f, **arrays))
        atomic_write(meta, lambda f: f.write(json.dumps(info, indent=1).encode() + b"\n"))
        return npz, meta

    @classmethod
    def load(
        cls, stem: Path | str, *, embedder: str | None = None, dim: int | None = None
    ) -> Celebrities:
        """Read NAME.npz and NAME.json.

        Args:
            embedder, dim: when given, the model must have been built with this
                embedder and dimension.

        Raises:
            ModelUnavailable: a file is missing, unreadable or of another format.
            ModelMismatch: the model was built for another embedder.
        """
        npz, meta = model_paths(stem)
        if not npz.is_file() or not meta.is_file():
            raise ModelUnavailable(f"No celebrity model at {npz.with_suffix('')}.")
        try:
            info = json.loads(meta.read_text(encoding="utf-8"))
            version = int(info.get("format_version", 0))
            if version != FORMAT_VERSION:
                raise ValueError(f"format version {version}, this code reads {FORMAT_VERSION}")
            people = [Celebrity(**p) for p in info.pop("people")]
            model_embedder = str(info["embedder"]["name"])
            model_dim = int(info["embedder"]["dim"])
            aggregate = str(info.get("aggregate", "top2"))
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise ModelUnavailable(f"{meta.name} is not a valid model description: {exc}") from None
        if (embedder is not None and embedder != model_embedder) or (
            dim is not None and dim != model_dim
        ):
            raise ModelMismatch(
                model_embedder=model_embedder, model_dim=model_dim, embedder=embedder, dim=dim
            )
        try:
            with np.load(npz, allow_pickle=False) as arrays:
                templates = arrays["templates"].astype(np.float32)
                owners = arrays["owners"]
                strangers = arrays.get("strangers")
            gallery = npz.with_name(npz.stem + ".gallery")
            return cls(
                people,
                templates,
                owners,
                model_embedder,
                model_dim,
                aggregate=aggregate,
                info=info,
                strangers=strangers,
                gallery=gallery if gallery.is_dir() else None,
            )
        except Exception as exc:  # numpy raises several types for a damaged file
            raise ModelUnavailable(f"{npz.name} could not be read: {exc}") from None


def people_of(labels: Iterable[str]) -> list[Celebrity]:
    """Records for bare folder names, with plain display names (tests and toy models)."""
    return [Celebrity(label, display_name(label)) for label in labels]


def atomic_write(path: Path, write: Any) -> None:
    """Write a file through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    # mkstemp makes the file private (0600); models and plots are no secret, and a
    # bot running as another user must be able to read them.
    os.fchmod(fd, 0o644)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelWatcher:
    """Holds the current gallery and swaps in a new one when its files change.

    ``current()`` is cheap: it looks at NAME.json's modification time at most
    once every ``interval`` seconds, and reloads only when that changed. A model
    that fails to load leaves the previous one in place. Training writes
    NAME.json last, so a changed NAME.json means both files are new.
    """

    def __init__(self, stem: Path | str, *, embedder: str, dim: int, interval: float = 2.0) -> None:
        self.stem = Path(stem)
        self.embedder = embedder
        self.dim = dim
        self.interval = interval
        self._model: Celebrities | None = None
        self._stamp: tuple[int, int] | bool | None = False  # False: never looked
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.error: str | None = None

    def current(self) -> Celebrities | None:
        """The loaded gallery, or None while there is no usable one."""
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self.reload(force=False)
        return self._model

    def reload(self, force: bool = True) -> Celebrities | None:
        """Load the model now if its files changed (or always, with ``force``)."""
        with self._lock:
            self._checked = time.monotonic()
            meta = model_paths(self.stem)[1]
            try:
                stat = meta.stat()
                stamp = (stat.st_mtime_ns, stat.st_size)
            except OSError:
                stamp = None
            if stamp == self._stamp and not force:
                return self._model
            self._stamp = stamp
            if stamp is None:
                self.error = f"No celebrity model at {self.stem}."
                return self._model
            try:
                model = Celebrities.load(self.stem, embedder=self.embedder, dim=self.dim)
            except (ModelUnavailable, ModelMismatch) as exc:
                self.error = str(exc)
                log.warning("celebrity model not loaded: %s", exc)
                return self._model
            if self._model is not None:
                log.info("celebrity model reloaded: %d people", len(model.people))
            self._model, self.error = model, None
            return model
