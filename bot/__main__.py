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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    parser.add_argument(
        "platforms",
        nargs="*",
        choices=PLATFORMS,
        metavar="PLATFORM",
        help="telegram, discord or shell (default: each platform with a token)",
    )
    parser.add_argument("--json", action="store_true", help="shell: one JSON object per reply")
    parser.add_argument("--out", type=Path, help="shell: folder for reply pictures (SHELL_OUT)")
    args = parser.parse_args(argv)
    try:
        settings = BotSettings.from_env()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    platforms, why = choose(args.platforms, settings)
    if why:
        print(why, file=sys.stderr)
    for name, token in (("telegram", settings.telegram_token), ("discord", settings.discord_token)):
        if name in platforms and not token:
            print(f"error: {name.upper()}_TOKEN is not set", file=sys.stderr)
            return 2
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run(platforms, bot_settings=settings, shell_json=args.json, shell_out=args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
