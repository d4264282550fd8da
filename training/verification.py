"""Verification statistics over scored pairs: ROC, EER, thresholds and accuracy."""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Roc:
    """Rates at each candidate threshold, thresholds descending.

    A pair is accepted when its score is at or above the threshold.
    """

    thresholds: np.ndarray
    far: np.ndarray  # false accepts / different-person pairs
    tar: np.ndarray  # true accepts / same-person pairs


def roc(scores: np.ndarray, same: np.ndarray) -> Roc:
    """The ROC of similarity ``scores`` for pairs labelled ``same`` (bool)."""
    scores = np.asarray(scores, np.float64)
    same = np.asarray(same, bool)
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], same[order]
    # Only the last position of each run of equal scores is a real threshold.
    last = np.r_[np.nonzero(np.diff(s))[0], len(s) - 1]
    tp = np.cumsum(y)[last]
    fp = np.cumsum(~y)[last]
    positives, negatives = max(int(y.sum()), 1), max(int((~y).sum()), 1)
    return Roc(
        thresholds=np.r_[np.inf, s[last]],
        far=np.r_[0.0, fp / negatives],
        tar=np.r_[0.0, tp / positives],
    )


def threshold_at_far(curve: Roc, far: float) -> float:
    """The lowest threshold whose false-accept rate is at most ``far``."""
    allowed = np.nonzero(curve.far <= far)[0]
    return float(curve.thresholds[allowed[-1]])


def equal_error_rate(curve: Roc) -> tuple[float, float]:
    """(EER, threshold) where the false-accept and false-reject rates meet."""
    frr = 1 - curve.tar
    i = int(np.argmin(np.abs(curve.far - frr)))
    return float((curve.far[i] + frr[i]) / 2), float(curve.thresholds[i])


def rates(scores: np.ndarray, same: np.ndarray, threshold: float) -> tuple[float, float]:
    """(true-accept rate, false-accept rate) at ``threshold``."""
    scores, same = np.asarray(scores), np.asarray(same, bool)
    accepted = scores >= threshold
    tar = float(accepted[same].mean()) if same.any() else 0.0
    far = float(accepted[~same].mean()) if (~same).any() else 0.0
    return tar, far


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """The share of pairs decided right at ``threshold``."""
    return float(((np.asarray(scores) >= threshold) == np.asarray(same, bool)).mean())


def best_accuracy_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold that decides the most pairs right (midway between neighbouring scores)."""
    s = np.sort(np.unique(np.asarray(scores, np.float64)))
    candidates = np.r_[s[0] - 1e-6, (s[:-1] + s[1:]) / 2, s[-1] + 1e-6]
    correct = [accuracy(scores, same, t) for t in candidates]
    return float(candidates[int(np.argmax(correct))])
