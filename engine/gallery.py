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


@dataclasses.dataclass(frozen=True)
class _Snapshot:
    """A gallery's state at one moment. Rows ``[:size]`` of the buffers are in use; rows
    past them may be filled by a later append, which no reader of this snapshot sees."""

    vectors: np.ndarray  # (capacity, dim) float32
    people: np.ndarray  # (capacity,) int64
    size: int
    people_count: int


class Gallery:
    """The embeddings of one scope, as rows of a matrix, each labelled with a person id.

    Appends are amortised O(1) (the matrix grows by doubling); removing a person
    compacts it into new arrays. Queries read the matrix once: (n, dim) @ (dim, m).

    Queries run in worker threads while appends and removals run on the event
    loop, so a query works on an immutable snapshot, taken once, and a change
    publishes a new one in a single assignment: an append only writes rows past
    every published snapshot's size, and a removal builds new arrays. A query
    started before a change answers as of before it.

    Attributes:
        version: the version of the scope's registrations this gallery holds
            (engine.registry keeps it in step with the database).
    """

    def __init__(self, dim: int, version: int = 0) -> None:
        self.dim = dim
        self.version = version
        self._snapshot = _Snapshot(np.zeros((16, dim), np.float32), np.zeros(16, np.int64), 0, 0)
        self._rows: collections.Counter[int] = collections.Counter()  # writers only

    def __len__(self) -> int:
        return self._snapshot.size

    @property
    def vectors(self) -> np.ndarray:
        snapshot = self._snapshot
        return snapshot.vectors[: snapshot.size]

    @property
    def people(self) -> np.ndarray:
        snapshot = self._snapshot
        return snapshot.people[: snapshot.size]

    def add(self, person: int, vectors: np.ndarray) -> None:
        """Append unit vectors (k, dim) for ``person``."""
        vectors = np.atleast_2d(vectors)
        self.extend(np.full(len(vectors), person, np.int64), vectors)

    def extend(self, people: np.ndarray, vectors: np.ndarray) -> None:
        """Append rows: ``vectors`` (k, dim), normalised here, for ``people`` (k,)."""
        vectors = normalise(np.atleast_2d(vectors))
        old = self._snapshot
        needed = old.size + len(vectors)
        buffer, labels = old.vectors, old.people
        if needed > len(buffer):
            capacity = max(needed, 2 * len(buffer))
            buffer = np.zeros((capacity, self.dim), np.float32)
            buffer[: old.size] = old.vectors[: old.size]
            labels = np.zeros(capacity, np.int64)
            labels[: old.size] = old.people[: old.size]
        buffer[old.size : needed] = vectors
        labels[old.size : needed] = people
        self._rows.update(np.asarray(people).tolist())
        self._snapshot = _Snapshot(buffer, labels, needed, len(self._rows))

    def remove(self, person: int) -> int:
        """Drop every row of ``person``, zeroing the memory they used; returns how many."""
        old = self._snapshot
        people = old.people[: old.size]
        gone = people == person
        removed = int(gone.sum())
        if removed:
            kept = old.size - removed
            buffer = np.zeros((max(16, kept), self.dim), np.float32)
            labels = np.zeros(len(buffer), np.int64)
            buffer[:kept] = old.vectors[: old.size][~gone]
            labels[:kept] = people[~gone]
            del self._rows[person]
            self._snapshot = _Snapshot(buffer, labels, kept, len(self._rows))
            # Queries still reading the old arrays see zeros for these rows only.
            old.vectors[: old.size][gone] = 0.0
        return removed

    def clear(self) -> None:
        """Drop every row, zeroing the memory they used."""
        old = self._snapshot
        self._rows.clear()
        self._snapshot = _Snapshot(
            np.zeros((16, self.dim), np.float32), np.zeros(16, np.int64), 0, 0
        )
        old.vectors[: old.size] = 0.0

    def count(self, person: int) -> int:
        """How many rows ``person`` has."""
        return self._rows.get(person, 0)

    @property
    def people_count(self) -> int:
        """How many distinct people the gallery holds."""
        return self._snapshot.people_count

    def best(
        self, queries: np.ndarray, policy: MatchPolicy, exclude: int | None = None
    ) -> list[Candidate | None]:
        """The best person for each query (m, dim) by ``policy.aggregate``, None if there is none.

        Args:
            exclude: a person id to leave out (a person is no duplicate of themselves).
        """
        snapshot = self._snapshot
        queries = normalise(np.atleast_2d(queries))
        if snapshot.size == 0:
            return [None] * len(queries)
        vectors = snapshot.vectors[: snapshot.size]
        people = snapshot.people[: snapshot.size]
        scores = vectors @ queries.T  # (n, m): the one pass over the whole gallery
        count = snapshot.people_count
        if exclude is not None and bool((people == exclude).any()):
            count -= 1
        threshold = policy.threshold_for(snapshot.people_count)
        return [
            self._candidate(scores[:, j], people, policy, exclude, threshold, count)
            for j in range(len(queries))
        ]

    def _candidate(
        self,
        scores: np.ndarray,
        people: np.ndarray,
        policy: MatchPolicy,
        exclude: int | None,
        threshold: float,
        count: int,
    ) -> Candidate | None:
        if exclude is not None:
            scores = np.where(people == exclude, -np.inf, scores)
        top = int(np.argmax(scores))
        if not np.isfinite(scores[top]):
            return None
        # Only people with a row within reach can change the decision: the best
        # one if it clears the threshold, and whoever comes within the margin of
        # it. Filtering by value rather than sorting keeps a query over a million
        # rows near the cost of the one matrix product.
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
        return Candidate(person=ranked[0][1], score=ranked[0][0], second=second, people=count)

    @staticmethod
    def _top2(scores: np.ndarray) -> float:
        if len(scores) < 2:
            return float(scores.max())
        return float(np.partition(scores, len(scores) - 2)[-2:].mean())
