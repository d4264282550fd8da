"""python -m training: build the celebrity gallery (default), evaluate it, list its people,
merge the roster, or calibrate thresholds."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

from engine.process import leave

# Each subcommand is a module with main(argv) -> int; training is the default.
COMMANDS = {
    "train": "training.train",
    "evaluate": "training.evaluate",
    "calibrate": "training.calibrate",
    "people": "training.people",
    "roster": "training.roster",
}


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    name = args.pop(0) if args and args[0] in COMMANDS else "train"
    module = importlib.import_module(COMMANDS[name])
    return int(module.main(args) or 0)


if __name__ == "__main__":
    leave(main())
