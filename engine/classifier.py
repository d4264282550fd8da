"""The celebrity classifier: a small torch head over face embeddings; save, load, predict."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from engine.errors import ModelMismatch, ModelUnavailable

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
# Similarities to a class centroid between these give 0% to 100% resemblance,
# unless the model records its own scale (``similarity_scale`` in NAME.json):
# the first default model's held-out photos were 0.859 from other people's
# centroids and 0.978 from their own (medians).
DEFAULT_SCALE = (0.86, 0.98)


@dataclasses.dataclass(frozen=True)
class Prediction:
    """One celebrity a face resembles.

    Attributes:
        name: the celebrity, as a display name ("Tony Blair").
        probability: the classifier's probability for this class, 0 to 1.
        similarity: cosine similarity between the face and the class centroid, -1 to 1.
        score: the resemblance shown to people, 0 to 100 (see `Classifier.score`).
    """

    name: str
    probability: float
    similarity: float
    score: int = 0


@dataclasses.dataclass(frozen=True)
class Celebrity:
    """Someone the model knows: ``label`` is the dataset's folder name, ``name`` the
    display name; ``field`` what they are known for, when the model records it."""

    label: str
    name: str
    field: str = ""
    well_known: bool = True


class Head(nn.Module):
    """Embedding (n, dim) to class logits (n, classes): linear, or an MLP with one hidden layer."""

    def __init__(self, dim: int, classes: int, hidden: int = 0, dropout: float = 0.0) -> None:
        super().__init__()
        if hidden > 0:
            self.net: nn.Module = nn.Sequential(
                nn.Linear(dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, classes)
            )
        else:
            self.net = nn.Sequential(nn.Dropout(dropout), nn.Linear(dim, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def model_paths(stem: Path | str) -> tuple[Path, Path]:
    """(NAME.pth, NAME.json) for a model given as NAME, NAME.pth or NAME.json."""
    stem = Path(stem)
    if stem.suffix in (".pth", ".json"):
        stem = stem.with_suffix("")
    return stem.with_name(stem.name + ".pth"), stem.with_name(stem.name + ".json")


def display_name(label: str) -> str:
    """A dataset folder name ("Tony_Blair") as people write it ("Tony Blair")."""
    return label.replace("_", " ").strip()


def gallery_file_name(label: str) -> str:
    """The file name of a class's reference photo in NAME.gallery/."""
    return re.sub(r"[^\w.-]+", "_", label).strip("._") or "class"


class Classifier:
    """A trained head, its classes and their centroids, and what it was trained on.

    Args:
        head: the torch module, embeddings to logits.
        classes: class labels, indexed as the head's outputs.
        embedder: the embedder's name; ``dim`` its embedding length.
        centroids: (classes, dim) unit vectors, the mean embedding of each class.
        info: everything else in NAME.json (metrics, dataset, command, date...).
    """

    def __init__(
        self,
        head: Head,
        classes: Sequence[str],
        embedder: str,
        dim: int,
        centroids: np.ndarray,
        info: dict[str, Any] | None = None,
        gallery: Path | None = None,
    ) -> None:
        self.head = head.eval()
        self.classes = list(classes)
        self.embedder = embedder
        self.dim = dim
        self.centroids = np.asarray(centroids, dtype=np.float32)
        self.info = dict(info or {})
        self.gallery = gallery
        if self.centroids.shape != (len(self.classes), dim):
            raise ValueError("centroids must be (classes, dim)")

    def score(self, similarity: float) -> int:
        """A similarity to a class centroid as a 0-100 resemblance.

        100 means as close as the celebrity's own photos usually are to their
        average; 0 is as close as other people's usually are (the model's
        ``similarity_scale``, else `DEFAULT_SCALE`).
        """
        scale = self.info.get("similarity_scale")
        low, high = (float(scale["low"]), float(scale["high"])) if scale else DEFAULT_SCALE
        return round(100 * min(1.0, max(0.0, (similarity - low) / max(high - low, 1e-6))))

    @property
    def hidden(self) -> int:
        return int(self.info.get("head", {}).get("hidden", 0))

    def predict(self, embeddings: np.ndarray, top_k: int = 3) -> list[tuple[Prediction, ...]]:
        """The top-k celebrities for each embedding, most probable first.

        Args:
            embeddings: (n, dim) unit vectors from the matching embedder.
            top_k: how many classes to give per face (at most the number of classes).

        Returns:
            One tuple of ``Prediction`` per row, sorted by probability, descending.
        """
        embeddings = np.asarray(embeddings, dtype=np.float32).reshape(-1, self.dim)
        if len(embeddings) == 0:
            return []
        with torch.inference_mode():
            logits = self.head(torch.from_numpy(embeddings))
            probabilities = torch.softmax(logits, dim=1).numpy()
        similarities = embeddings @ self.centroids.T
        k = max(1, min(top_k, len(self.classes)))
        order = np.argsort(-probabilities, axis=1)[:, :k]
        return [
            tuple(
                Prediction(
                    display_name(self.classes[j]),
                    float(probabilities[i, j]),
                    float(similarities[i, j]),
                    self.score(float(similarities[i, j])),
                )
                for j in row
            )
            for i, row in enumerate(order)
        ]

    @property
    def celebrities(self) -> tuple[Celebrity, ...]:
        return tuple(Celebrity(label, display_name(label)) for label in self.classes)

    def index_of(self, name: str) -> int | None:
        """The class index of a label ("Tony_Blair") or display name ("Tony Blair")."""
        for index, label in enumerate(self.classes):
            if name in (label, display_name(label)):
                return index
        return None

    def reference_photo(self, name: str) -> Path | None:
        """The gallery thumbnail of a class, given its label or display name, if there is one."""
        index = self.index_of(name)
        if self.gallery is None or index is None:
            return None
        path = self.gallery / f"{gallery_file_name(self.classes[index])}.jpg"
        return path if path.is_file() else None

    # --- persistence ---------------------------------------------------------

    def save(self, stem: Path | str) -> tuple[Path, Path]:
        """Write NAME.pth (the state_dict) and NAME.json, each atomically, .json last."""
        pth, meta = model_paths(stem)
        pth.parent.mkdir(parents=True, exist_ok=True)
        state = {f"head.{k}": v for k, v in self.head.state_dict().items()}
        state["centroids"] = torch.from_numpy(self.centroids)
        info = {
            **self.info,
            "format_version": FORMAT_VERSION,
            "embedder": {"name": self.embedder, "dim": self.dim},
            "head": {**self.info.get("head", {}), "hidden": self.hidden},
            "classes": self.classes,
        }
        atomic_write(pth, lambda f: torch.save(state, f))
        atomic_write(meta, lambda f: f.write(json.dumps(info, indent=1).encode()))
        return pth, meta

    @classmethod
    def load(
        cls, stem: Path | str, *, embedder: str | None = None, dim: int | None = None
    ) -> Classifier:
        """Read NAME.pth and NAME.json.

        Args:
            embedder, dim: when given, the model must have been trained on this
                embedder and dimension.

        Raises:
            ModelUnavailable: a file is missing or unreadable.
            ModelMismatch: the model was trained for another embedder.
        """
        pth, meta = model_paths(stem)
        if not pth.is_file() or not meta.is_file():
            raise ModelUnavailable(f"No celebrity model at {pth.with_suffix('')}.")
        try:
            info = json.loads(meta.read_text())
            version = int(info.get("format_version", 0))
            if version > FORMAT_VERSION:
                raise ValueError(f"format version {version} is newer than this code")
            classes = [str(c) for c in info["classes"]]
            model_embedder = str(info["embedder"]["name"])
            model_dim = int(info["embedder"]["dim"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelUnavailable(f"{meta.name} is not a valid model description: {exc}") from None
        if (embedder is not None and embedder != model_embedder) or (
            dim is not None and dim != model_dim
        ):
            raise ModelMismatch(
                model_embedder=model_embedder, model_dim=model_dim, embedder=embedder, dim=dim
            )
        try:
            state = torch.load(pth, map_location="cpu", weights_only=True)
            head = Head(model_dim, len(classes), hidden=int(info.get("head", {}).get("hidden", 0)))
            head.load_state_dict({k[5:]: v for k, v in state.items() if k.startswith("head.")})
            centroids = state["centroids"].float().numpy()
        except Exception as exc:  # torch raises several types for a damaged file
            raise ModelUnavailable(f"{pth.name} could not be read: {exc}") from None
        gallery = pth.with_name(pth.stem + ".gallery")
        return cls(
            head,
            classes,
            model_embedder,
            model_dim,
            centroids,
            info,
            gallery if gallery.is_dir() else None,
        )


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
    """Holds the current classifier and swaps in a new one when its files change.

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
        self._model: Classifier | None = None
        self._stamp: tuple[int, int] | bool | None = False  # False: never looked
        self._checked = float("-inf")
        self._lock = threading.Lock()
        self.error: str | None = None

    def current(self) -> Classifier | None:
        """The loaded classifier, or None while there is no usable one."""
        now = time.monotonic()
        if now - self._checked >= self.interval:
            self.reload(force=False)
        return self._model

    def reload(self, force: bool = True) -> Classifier | None:
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
                model = Classifier.load(self.stem, embedder=self.embedder, dim=self.dim)
            except (ModelUnavailable, ModelMismatch) as exc:
                self.error = str(exc)
                log.warning("celebrity model not loaded: %s", exc)
                return self._model
            if self._model is not None:
                log.info("celebrity model reloaded: %d classes", len(model.classes))
            self._model, self.error = model, None
            return model
