"""The README's own commands, run exactly as it writes them, from the repository's root."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "datasets" / "lfw"


def run(command: str, stdin: str = "", cwd: Path = ROOT, timeout: float = 300) -> str:
    done = subprocess.run(
        command, shell=True, cwd=cwd, input=stdin, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_training_people_lists_the_shipped_gallery() -> None:
    lines = run(".venv/bin/python -m training people --model run/models/celebrities --json")
    people = [json.loads(line) for line in lines.splitlines()]
    assert len(people) >= 1000
    by_name = {p["name"]: p for p in people}
    assert by_name["Jose_Maria_Aznar"]["display_name"] == "José María Aznar"
    assert by_name["Zendaya"]["field"] == "film"
    assert "John_Allen_Muhammad" not in by_name and "Saddam_Hussein" not in by_name


def test_the_json_shell_answers_help() -> None:
    out = run(".venv/bin/python -m bot shell --json", stdin="/help\n")
    (reply,) = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert "/lookalike" in reply["text"] and "/fields" in reply["text"]


def readme_command(start: str) -> str:
    """The README's command that begins with ``start``, its continuation lines included."""
    lines = (ROOT / "README.md").read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(start))
    command = [lines[first]]
    while command[-1].endswith("\\"):
        command.append(lines[first + len(command)])
    return "\n".join(command)


@pytest.mark.skipif(not LFW.is_dir(), reason="needs ../shared/datasets/lfw")
def test_training_evaluate_gives_the_readmes_held_out_figures() -> None:
    """About 2 minutes with an empty embedding cache: 576 held-out LFW photos."""
    command = readme_command(".venv/bin/python -m training evaluate")
    result = json.loads(run(command))
    assert result["photos"] == 576 and result["gallery_people"] >= 1000
    readme = (ROOT / "README.md").read_text()
    assert f"**{result['top1']:.2%}** | **{result['top5']:.2%}**" in readme, result


def scratch_copy(tmp_path: Path, shared: Path = ROOT.parent / "shared") -> Path:
    """A copy of the repository to run a README command that rewrites tracked files in:
    the code and the virtual environment linked, run/models copied, the embedding
    cache shared, and ``shared`` beside it as ../shared."""
    scratch = tmp_path / "lookalike"
    (scratch / "run").mkdir(parents=True)
    (ROOT / "run" / "cache").mkdir(exist_ok=True)
    for name in (".venv", "engine", "training", "run/cache"):
        (scratch / name).symlink_to(ROOT / name)
    shutil.copytree(ROOT / "run" / "models", scratch / "run" / "models")
    (tmp_path / "shared").symlink_to(shared)
    return scratch


def test_the_roster_check_counts_what_the_readme_says() -> None:
    out = run(readme_command(".venv/bin/python -m training roster run/models/roster.csv  "))
    rows = re.search(r"(\d+) rows, (\d+) in", out).group(1, 2)  # type: ignore[union-attr]
    left_out = re.search(r"left out: (.*)", out).group(1)  # type: ignore[union-attr]
    readme = " ".join((ROOT / "README.md").read_text().split())
    said = f"Of its {int(rows[0]):,} rows, {int(rows[1]):,} are in; left out: {left_out}."
    assert said in readme, out


def test_the_roster_merge_adds_and_replaces_rows(tmp_path: Path) -> None:
    """Run as written in a scratch copy of the repository, so run/models stays as it is."""
    command = readme_command(".venv/bin/python -m training roster run/models/roster.csv additions")
    scratch = scratch_copy(tmp_path)
    (scratch / "additions.csv").write_text(
        "folder,display_name,field,status,well_known,note\n"
        "Zendaya,Zendaya Coleman,film,in,yes,\n"
        "Someone_New,Someone Née,music,in,no,a new row\n"
    )
    run(command, cwd=scratch)
    with (scratch / "run" / "models" / "roster.csv").open(newline="") as handle:
        merged = {row["folder"]: row for row in csv.DictReader(handle)}
    with (ROOT / "run" / "models" / "roster.csv").open(newline="") as handle:
        shipped = {row["folder"]: row for row in csv.DictReader(handle)}
    assert len(merged) == len(shipped) + 1
    assert merged["Zendaya"]["display_name"] == "Zendaya Coleman"
    assert merged["Someone_New"]["display_name"] == "Someone Née"
    assert list(merged) == sorted(merged)
    assert {k: v for k, v in merged.items() if k not in ("Zendaya", "Someone_New")} == {
        k: v for k, v in shipped.items() if k != "Zendaya"
    }


@pytest.mark.skipif(not LFW.is_dir(), reason="needs ../shared/datasets/lfw")
def test_training_calibrate_remakes_the_shipped_calibration(tmp_path: Path) -> None:
    """About 2 minutes with an empty embedding cache: 3,068 photos of pairsDevTrain.txt."""
    scratch = scratch_copy(tmp_path)
    command = readme_command(".venv/bin/python -m training calibrate")
    run(command, cwd=scratch, timeout=900)
    remade = json.loads((scratch / "run" / "models" / "calibration.json").read_text())["dlib"]
    shipped = json.loads((ROOT / "run" / "models" / "calibration.json").read_text())["dlib"]
    for key in ("n_pairs", "dropped_pairs", "threshold", "tar", "eer", "accuracy", "aggregate"):
        assert remade[key] == shipped[key], key
    assert (scratch / "run" / "models" / "calibration-roc.png").stat().st_size > 10_000
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"0.1% false-accept rate ({remade['threshold']:.4f})" in readme
    assert f"equal error rate ({remade['eer']:.2%})" in readme


# A few people of each kind, for the gallery's build command as the README writes it:
# LFW people to hold photos out of, one with a single photo, two tight Pins crops, and
# two people the roster keeps out (a crime and a dictator), who may only be strangers.
FEW_LFW = {"Tony_Blair": 10, "Serena_Williams": 10, "Aaron_Eckhart": 1}
FEW_PINS = {"Adriana_Lima": 5, "Alex_Lawther": 5}
FEW_OUT = {"John_Allen_Muhammad": 3, "Saddam_Hussein": 5}


def few_datasets(root: Path) -> Path:
    """A ``shared`` folder whose datasets hold a few of the real ones' photos (linked)."""
    source = ROOT.parent / "shared" / "datasets"
    for folder, people in (("lfw/images", FEW_LFW | FEW_OUT), ("pins", FEW_PINS)):
        for person, count in people.items():
            (root / "datasets" / folder / person).mkdir(parents=True)
            for photo in sorted((source / folder / person).iterdir())[:count]:
                (root / "datasets" / folder / person / photo.name).symlink_to(photo)
    (root / "datasets" / "lfw" / "people-10.txt").write_text("Tony_Blair\nSerena_Williams\n")
    return root


@pytest.mark.skipif(not LFW.is_dir(), reason="needs ../shared/datasets/lfw")
def test_the_gallerys_build_command_builds_one_from_a_few_people(tmp_path: Path) -> None:
    """The README's build command, run as written beside a ../shared of 39 real photos (the
    whole datasets take about 18 minutes), then its evaluate and people commands on it."""
    scratch = scratch_copy(tmp_path, few_datasets(tmp_path / "few"))
    models = scratch / "run" / "models"
    run(readme_command(".venv/bin/python -m training --out run/models"), cwd=scratch)
    built = json.loads((models / "celebrities.json").read_text())
    assert built["dataset"]["strangers"] == len(FEW_OUT)
    left_out = built["metrics"]["roster"]["left_out"]
    assert left_out["crime"] == left_out["dictator"] == 1
    people = run(readme_command(".venv/bin/python -m training people"), cwd=scratch)
    names = {json.loads(line)["name"] for line in people.splitlines()}
    assert names == set(FEW_LFW) | set(FEW_PINS), built
    held = [p for p in (models / "celebrities.held-out.txt").read_text().splitlines() if "/" in p]
    assert {p.split("/")[0] for p in held} == {"Tony_Blair", "Serena_Williams"}
    result = json.loads(run(readme_command(".venv/bin/python -m training evaluate"), cwd=scratch))
    assert result["photos"] == len(held) == 4 and result["gallery_people"] == 5
    assert result["top1"] == 1.0, result
    assert {p.stem for p in (models / "celebrities.gallery").iterdir()} == names
