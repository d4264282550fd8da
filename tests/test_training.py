"""python -m training on real photos: merged folders, the roster, URLs, bad files, evaluation,
the command line's output, and hot reload."""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import tarfile
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance

from engine.celebrities import Celebrities
from engine.config import Settings
from engine.engine import Engine
from engine.pipeline import Pipeline
from tests.conftest import encode
from tests.test_datasets import serving
from training import evaluate, people, train
from training.datasets import split

LFW_PEOPLE = ("Colin_Powell", "Hugo_Chavez", "Serena_Williams", "Tony_Blair")


def variants(photo: Image.Image) -> list[bytes]:
    """Three different files of one face: as PNG, mirrored JPEG, smaller and brighter JPEG."""
    small = photo.resize((photo.width * 4 // 5, photo.height * 4 // 5))
    return [
        encode(photo, "PNG"),
        encode(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT), "JPEG", quality=90),
        encode(ImageEnhance.Brightness(small).enhance(1.15), "JPEG", quality=85),
    ]


@pytest.fixture(scope="module")
def generated(tmp_path_factory, astronaut, hopper) -> Path:
    """Two people, three photos each, from the photos our dependencies ship."""
    root = tmp_path_factory.mktemp("generated")
    for name, photo in (("astronaut", astronaut), ("hopper", hopper)):
        (root / name).mkdir()
        for i, data in enumerate(variants(photo)):
            (root / name / f"{i}.img").write_bytes(data)
    return root


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    """One embedding cache for the module: each photo is embedded once across its tests."""
    return tmp_path_factory.mktemp("cache")


def copy_folder(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def run_train(pipeline: Pipeline, cache: Path, out: Path, *args: object) -> int:
    argv = ["--quiet", "--cache-dir", cache, "--out", out, *args]
    return train.main([str(a) for a in argv], pipeline)


def summary(capsys) -> dict:
    return json.loads(capsys.readouterr().out)


ROSTER = """folder,display_name,field,status,well_known,note
Colin_Powell,Colin Powell,politics,in,yes,
Hugo_Chavez,Hugo Chávez,politics,in,no,
Serena_Williams,Serena Williams,sport,in,yes,
Tony_Blair,Tony Blair,politics,in,yes,
Zendaya,Zendaya,film,in,yes,
Taylor_Swift,Taylor Swift,music,in,yes,
Saddam_Hussein,Saddam Hussein,politics,dictator,no,
"""


def test_merged_folders_and_the_roster(lfw, tmp_path, pipeline, cache_dir, capsys) -> None:
    data = tmp_path / "data"
    for name in (*LFW_PEOPLE, "Saddam_Hussein", "Gerhard_Schroeder"):
        (data / name).mkdir(parents=True)
        for photo in sorted((lfw / "images" / name).glob("*.jpg"))[:6]:
            shutil.copy(photo, data / name)
    tight = tmp_path / "tight"
    pins = lfw.parent / "pins"
    if not pins.is_dir():
        pytest.skip(f"needs {pins}")
    for name in ("Zendaya", "Taylor_Swift"):
        shutil.copytree(pins / name, tight / name)
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    out = tmp_path / "models"
    args = ("--data", data, "--tight", tight, "--roster", roster, "--strangers", 5, "--json")
    assert run_train(pipeline, cache_dir, out, *args) == 0
    first = summary(capsys)
    assert first["people"] == 6 and first["templates"] == len(LFW_PEOPLE) * 5 + 2 * 3
    assert first["fields"]["politics"] == 3 and first["fields"]["film"] == 1
    assert first["held_out"]["n"] == 4 and first["held_out"]["top1"] >= 0.75
    assert first["leave_one_out"]["n"] == 6 and first["leave_one_out"]["top1"] >= 0.5
    assert first["roster"]["left_out"]["dictator"] == 1 and first["roster"]["no_row"] == 1
    assert first["aggregate"] in ("max", "top2", "centroid")

    model = Celebrities.load(out / "celebrities", embedder="dlib", dim=128)
    assert model.index_of("Hugo_Chavez") is not None and "Saddam_Hussein" not in model.classes
    assert model.people[model.index_of("Hugo_Chavez")].name == "Hugo Chávez"
    info = json.loads((out / "celebrities.json").read_text())
    assert info["dataset"]["fingerprint"] and info["command"].startswith("python -m training")
    knots = info["score_scale"]["knots"]
    assert [s for s, _ in knots] == sorted(s for s, _ in knots) and knots[-1][1] == 100
    report = json.loads((out / "celebrities.report.json").read_text())
    assert set(report["evaluation"]["aggregates"]) == {"max", "top2", "centroid"}
    for name in (*LFW_PEOPLE, "Zendaya"):
        thumbnail = model.reference_photo(name)
        assert thumbnail is not None and Image.open(thumbnail).size == (160, 160)
    held = (out / "celebrities.held-out.txt").read_text().splitlines()[1:]
    assert len(held) == 4 and all(line.count("/") == 1 for line in held)
    assert not list(out.glob("*.tmp*"))

    # The second run embeds nothing and builds the same gallery.
    assert run_train(pipeline, cache_dir, out, *args) == 0
    second = summary(capsys)
    assert second["embedded"] == 0 and second["held_out"] == first["held_out"]

    argv = ["--model", out / "celebrities", "--data", data, "--json", "--quiet"]
    argv += ["--cache-dir", cache_dir, "--held-out", out / "celebrities.held-out.txt"]
    assert evaluate.main([str(a) for a in argv], pipeline) == 0
    result = summary(capsys)
    assert result["n"] == 4 and result["top1"] == first["held_out"]["top1"]
    assert result["gallery_people"] == 6 and result["per_field"]["politics"]["n"] == 3

    assert people.main(["--model", str(out / "celebrities"), "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 6 and {"name", "display_name", "field"} <= set(rows[0])
    assert {r["display_name"] for r in rows} >= {"Hugo Chávez", "Zendaya"}
    assert people.main(["--model", str(out / "celebrities")]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 6


def test_url_source_from_a_local_server(generated, tmp_path, pipeline, cache_dir, capsys) -> None:
    site = tmp_path / "site"
    site.mkdir()
    with tarfile.open(site / "faces.tar.gz", "w:gz") as archive:
        archive.add(generated, arcname="faces")
    downloads, out = tmp_path / "downloads", tmp_path / "models"
    with serving(site) as base:
        url = f"{base}/faces.tar.gz"
        args = ("--url", url, "--downloads", downloads, "--json")
        assert run_train(pipeline, cache_dir, out, *args) == 0
        assert summary(capsys)["people"] == 2
        assert Celebrities.load(out / "celebrities").classes == ["astronaut", "hopper"]
        gone = ("--url", f"{base}/gone.tar.gz", "--downloads", downloads)
        assert run_train(pipeline, cache_dir, out, *gone) == 2
        err = capsys.readouterr().err
    # The server is gone: a second run reuses the unpacked download.
    assert run_train(pipeline, cache_dir, out, *args) == 0
    assert summary(capsys)["embedded"] == 0
    assert "error: download of" in err and "HTTP 404" in err and "Traceback" not in err


def test_corrupt_and_non_image_files_are_reported(
    generated, tmp_path, pipeline, cache_dir, capsys, caplog
) -> None:
    data = copy_folder(generated, tmp_path / "data")
    good = (data / "hopper" / "1.img").read_bytes()
    (data / "hopper" / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (data / "hopper" / "garbage.jpg").write_bytes(b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4)
    (data / "astronaut" / "notes.jpg").write_text("a text file that says it is a JPEG")
    (data / "astronaut" / "coffee.jpg").write_bytes(encode(Image.new("RGB", (300, 300), "tan")))
    out = tmp_path / "models"
    with caplog.at_level(logging.WARNING):
        assert run_train(pipeline, cache_dir, out, "--data", data, "--json") == 0
    assert summary(capsys)["people"] == 2
    assert "skipped 1 files that are not images" in caplog.text
    assert "skipped 2 unreadable photos: hopper/garbage.jpg, hopper/truncated.jpg" in caplog.text
    assert "skipped 1 photos without a face: astronaut/coffee.jpg" in caplog.text
    report = json.loads((out / "celebrities.report.json").read_text())
    assert report["skipped"]["no_face"] == ["astronaut/coffee.jpg"]


def test_a_class_with_one_photo_trains_with_a_warning(
    generated, tmp_path, pipeline, cache_dir, astronaut, capsys, caplog
) -> None:
    data = copy_folder(generated, tmp_path / "data")
    (data / "Lone_Astronaut").mkdir()
    crop = astronaut.crop((100, 0, 400, 300)).resize((280, 280))
    (data / "Lone_Astronaut" / "only.jpg").write_bytes(encode(crop, "JPEG"))
    out = tmp_path / "models"
    with caplog.at_level(logging.WARNING):
        assert run_train(pipeline, cache_dir, out, "--data", data, "--json") == 0
    result = summary(capsys)
    assert result["people"] == 3 and result["held_out"]["n"] == 2  # the lone photo stays in
    model = Celebrities.load(out / "celebrities")
    assert model.counts[model.index_of("Lone_Astronaut")] == 1
    (top,) = model.predict(model.templates[[model.starts[model.index_of("Lone_Astronaut")]]], 1)
    assert top[0].label == "Lone_Astronaut"


def test_empty_and_one_person_folders_end_in_a_clear_error(
    generated, tmp_path, pipeline, cache_dir, capsys
) -> None:
    cases = {
        "empty": "no photos in",
        "missing": "is not a folder",
        "one person": "need photos of at least two people",
    }
    (tmp_path / "empty").mkdir()
    (tmp_path / "one person").mkdir()
    shutil.copytree(generated / "hopper", tmp_path / "one person" / "hopper")
    for folder, message in cases.items():
        assert run_train(pipeline, cache_dir, tmp_path / "out", "--data", tmp_path / folder) == 2
        err = capsys.readouterr().err
        assert err.splitlines()[-1].startswith("error: ") and message in err
        assert "Traceback" not in err
    assert not (tmp_path / "out").exists()
    with pytest.raises(SystemExit) as exit_:
        train.main(["--data", str(generated), "--val-fraction", "1.5"])
    assert exit_.value.code == 2 and "--val-fraction" in capsys.readouterr().err


def test_evaluate_refuses_a_missing_model_and_unknown_people(
    generated, tmp_path, pipeline, cache_dir, capsys
) -> None:
    argv = ["--model", str(tmp_path / "nothing"), "--data", str(generated), "--quiet"]
    assert evaluate.main(argv, pipeline) == 2
    assert "error: No celebrity model" in capsys.readouterr().err
    out = tmp_path / "models"
    assert run_train(pipeline, cache_dir, out, "--data", generated) == 0
    capsys.readouterr()
    strangers = tmp_path / "strangers"
    shutil.copytree(generated / "hopper", strangers / "Somebody_Else")
    argv = ["--model", str(out / "celebrities"), "--data", str(strangers), "--quiet"]
    assert evaluate.main(argv, pipeline) == 2
    assert "none of the people" in capsys.readouterr().err


def test_progress_is_one_line_a_stage_when_not_on_a_terminal(
    generated, tmp_path, pipeline, capsys
) -> None:
    # Before, tqdm drew its bar with carriage returns into whatever stderr was (a log
    # file, here pytest's capture), and --quiet printed nothing at all until the end.
    cache = tmp_path / "fresh-cache"  # nothing cached: the embedding bar would show
    argv = ["--data", generated, "--out", tmp_path / "m", "--cache-dir", cache]
    assert train.main([str(a) for a in argv], pipeline) == 0
    err = capsys.readouterr().err
    assert "\r" not in err and "embedding" in err and "wrote" in err
    assert train.main([str(a) for a in [*argv, "--quiet"]], pipeline) == 0
    quiet = capsys.readouterr().err.splitlines()
    assert "\r" not in "".join(quiet) and len(quiet) >= 4
    assert any("gallery:" in line for line in quiet) and quiet[-1].endswith("celebrities.json")


def test_a_run_without_out_keeps_the_shipped_model(
    generated, tmp_path, pipeline, cache_dir, capsys, monkeypatch
) -> None:
    # Before, a trial run without --out silently replaced run/models/celebrities.
    monkeypatch.chdir(tmp_path)
    shipped = tmp_path / "run" / "models" / "celebrities.json"
    shipped.parent.mkdir(parents=True)
    shipped.write_text('{"the": "shipped model"}')
    argv = ["--data", str(generated), "--cache-dir", str(cache_dir), "--quiet"]
    assert train.main(argv, pipeline) == 2
    err = capsys.readouterr().err
    assert "already exists" in err and "--out" in err and "--force" in err
    assert shipped.read_text() == '{"the": "shipped model"}'
    assert train.main([*argv, "--force"], pipeline) == 0
    assert Celebrities.load(shipped.with_suffix("")).classes == ["astronaut", "hopper"]


def test_split_is_stratified_and_fixed() -> None:
    labels = ["a"] * 10 + ["b"] * 5 + ["c"] * 2 + ["d"]
    train_rows, val_rows = split(labels, 0.2, seed=0)
    assert sorted(train_rows + val_rows) == list(range(len(labels)))
    held = [labels[i] for i in val_rows]
    assert (held.count("a"), held.count("b"), held.count("c"), held.count("d")) == (2, 1, 1, 0)
    assert split(labels, 0.2, seed=0) == (train_rows, val_rows)
    assert split(labels, 0.2, seed=1) != (train_rows, val_rows)


async def test_a_serving_engine_picks_up_a_newly_trained_model(
    generated, tmp_path, pipeline, cache_dir, hopper_jpg
) -> None:
    out = tmp_path / "models"
    engine = Engine(Settings(model=out / "celebrities", threads=0))
    await engine.start()
    engine.pipeline.models.interval = 0.2  # the mtime check, made quick for the test
    served = []
    first = asyncio.Event()

    async def serve_requests() -> None:
        while not served or not served[-1].model_available:
            served.append(await engine.lookalike(hopper_jpg))
            first.set()

    try:
        requests = asyncio.create_task(serve_requests())
        await first.wait()  # building from cached embeddings takes well under a second
        argv = ["--quiet", "--cache-dir", cache_dir, "--out", out, "--data", generated]
        assert await asyncio.to_thread(train.main, [str(a) for a in argv], pipeline) == 0
        await asyncio.wait_for(requests, timeout=60)
        assert await engine.reload_model()  # the explicit way works as well
        again = await engine.lookalike(hopper_jpg)
    finally:
        await engine.close()
    assert not served[0].model_available  # requests were served before the model existed
    assert all(len(result.faces) == 1 for result in served)
    assert served[-1].faces[0].predictions[0].name == "hopper"
    best, other = again.faces[0].predictions[:2]
    assert best.label == "hopper" and best.score > other.score
