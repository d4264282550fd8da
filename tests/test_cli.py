"""python -m engine as an admin runs it: text, --json, folders, --out, with and without a model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.celebrities import Celebrities, people_of
from engine.pipeline import Pipeline
from tests.conftest import ROOT, encode, run_module


def run_cli(*args: object, model: Path) -> subprocess.CompletedProcess[str]:
    return run_module("engine", *args, timeout=120, LOOKALIKE_MODEL=str(model))


@pytest.fixture(scope="module")
def photos(tmp_path_factory, astronaut, hopper, no_face) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    (folder / "nested").mkdir()
    (folder / "astronaut.png").write_bytes(encode(astronaut))
    (folder / "nested" / "hopper.webp").write_bytes(encode(hopper, "WEBP"))
    (folder / "coffee.jpg").write_bytes(encode(no_face, "JPEG"))
    (folder / "notes.txt").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def two_person_model(tmp_path_factory, pipeline: Pipeline, astronaut, hopper) -> Path:
    """A model whose two classes are the astronaut and Grace Hopper themselves."""
    centroids = np.stack([pipeline.embed_faces([p])[0][0][1] for p in (astronaut, hopper)])
    stem = tmp_path_factory.mktemp("model") / "two"
    people = people_of(["Eileen_Collins", "Grace_Hopper"])
    Celebrities(people, centroids, np.arange(2), "dlib", 128).save(stem)
    return stem


def test_json_lines_for_a_folder_without_a_model(photos: Path, tmp_path: Path) -> None:
    done = run_cli(photos, "--json", "--embeddings", model=tmp_path / "none")
    assert done.returncode == 0, done.stderr
    assert "faces and embeddings only" in done.stderr
    assert "%|" not in done.stderr  # no progress bar when standard error is not a terminal
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    by_name = {Path(line["file"]).name: line for line in lines}
    assert set(by_name) == {"astronaut.png", "hopper.webp", "coffee.jpg"}  # notes.txt skipped
    assert by_name["coffee.jpg"]["faces"] == []
    face = by_name["hopper.webp"]["faces"][0]
    assert len(face["box"]) == 4 and face["score"] > 0.99 and face["top_k"] == []
    assert len(face["embedding"]) == 128
    assert all(line["error"] is None for line in lines)


def test_text_output_with_a_model_and_an_annotated_photo(
    photos: Path, two_person_model: Path, tmp_path: Path
) -> None:
    out = tmp_path / "annotated.jpg"
    done = run_cli(photos / "astronaut.png", "--top-k", "2", "--out", out, model=two_person_model)
    assert done.returncode == 0, done.stderr
    assert "1 face" in done.stdout
    assert "1. Eileen Collins" in done.stdout and "2. Grace Hopper" in done.stdout
    with Image.open(out) as annotated:
        assert annotated.size == (512, 512)


def test_a_text_file_named_jpg_is_an_error_line_not_a_crash(tmp_path: Path, photos: Path) -> None:
    fake = tmp_path / "holiday.jpg"
    fake.write_text("Dear diary")
    done = run_cli(fake, photos / "astronaut.png", "--json", model=tmp_path / "none")
    assert done.returncode == 0
    first, second = (json.loads(line) for line in done.stdout.splitlines())
    assert first["error"]["code"] == "unsupported_image" and first["faces"] == []
    assert second["error"] is None
    assert "Traceback" not in done.stderr


def test_json_scores_are_the_bots_scale_and_fields_restrict(
    photos: Path, two_person_model: Path
) -> None:
    done = run_cli(photos / "astronaut.png", "--json", "--embeddings", model=two_person_model)
    assert done.returncode == 0, done.stderr
    (face,) = json.loads(done.stdout)["faces"]
    best = face["top_k"][0]
    assert set(best) == {"name", "label", "field", "score", "similarity"}
    model = Celebrities.load(two_person_model)
    (expected,) = model.predict(np.array([face["embedding"]], np.float32), top_k=2)
    assert [p["score"] for p in face["top_k"]] == [p.score for p in expected]
    assert best["label"] == "Eileen_Collins" and best["field"] == "other"
    only = run_cli(photos / "astronaut.png", "--json", "--field", "sport", model=two_person_model)
    assert json.loads(only.stdout)["faces"][0]["top_k"] == []


@pytest.mark.parametrize("command", ["engine", "people"])
def test_a_reader_that_leaves_early_ends_the_command_quietly(
    command: str, photos: Path, two_person_model: Path
) -> None:
    """``python -m engine photos/ | head``: the reader is gone before the first line."""
    module, args = {
        "engine": ("engine", [photos, "--json"]),
        "people": ("training", ["people", "--model", two_person_model]),
    }[command]
    read, write = os.pipe()
    os.close(read)  # nobody will read: every write meets a closed pipe
    with os.fdopen(write, "w") as stdout:
        done = subprocess.run(
            [sys.executable, "-m", module, *map(str, args)],
            stdout=stdout,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(ROOT), "LOOKALIKE_MODEL": str(two_person_model)},
        )
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr


@pytest.mark.parametrize(
    "command",
    [
        ("engine", "{photos}", "--json"),
        ("training", "people", "--model", "{model}"),
        ("bot", "shell"),
    ],
    ids=["engine", "people", "bot"],
)
def test_the_commands_leave_without_collecting_garbage_and_lose_no_output(
    command: tuple[str, ...], photos: Path, two_person_model: Path
) -> None:
    """Each command freezes the collector before Python's exit, which walked every live
    object several times (1 s a run with torch loaded), and its output and exit status
    are whole. The ``__main__`` block runs as ``python -m`` runs it; an atexit handler,
    registered first and so run last, reports the frozen count."""
    module, *args = (part.format(photos=photos, model=two_person_model) for part in command)
    probe = (
        "import atexit, gc, runpy, sys\n"
        "atexit.register(lambda: print('frozen', gc.get_freeze_count() > 0, file=sys.stderr))\n"
        f"sys.argv = ['{module}', *{args!r}]\n"
        f"runpy.run_module('{module}', run_name='__main__', alter_sys=True)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input="/help\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT), "LOOKALIKE_MODEL": str(two_person_model)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr.rstrip().endswith("frozen True"), done.stderr
    expected = {"engine": 3, "training": 2, "bot": 1}[module]
    assert len(done.stdout.strip().splitlines()) >= expected, done.stdout
