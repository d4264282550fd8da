"""training.roster and the shipped roster: rows checked, parts merged, every gallery person in."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.celebrities import FIELDS, Celebrities
from tests.conftest import ROOT
from training import roster

HEADER = "folder,display_name,field,status,well_known,note\n"
MODELS = ROOT / "run" / "models"


def write(path: Path, *rows: str) -> Path:
    path.write_text(HEADER + "".join(row + "\n" for row in rows), encoding="utf-8")
    return path


def test_rows_are_checked(tmp_path) -> None:
    good = write(tmp_path / "good.csv", 'Jose_Maria_Aznar,José María Aznar,politics,in,no,""')
    (entry,) = roster.read(good).values()
    assert entry.display_name == "José María Aznar" and entry.included and not entry.well_known
    bad = {
        "Someone,Someone,cooking,in,no,": "field 'cooking'",
        "Someone,Someone,film,famous,no,": "status 'famous'",
        "Someone,Someone,film,in,maybe,": "well_known 'maybe'",
        "Someone,Someone,film,crime,yes,": "well_known is yes on a row that is not in",
        ",Someone,film,in,no,": "must not be empty",
    }
    for row, message in bad.items():
        with pytest.raises(roster.RosterError, match=message):
            roster.read(write(tmp_path / "bad.csv", row))
        assert roster.read(tmp_path / "bad.csv", strict=False) == {}  # skipped, not fatal
    twice = write(tmp_path / "twice.csv", "A,A,film,in,no,", "A,A,film,in,no,")
    with pytest.raises(roster.RosterError, match="line 3: a second row for A"):
        roster.read(twice)
    (tmp_path / "header.csv").write_text("folder,name\nA,A\n")
    with pytest.raises(roster.RosterError, match="header"):
        roster.read(tmp_path / "header.csv")


def test_parts_merge_sorted_and_later_parts_win(tmp_path, capsys) -> None:
    seed = write(
        tmp_path / "seed.csv", "Zendaya,Zendaya,film,in,yes,", "Bill_Gates,Bill,other,in,no,"
    )
    part = write(
        tmp_path / "part.csv",
        "Bill_Gates,Bill Gates,business,in,yes,",
        "Saddam_Hussein,Saddam Hussein,politics,dictator,no,",
        "Half,Hal",  # a part still being written ends in half a row
    )
    out = tmp_path / "roster.csv"
    assert roster.main([str(seed), str(part), "--out", str(out)]) == 0
    assert "3 rows, 2 in (2 well known)" in capsys.readouterr().out
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER.strip() and [line.split(",")[0] for line in lines[1:]] == [
        "Bill_Gates",
        "Saddam_Hussein",
        "Zendaya",
    ]
    merged = roster.read(out)
    assert merged["Bill_Gates"].field == "business"
    counts = roster.counts(merged.values())
    assert counts["left_out"]["dictator"] == 1 and counts["fields"]["film"] == 1
    assert roster.main([str(part), "--strict"]) == 2


def test_every_person_in_the_shipped_gallery_is_rostered_in() -> None:
    entries = roster.read(MODELS / "roster.csv")  # strict: the shipped file has no bad row
    model = Celebrities.load(MODELS / "celebrities")
    assert len(model.people) > 100
    for person in model.people:
        entry = entries.get(person.label)
        assert entry is not None, f"{person.label} has no roster row"
        assert entry.status == "in" and entry.field in FIELDS, person.label
        assert (person.name, person.field, person.well_known) == (
            entry.display_name,
            entry.field,
            entry.well_known,
        )
    info = json.loads((MODELS / "celebrities.json").read_text())
    assert info["format_version"] == 2 and info["embedder"]["name"] == "dlib"
