"""The README's own commands, run exactly as it writes them, from the repository's root."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LFW = ROOT.parent / "shared" / "datasets" / "lfw"


def run(command: str, stdin: str = "") -> str:
    done = subprocess.run(
        command, shell=True, cwd=ROOT, input=stdin, capture_output=True, text=True, timeout=300
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
