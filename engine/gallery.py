"""In-memory face galleries: one normalised matrix per scope, and open-set matching against it."""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from engine.embedders import normalise


@dataclasses.dataclass(frozen=True)
class MatchPolicy:
    """How a query embedding is matched against a gallery.

    Attributes:
        threshold: the least score, a cosine similarity, that names a person.
        margin: how far the best person must lead the second-best one.
        aggregate: a person's score from their photos: "max", the best photo, or
            "top2", the mean of their two best (one photo counts alone).
        tail: (false-accept rate, threshold) pairs of one comparison between two
            strangers, from calibration, most frequent first. With it, the
            threshold rises with the number of people in a gallery: a stranger
            compared with n people has about n chances to be taken for one.
        open_far: the chance, with ``tail``, that a stranger is taken for
            someone, whatever the size of the gallery.
    """

    threshold: float
    margin: float = 0.0
    aggregate: str = "max"
    tail: tuple[tuple[float, float], ...] = ()
    open_far: float = 0.01

    def __post_init__(self) -> None:
        if self.aggregate not in ("max", "top2"):
            raise ValueError(f"aggregate must be max or top2, not {self.aggregate!r}")

    def threshold_for(self, people: int) -> float:
        """The threshold for a gallery of ``people`` people: never below ``threshold``."""
        if not self.tail or people <= 0:
            return self.threshold
        far = np.array([f for f, _ in self.tail])
        thresholds = np.array([t for _, t in self.tail])
        wanted = np.log10(self.open_far / people)
        # np.interp needs increasing x: log10(far) ascending, thresholds descending.
        order = np.argsort(far)
        fitted = float(np.interp(wanted, np.log10(far[order]), thresholds[order]))
        return max(self.threshold, fitted)


@dataclasses.dataclass(frozen=True)
class Candidate:
    """The best-scoring person for a query, and the runner-up's score.

    ``second`` is -1 when no other person comes within ``margin`` of the threshold
    (their exact score cannot change the decision then).
    """

    person: int
    score: float
    second: float
    people: int = 1  # people in the gallery when it was asked

    @property
    def margin(self) -> float:
        return self.score - self.second

    def accepted(self, policy: MatchPolicy) -> bool:
        return self.score >= policy.threshold_for(self.people) and self.margin >= policy.margin


class Gallery:
    """The embeddings of one scope, as rows of a matrix, each labelled with a person id.

    Appends are amortised O(1) (the matrix grows by doubling); removing a person
    compacts it. Queries read the matrix once: (n, dim) @ (dim, m).
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self._vectors = np.zeros((16, dim), np.float32)
        self._people = np.zeros(16, np.int64)
        self._size = 0
        self._rows: collections.Counter[int] = collections.Counter()

    def __len__(self) -> int:
        return self._size

    @property
    def vectors(self) -> np.ndarray:
        return self._vectors[: self._size]

    @property
    def people(self) -> np.ndarray:
        return self._people[: self._size]

    def add(self, person: int, vectors: np.ndarray) -> None:
        """Append unit vectors (k, dim) for ``person``."""
        vectors = np.atleast_2d(vectors)
        self.extend(np.full(len(vectors), person, np.int64), vectors)

    def extend(self, people: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows: ``vectors`` (k, dim), normalised here, for ``people`` (k,)."""
        vectors = normalise(np.atleast_2d(vectors))
        needed = self._size + len(vectors)
        if needed > len(self._vectors):
            capacity = max(needed, 2 * len(self._vectors))
            grown = np.zeros((capacity, self.dim), np.float32)
            grown[: self._size] = self.vectors
            labels = np.zeros(capacity, np.int64)
            labels[: self._size] = self.people
            self._vectors, self._people = grown, labels
        self._vectors[self._size : needed] = vectors
        self._people[self._size : needed] = people
        self._size = needed
        self._rows.update(np.asarray(people).tolist())

    def remove(self, person: int) -> int:
        """Drop every row of ``person``, zeroing the memory they used; returns how many."""
        keep = self.people != person
        removed = int(self._size - keep.sum())
        if removed:
            kept = int(keep.sum())
            self._vectors[:kept] = self.vectors[keep]
            self._people[:kept] = self.people[keep]
            self._vectors[kept : self._size] = 0.0
            self._people[kept : self._size] = 0
            self._size = kept
            del self._rows[person]
        return removed

    def count(self, person: int) -> int:
        """How many rows ``person`` has."""
        return self._rows.get(person, 0)

    @property
    def people_count(self) -> int:
        """How many distinct people the gallery holds."""
        return len(self._rows)

    def best(
        self, queries: np.ndarray, policy: MatchPolicy, exclude: int | None = None
    ) -> list[Candidate | None]:
        """The best person for each query (m, dim) by ``policy.aggregate``, None if there is none.

        Args:
            exclude: a person id to leave out (a person is no duplicate of themselves).
        """
        queries = normalise(np.atleast_2d(queries))
        if self._size == 0:
            return [None] * len(queries)
        scores = self.vectors @ queries.T  # (n, m): the one pass over the whole gallery
        return [self._candidate(scores[:, j], policy, exclude) for j in range(len(queries))]

    def _candidate(
        self, scores: np.ndarray, policy: MatchPolicy, exclude: int | None
    ) -> Candidate | None:
        people = self.people
        if exclude is not None:
            scores = np.where(people == exclude, -np.inf, scores)
        top = int(np.argmax(scores))
        if not np.isfinite(scores[top]):
            return None
        # Only people with a row within reach can change the decision: the best
        # one if it clears the threshold, and whoever comes within the margin of
        # it. Filtering by value rather than sorting keeps a query over a million
        # rows near the cost of the one matrix product.
        threshold = policy.threshold_for(self.people_count)
        reach = min(threshold, float(scores[top])) - policy.margin - 1e-6
        rows = np.flatnonzero(scores >= reach)
        rows = rows[np.argsort(-scores[rows], kind="stable")]
        contenders: dict[int, float] = {}
        for row in rows.tolist():
            contenders.setdefault(int(people[row]), float(scores[row]))
        if policy.aggregate == "top2":
            contenders = {p: self._top2(scores[people == p]) for p in contenders}
        ranked = sorted(((score, p) for p, score in contenders.items()), reverse=True)
        second = ranked[1][0] if len(ranked) > 1 else -1.0
        people = self.people_count - (exclude in self._rows)
        return Candidate(person=ranked[0][1], score=ranked[0][0], second=second, people=people)

    @staticmethod
    def _top2(scores: np.ndarray) -> float:
        if len(scores) < 2:
            return float(scores.max())
        return float(np.partition(scores, len(scores) - 2)[-2:].mean())
