"""python -m tests.fakes.discord_launch API_URL GATEWAY_URL: `python -m bot discord` against a fake.

discord.py has no setting for where Discord is; this points it at the fake through the
same two seams as `tests.fakes.discord.pointed_at`, then runs the bot's own entry point.
"""

from __future__ import annotations

import sys

import discord
import yarl

from bot.__main__ import main

if __name__ == "__main__":
    api, gateway = sys.argv[1:3]
    discord.http.Route.BASE = api
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
    sys.exit(main(["discord"]))
