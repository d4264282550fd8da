"""The house rules that code review alone would miss: who may import and reach what,
and what the logs may hold."""

from __future__ import annotations

import ast
import logging
from pathlib import Path

from bot.app import configure_logging
from bot.config import BotSettings

ROOT = Path(__file__).resolve().parent.parent
# What lies behind the Engine's façade: the bot reaches none of it.
INSIDE = ("pipeline", "db", "registry", "classifier", "_executor", "_chats", "_limits")


def modules(package: str) -> dict[Path, ast.Module]:
    return {p: ast.parse(p.read_text(encoding="utf-8")) for p in (ROOT / package).rglob("*.py")}


def imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_the_bot_uses_only_the_engines_public_methods() -> None:
    reached = [
        f"{path.name}:{node.lineno} .{node.attr}"
        for path, tree in modules("bot").items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in INSIDE
        and isinstance(node.value, ast.Attribute | ast.Name)
        and (node.value.attr if isinstance(node.value, ast.Attribute) else node.value.id)
        == "engine"
    ]
    assert reached == []


def test_arrows_point_inward() -> None:
    for path, tree in modules("engine").items():
        outward = {
            name
            for name in imported(tree)
            if name.split(".")[0] in ("bot", "training", "telegram", "discord")
        }
        assert not outward, f"{path.name} imports {outward}"


def test_debug_logging_keeps_the_platforms_messages_out(tmp_path: Path) -> None:
    try:
        configure_logging(BotSettings(log_level="DEBUG"), tmp_path / "bot.log")
        assert logging.getLogger("bot").isEnabledFor(logging.DEBUG)
        for name in ("telegram.ext.Application", "discord.gateway", "httpcore.http11"):
            assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
    finally:
        logging.basicConfig(level=logging.WARNING, force=True)
