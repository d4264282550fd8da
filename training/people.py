"""python -m training people --model run/models/NAME [--json]: the gallery's people, one a line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.celebrities import FIELDS, Celebrities
from engine.errors import ModelUnavailable
from engine.process import reader_may_leave


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m training people", description="List the people of a celebrity gallery."
    )
    parser.add_argument("--model", type=Path, required=True, help="run/models/NAME")
    parser.add_argument("--field", choices=FIELDS, action="append", help="only these fields")
    parser.add_argument("--json", action="store_true", help="one JSON object a line")
    args = parser.parse_args(argv)
    try:
        model = Celebrities.load(args.model)
    except ModelUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with reader_may_leave():
        show(model, args)
    return 0


def show(model: Celebrities, args: argparse.Namespace) -> None:
    for person, templates in zip(model.people, model.counts, strict=True):
        if args.field and person.field not in args.field:
            continue
        if args.json:
            row = {
                "name": person.label,
                "display_name": person.name,
                "field": person.field,
                "well_known": person.well_known,
                "templates": int(templates),
            }
            print(json.dumps(row, ensure_ascii=False))
        else:
            known = "  well known" if person.well_known else ""
            photos = f"{templates} photo" + ("s" if templates != 1 else "")
            print(f"{person.label}\t{person.name}\t{person.field}\t{photos}{known}")
