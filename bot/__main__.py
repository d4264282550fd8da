"""python -m bot [telegram|discord|shell]...: run the bot (default: each platform with a token)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.app import PLATFORMS, choose, configure_logging, run
from bot.config import BotSettings
from engine.process import leave

SHELL_LOG = Path("run/logs/shell.log")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    # No `choices=` here: argparse (3.11, 3.12) checks an empty nargs="*" list against
    # them and refuses the no-argument form, the one `make run` uses.
    parser.add_argument(
        "platforms",
        nargs="*",
        metavar="PLATFORM",
        help="telegram, discord or shell (default: each platform with a token)",
    )
    parser.add_argument("--json", action="store_true", help="shell: one JSON object per reply")
    parser.add_argument("--out", type=Path, help="shell: folder for reply pictures (SHELL_OUT)")
    args = parser.parse_args(argv)
    unknown = [p for p in args.platforms if p not in PLATFORMS]
    if unknown:
        parser.error(f"unknown platform {unknown[0]!r}; choose from {', '.join(PLATFORMS)}")
    try:
        settings = BotSettings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    platforms, why = choose(args.platforms, settings)
    log_file = None
    if platforms == ["shell"] and sys.stdin.isatty() and settings.log_file is None:
        log_file = SHELL_LOG  # log lines would interleave with the conversation
    configure_logging(settings, log_file)
    if why:
        print(why, file=sys.stderr)
    if log_file is not None:
        print(f"The log goes to {log_file}.", file=sys.stderr)
    for name, token in (("telegram", settings.telegram_token), ("discord", settings.discord_token)):
        if name in platforms and not token:
            print(f"error: {name.upper()}_TOKEN is not set", file=sys.stderr)
            return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(platforms, bot_settings=settings, shell_json=args.json, shell_out=args.out))
    return 0


if __name__ == "__main__":
    leave(main())
