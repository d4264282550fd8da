"""engine.gallery: open-set matching rules on synthetic unit vectors."""

from __future__ import annotations

import numpy as np
import pytest

from engine.embedders import normalise
from engine.gallery import Gallery, MatchPolicy


def unit(*values: float) -> np.ndarray:
    return normalise(np.array(values, np.float32))


def test_add_grows_and_remove_compacts() -> None:
    gallery = Gallery(3)
    rng = np.random.default_rng(0)
    for person in range(40):
        gallery.add(person, normalise(rng.normal(size=(2, 3))))
    assert len(gallery) == 80 and gallery.count(7) == 2
    assert gallery.remove(7) == 2
    assert len(gallery) == 78 and gallery.count(7) == 0
    assert 7 not in gallery.people
    assert gallery.remove(7) == 0


def test_best_person_runner_up_and_margin() -> None:
    gallery = Gallery(3)
    gallery.add(1, unit(1, 0, 0))
    gallery.add(2, unit(0.9, 0.1, 0))
    gallery.add(3, unit(0, 0, 1))
    (candidate,) = gallery.best(unit(1, 0.01, 0), MatchPolicy(0.5))
    assert candidate.person == 1
    assert candidate.second == pytest.approx(float(unit(0.9, 0.1, 0) @ unit(1, 0.01, 0)))
    assert candidate.accepted(MatchPolicy(0.9, margin=0.0))
    assert not candidate.accepted(MatchPolicy(0.9, margin=0.1))
    assert not candidate.accepted(MatchPolicy(1.01))


def test_exclude_and_empty() -> None:
    gallery = Gallery(3)
    assert gallery.best(unit(1, 0, 0), MatchPolicy(0.5)) == [None]
    gallery.add(1, unit(1, 0, 0))
    assert gallery.best(unit(1, 0, 0), MatchPolicy(0.5), exclude=1) == [None]
    gallery.add(2, unit(0, 1, 0))
    (candidate,) = gallery.best(unit(1, 0, 0), MatchPolicy(0.5), exclude=1)
    assert candidate.person == 2 and candidate.second == -1.0


def test_max_and_top2_aggregation() -> None:
    gallery = Gallery(2)
    gallery.add(1, np.stack([unit(1, 0), unit(0, 1)]))  # one photo spot on, one far off
    gallery.add(2, np.stack([unit(1, 0.3), unit(1, 0.35)]))  # two photos, both close
    query = unit(1, 0)
    (by_max,) = gallery.best(query, MatchPolicy(0.5, aggregate="max"))
    (by_top2,) = gallery.best(query, MatchPolicy(0.5, aggregate="top2"))
    assert by_max.person == 1 and by_max.score == pytest.approx(1.0)
    assert by_top2.person == 2


def test_many_rows_of_one_person_do_not_hide_the_runner_up() -> None:
    gallery = Gallery(2)
    gallery.add(1, np.repeat(unit(1, 0)[None], 200, axis=0))
    gallery.add(2, unit(1, 0.2))
    (candidate,) = gallery.best(unit(1, 0), MatchPolicy(0.5))
    assert candidate.person == 1
    assert candidate.second == pytest.approx(float(unit(1, 0.2) @ unit(1, 0)))


def test_unknown_aggregate_is_refused() -> None:
    with pytest.raises(ValueError):
        MatchPolicy(0.5, aggregate="mean")


def test_the_threshold_grows_with_the_gallery() -> None:
    tail = ((0.01, 0.90), (0.001, 0.93), (0.0001, 0.95), (0.00001, 0.96))
    policy = MatchPolicy(0.93, tail=tail, open_far=0.01)
    assert policy.threshold_for(1) == 0.93  # never below the calibrated threshold
    assert policy.threshold_for(10) == pytest.approx(0.93)
    assert policy.threshold_for(100) == pytest.approx(0.95)
    assert 0.95 < policy.threshold_for(300) < 0.96
    assert policy.threshold_for(10**6) == pytest.approx(0.96)  # the strictest measured
    assert MatchPolicy(0.93).threshold_for(10**6) == 0.93  # no tail: fixed


def test_a_candidate_is_judged_by_its_gallery_size() -> None:
    tail = ((0.01, 0.90), (0.0001, 0.99))
    policy = MatchPolicy(0.5, tail=tail, open_far=0.01)
    small, large = Gallery(2), Gallery(2)
    small.add(1, unit(1, 0))
    for person in range(1, 101):
        large.add(person, unit(1, 0) if person == 1 else unit(0, 1))
    query = unit(1, 0.15)  # cosine 0.989 with person 1
    (in_small,) = small.best(query, policy)
    (in_large,) = large.best(query, policy)
    assert in_small.accepted(policy) and not in_large.accepted(policy)
    assert (in_small.people, in_large.people) == (1, 100)
