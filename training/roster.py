"""The roster, curated by hand: who may be in the celebrity gallery; read, check, merge.

`python -m training roster PART.csv... [--out run/models/roster.csv]` merges parts (a
later file's row for a folder replaces an earlier one's) into one file sorted by folder.
"""

from __future__ import annotations

import argparse
import collections
import csv
import dataclasses
import io
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from engine.celebrities import FIELDS, Celebrity, atomic_write

log = logging.getLogger(__name__)

COLUMNS = ("folder", "display_name", "field", "status", "well_known", "note")
# Why someone is left out, whatever their photo count (docs/model.md, "The roster").
REASONS = ("crime", "dictator", "victim", "private", "unverified", "duplicate")
STATUSES = ("in", *REASONS)
ROSTER = Path("run/models/roster.csv")
SEED = Path(__file__).with_name("roster-seed.csv")


class RosterError(Exception):
    """A roster file that cannot be used; the message names the file and line."""


@dataclasses.dataclass(frozen=True)
class Entry:
    """One person's row: ``status`` is ``in`` or the reason they are left out."""

    folder: str
    display_name: str
    field: str
    status: str
    well_known: bool
    note: str = ""

    @property
    def included(self) -> bool:
        return self.status == "in"

    def celebrity(self) -> Celebrity:
        return Celebrity(self.folder, self.display_name, self.field, self.well_known)


def parse_row(row: Mapping[str, str | None]) -> Entry:
    """One CSV row as an Entry. Raises ValueError saying what is wrong."""
    values = {k: (row.get(k) or "").strip() for k in COLUMNS}
    if not values["folder"] or not values["display_name"]:
        raise ValueError("folder and display_name must not be empty")
    if values["field"] not in FIELDS:
        raise ValueError(f"field {values['field']!r} is not one of {', '.join(FIELDS)}")
    if values["status"] not in STATUSES:
        raise ValueError(f"status {values['status']!r} is not one of {', '.join(STATUSES)}")
    if values["well_known"] not in ("yes", "no"):
        raise ValueError(f"well_known {values['well_known']!r} is not yes or no")
    if values["well_known"] == "yes" and values["status"] != "in":
        raise ValueError("well_known is yes on a row that is not in")
    return Entry(
        values["folder"],
        values["display_name"],
        values["field"],
        values["status"],
        values["well_known"] == "yes",
        values["note"],
    )


def read(path: Path, *, strict: bool = True) -> dict[str, Entry]:
    """The rows of a roster file by folder.

    Args:
        strict: raise on the first bad row; otherwise log it and skip it (a part still
            being written may end in half a row).

    Raises:
        RosterError: an unreadable file, a wrong header, or (strict) a bad or repeated row.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RosterError(f"cannot read the roster {path}: {exc}") from None
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise RosterError(f"{path}: the header must be {','.join(COLUMNS)}")
    entries: dict[str, Entry] = {}
    for row in reader:
        try:
            entry = parse_row(row)
            if entry.folder in entries:
                raise ValueError(f"a second row for {entry.folder}")
        except ValueError as exc:
            message = f"{path}, line {reader.line_num}: {exc}"
            if strict:
                raise RosterError(message) from None
            log.warning("skipped: %s", message)
            continue
        entries[entry.folder] = entry
    return entries


def merge(paths: Sequence[Path], *, strict: bool = False) -> dict[str, Entry]:
    """The rows of several files; a later file's row for a folder replaces an earlier one's."""
    merged: dict[str, Entry] = {}
    for path in paths:
        merged.update(read(path, strict=strict))
    return merged


def write(path: Path, entries: Iterable[Entry]) -> int:
    """Write the roster sorted by folder, atomically; returns the number of rows."""
    rows = sorted(entries, key=lambda e: e.folder)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for e in rows:
        known = "yes" if e.well_known else "no"
        writer.writerow([e.folder, e.display_name, e.field, e.status, known, e.note])
    atomic_write(path, lambda f: f.write(buffer.getvalue().encode("utf-8")))
    return len(rows)


def counts(entries: Iterable[Entry]) -> dict[str, object]:
    """People in and left out (per reason), and the fields of those in."""
    entries = list(entries)
    included = [e for e in entries if e.included]
    reasons = collections.Counter(e.status for e in entries if not e.included)
    fields = collections.Counter(e.field for e in included)
    return {
        "rows": len(entries),
        "in": len(included),
        "well_known": sum(e.well_known for e in included),
        "left_out": {r: reasons.get(r, 0) for r in REASONS},
        "fields": {f: fields.get(f, 0) for f in FIELDS},
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training roster",
        description="Merge roster parts into one roster file, or check one.",
    )
    parser.add_argument("parts", nargs="+", type=Path, help="CSV files; later ones win")
    parser.add_argument("--out", type=Path, help=f"write the merged roster here (e.g. {ROSTER})")
    parser.add_argument(
        "--strict", action="store_true", help="stop at the first bad row instead of skipping it"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        merged = merge(args.parts, strict=args.strict)
        if args.out is not None:
            write(args.out, merged.values())
    except (RosterError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    summary = counts(merged.values())
    print(
        f"{summary['rows']} rows, {summary['in']} in ({summary['well_known']} well known); "
        + "left out: "
        + ", ".join(f"{k} {v}" for k, v in summary["left_out"].items())  # type: ignore[union-attr]
        + "\nfields of those in: "
        + ", ".join(f"{k} {v}" for k, v in summary["fields"].items())  # type: ignore[union-attr]
        + (f"\nwrote {args.out}" if args.out else "")
    )
    return 0
