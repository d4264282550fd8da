"""The README's own commands, run exactly as it writes them, from the repository's root."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
