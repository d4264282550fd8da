"""engine.celebrities: the gallery's search, aggregation, fields, scores, files, reload, and
the Engine's answers by field on one scale."""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

from engine.celebrities import (
    FIELDS,
    Celebrities,
    Celebrity,
    ModelWatcher,
    model_paths,
    normalise,
    people_of,
)
from engine.engine import Engine
from engine.errors import ModelMismatch, ModelUnavailable

PEOPLE = (
    Celebrity("Ada_Lovelace", "Ada Lovelace", "science", True),
    Celebrity("Alan_Turing", "Alan Turing", "science", True),
    Celebrity("Jose_Maria_Aznar", "José María Aznar", "politics", False),
    Celebrity("Serena_Williams", "Serena Williams", "sport", True),
)


def toy_gallery(per_person: tuple[int, ...] = (3, 1, 2, 2), dim: int = 8, seed: int = 0):
    """People as random directions; each template a noisy copy of its person's."""
    rng = np.random.default_rng(seed)
    directions = normalise(rng.normal(size=(len(per_person), dim)))
    owners = np.repeat(np.arange(len(per_person)), per_person)
    templates = normalise(directions[owners] + 0.2 * rng.normal(size=(len(owners), dim)))
    shuffle = rng.permutation(len(owners))  # templates may come in any order
    people = PEOPLE[: len(per_person)]
    model = Celebrities(people, templates[shuffle], owners[shuffle], "dlib", dim)
    return model, directions, templates, owners


def test_aggregates_agree_with_a_plain_loop() -> None:
    model, directions, templates, owners = toy_gallery()
    queries = normalise(directions + 0.3)
    for how in ("max", "top2", "centroid"):
        fast = model.similarities(queries, aggregate=how)
        for q, query in enumerate(queries):
            for person in range(len(PEOPLE)):
                mine = np.sort(templates[owners == person] @ query)[::-1]
                if how == "max":
                    expected = mine[0]
                elif how == "top2":
                    expected = mine[:2].mean()
                else:
                    expected = query @ normalise(templates[owners == person].mean(axis=0))
                assert fast[q, person] == pytest.approx(expected, abs=1e-5)
    model.aggregate = "top2"
    assert model.similarity_to(queries[0], 2) == pytest.approx(
        model.similarities(queries[:1])[0, 2], abs=1e-6
    )


def test_a_person_with_one_photo_is_found() -> None:
    model, directions, _, _ = toy_gallery((3, 1, 2, 2))
    (top,) = model.predict(directions[[1]], top_k=2)
    assert top[0].label == "Alan_Turing" and top[0].field == "science"
    assert top[0].similarity > top[1].similarity and top[0].score >= top[1].score


def test_predictions_are_sorted_records_with_display_names() -> None:
    model, directions, _, _ = toy_gallery()
    (top,) = model.predict(directions[[2]], top_k=3)
    assert top[0].label == "Jose_Maria_Aznar" and top[0].name == "José María Aznar"
    assert [p.similarity for p in top] == sorted((p.similarity for p in top), reverse=True)
    assert all(0 <= p.score <= 100 for p in top)
    assert len(model.predict(directions[[0]], top_k=10)[0]) == 4
    assert model.predict(np.zeros((0, 8), np.float32)) == []


def test_fields_restrict_the_answers() -> None:
    model, directions, _, _ = toy_gallery()
    (top,) = model.predict(directions[[0]], top_k=5, fields={"sport", "politics"})
    assert {p.field for p in top} == {"sport", "politics"} and len(top) == 2
    assert model.predict(directions[[0]], top_k=3, fields={"music"}) == [()]
    assert model.predict(directions[[0]], top_k=3, fields={"no such field"}) == [()]
    assert set(FIELDS) >= {p.field for p in PEOPLE}


def test_leaving_a_template_out() -> None:
    model, _, _, _ = toy_gallery((1, 1, 2, 2))
    # A template queried against the gallery without itself: its person's other
    # template answers, or, for someone with one photo, nothing of theirs is left.
    own = model.templates[: len(model.templates)]
    sims = model.similarities(own, aggregate="max", exclude=np.arange(len(own)))
    full = model.similarities(own, aggregate="max")
    rows = np.arange(len(own))
    assert np.all(sims[rows, model.owners] < full[rows, model.owners] + 1e-6)
    assert np.isneginf(sims[0, 0]) and np.isfinite(sims[2, 2])
    centroid = model.similarities(own, aggregate="centroid", exclude=np.arange(len(own)))
    assert np.isneginf(centroid[0, 0])
    assert centroid[2, 2] == pytest.approx(own[2] @ own[3], abs=1e-5)  # the other one alone


def test_save_and_load_round_trip(tmp_path) -> None:
    model, directions, _, _ = toy_gallery()
    model.strangers = np.linspace(0.5, 0.9, 101)[None].repeat(4, axis=0)
    npz, meta = model.save(tmp_path / "toy")
    assert (npz.name, meta.name) == ("toy.npz", "toy.json")
    info = json.loads(meta.read_text())
    assert info["people"][2]["name"] == "José María Aznar" and info["aggregate"] == "top2"
    assert info["embedder"] == {"name": "dlib", "dim": 8} and info["format_version"] == 2
    with np.load(npz) as arrays:
        assert arrays["templates"].dtype == np.float16
    assert not list(tmp_path.glob("*.tmp"))
    loaded = Celebrities.load(tmp_path / "toy.npz", embedder="dlib", dim=8)
    assert loaded.celebrities == PEOPLE
    assert [p.label for p in loaded.predict(directions)[0]] == [
        p.label for p in model.predict(directions)[0]
    ]
    assert loaded.percentile(0.9, 1) == 100 and loaded.percentile(0.7, 1) == 50


def test_score_follows_the_recorded_scale() -> None:
    knots = [[0.5, 0], [0.8, 40], [0.9, 86], [0.95, 100]]
    model = Celebrities(people_of(["A"]), np.eye(1, 8), [0], "dlib", 8)
    assert (model.score(0.0), model.score(1.0)) == (0, 100)  # the default scale, clamped
    model = Celebrities(
        people_of(["A"]), np.eye(1, 8), [0], "dlib", 8, info={"score_scale": {"knots": knots}}
    )
    assert [model.score(s) for s in (0.4, 0.65, 0.8, 0.9, 0.925, 0.99)] == [0, 20, 40, 86, 93, 100]
    assert model.percentile(0.9, 0) == model.score(0.9)  # no strangers measured


def test_lookup_by_label_or_display_name() -> None:
    model, _, _, _ = toy_gallery()
    assert model.index_of("Jose_Maria_Aznar") == model.index_of("José María Aznar") == 2
    assert model.index_of("jose maria aznar") == 2 and model.index_of("Nobody") is None


def test_loading_checks_the_embedder(tmp_path) -> None:
    toy_gallery()[0].save(tmp_path / "toy")
    with pytest.raises(ModelMismatch, match="facenet"):
        Celebrities.load(tmp_path / "toy", embedder="facenet", dim=512)
    with pytest.raises(ModelMismatch):
        Celebrities.load(tmp_path / "toy", embedder="dlib", dim=128)


def test_missing_damaged_and_old_models_are_unavailable(tmp_path) -> None:
    with pytest.raises(ModelUnavailable, match="No celebrity model"):
        Celebrities.load(tmp_path / "nothing")
    npz, meta = toy_gallery()[0].save(tmp_path / "toy")
    npz.write_bytes(b"not a numpy file")
    with pytest.raises(ModelUnavailable, match="could not be read"):
        Celebrities.load(tmp_path / "toy")
    meta.write_text(json.dumps({"format_version": 1, "classes": ["A"]}))
    with pytest.raises(ModelUnavailable, match="format version 1"):
        Celebrities.load(tmp_path / "toy")
    meta.write_text("{ not json")
    with pytest.raises(ModelUnavailable, match="not a valid model description"):
        Celebrities.load(tmp_path / "toy")


def test_everyone_needs_a_template() -> None:
    with pytest.raises(ValueError, match="at least one template"):
        Celebrities(people_of(["A", "B"]), np.eye(2, 8), [0, 0], "dlib", 8)


def test_model_paths_accept_any_spelling(tmp_path) -> None:
    expected = (tmp_path / "m.npz", tmp_path / "m.json")
    assert model_paths(tmp_path / "m") == expected
    assert model_paths(tmp_path / "m.npz") == expected
    assert model_paths(str(tmp_path / "m.json")) == expected


def test_watcher_swaps_in_a_new_model_and_keeps_the_old_on_failure(tmp_path) -> None:
    watcher = ModelWatcher(tmp_path / "m", embedder="dlib", dim=8, interval=0)
    assert watcher.current() is None and "No celebrity model" in (watcher.error or "")
    toy_gallery((1, 1))[0].save(tmp_path / "m")
    assert len(watcher.current().classes) == 2
    toy_gallery((1, 1, 1))[0].save(tmp_path / "m")
    os.utime(tmp_path / "m.json", ns=(1, 10**18))  # a distinct mtime even on coarse clocks
    assert len(watcher.current().classes) == 3
    (tmp_path / "m.json").write_text("{ broken")
    assert len(watcher.current().classes) == 3
    assert "not a valid model description" in (watcher.error or "")


async def test_the_engine_answers_by_field_on_one_scale(
    tmp_path, pipeline, astronaut, hopper, hopper_jpg
) -> None:
    (astronaut_face,), (hopper_face,) = pipeline.embed_faces([astronaut, hopper])
    vectors = np.stack([astronaut_face[1], hopper_face[1]])
    people = (
        Celebrity("Eileen_Collins", "Eileen Collins", "science", True),
        Celebrity("Grace_Hopper", "Grace Hopper", "science", False),
    )
    model = Celebrities(people, vectors, [0, 1], "dlib", 128, aggregate="max")
    model.strangers = np.linspace(0.3, 0.9, 101)[None].repeat(2, axis=0)
    model.save(tmp_path / "m")
    settings = dataclasses.replace(pipeline.settings, model=tmp_path / "m", db=tmp_path / "db")
    engine = Engine(settings)
    await engine.start()
    try:
        assert engine.celebrities() == people
        (face,) = (await engine.lookalike(hopper_jpg)).faces
        best = face.predictions[0]
        assert (best.label, best.name, best.field) == ("Grace_Hopper", "Grace Hopper", "science")
        nobody = (await engine.lookalike(hopper_jpg, fields={"sport"})).faces[0].predictions
        assert nobody == ()
        likeness = await engine.similarity_to(hopper_jpg, "Grace_Hopper")
        assert likeness.score == best.score and likeness.similarity == pytest.approx(
            best.similarity, abs=1e-5
        )
        expected = round(float(np.interp(best.similarity, model.strangers[1], np.arange(101))))
        assert likeness.percentile == expected and 0 <= likeness.percentile <= 100
    finally:
        await engine.close()
