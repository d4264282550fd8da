"""Builds the settings, one Engine and one Conversation, and runs the chosen adapters together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Adapter, Plugin
from bot.game import GameController
from engine.config import Settings
from engine.engine import Engine

log = logging.getLogger(__name__)

PLATFORMS = ("telegram", "discord", "shell")


def redact_secrets(secrets: Sequence[str]) -> None:
    """Make every log record, from any library and for any handler, carry "[token]"
    where a secret would be: HTTP libraries log request URLs, and Telegram's carry the
    bot token; their errors quote those URLs too."""
    # Also as URLs spell them: Telegram tokens hold a colon, which becomes %3A.
    secrets = sorted({form for s in secrets if s for form in (s, quote(s, safe=""))}, key=len)[::-1]
    if not secrets:
        return
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def scrub(text: str) -> str:
        for secret in secrets:
            text = text.replace(secret, "[token]")
        return text

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # a malformed call: leave it for logging to report
            return record
        # Always frozen as text: arguments are references, and a library may put a
        # token into them after logging (python-telegram-bot completes file URLs).
        record.msg, record.args = scrub(message), None
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = scrub(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)


# Libraries whose DEBUG records hold whole messages (names, captions, file ids), or
# request URLs with the token: they never log below INFO, whatever LOG_LEVEL says.
CHATTY = ("telegram", "discord", "httpcore", "aiohttp", "hpack", "asyncio")


def configure_logging(settings: BotSettings, log_file: Path | None = None) -> None:
    """Logging at LOG_LEVEL, to ``log_file`` (else LOG_FILE, else standard error)."""
    log_file = log_file or settings.log_file
    handlers: list[logging.Handler] | None = None
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handlers = [logging.FileHandler(log_file, encoding="utf-8")]
    level = logging.getLevelName(settings.log_level.upper())
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=handlers,
        force=True,
    )
    redact_secrets([settings.telegram_token, settings.discord_token])
    for name in CHATTY:
        logging.getLogger(name).setLevel(max(logging.INFO, level))
    # httpx logs every request at INFO, each with the token in its URL.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def choose(requested: Sequence[str], settings: BotSettings) -> tuple[list[str], str | None]:
    """The platforms to run, and a line saying why when it is the shell by default."""
    if requested:
        return list(dict.fromkeys(requested)), None
    chosen = [
        name
        for name, token in (
            ("telegram", settings.telegram_token),
            ("discord", settings.discord_token),
        )
        if token
    ]
    if chosen:
        return chosen, None
    return ["shell"], "No TELEGRAM_TOKEN or DISCORD_TOKEN is set, so here is the local shell."


async def run(
    platforms: Sequence[str],
    *,
    settings: Settings | None = None,
    bot_settings: BotSettings | None = None,
    shell_json: bool = False,
    shell_out: Path | None = None,
    retention_every: float = 24 * 3600,
) -> None:
    """Start one Engine, then every adapter in ``platforms`` in this event loop, until
    they all stop (the shell at the end of its input, the others on SIGTERM) or the
    process is interrupted. Stale registrations are expired every ``retention_every``
    seconds, besides at start-up."""
    bot_settings = bot_settings or BotSettings.from_env()
    engine = Engine(settings)
    await engine.start()
    clock = None
    if list(platforms) == ["shell"]:  # /wait moves the shell's clock, and timers with it
        from bot.shell import ShellClock

        clock = ShellClock()
    # Off the shell, other processes of the bot may share the database: what a user may
    # still ask, and what they were asked, live there.
    conversation = Conversation(
        engine, bot_settings, clock=clock.time if clock else None, shared=clock is None
    )
    adapters = [
        make_adapter(name, conversation, bot_settings, clock, shell_json, shell_out)
        for name in platforms
    ]
    game = GameController(conversation, bot_settings, clock=clock.wall if clock else None)
    plugins: list[Plugin] = [game]  # features that speak on their own attach to every adapter
    loop = asyncio.get_running_loop()
    # A service manager's stop (SIGTERM): each adapter finishes what it is sending.
    # Ctrl-C (SIGINT) cancels everything instead, which also stops them cleanly.
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, lambda: [a.stop() for a in adapters])
    expiry = asyncio.create_task(expire_every(engine, retention_every), name="lookalike-retention")
    sweeper = None
    if clock is None:  # the shell's clock moves by hand; its timers are its own
        every = max(1.0, bot_settings.game_takeover_seconds / 2)
        sweeper = asyncio.create_task(sweep_every(game, every), name="lookalike-game-takeover")
    try:
        for plugin in plugins:
            for adapter in adapters:
                await plugin.attach(adapter.platform, adapter.send, adapter.scheduler)
        await asyncio.gather(*(adapter.run() for adapter in adapters))
    finally:
        expiry.cancel()
        if sweeper is not None:
            sweeper.cancel()
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
        await engine.close()


async def expire_every(engine: Engine, seconds: float) -> None:
    """Delete stale registrations every ``seconds`` (Engine.start did it at start-up)."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await engine.expire()
        except Exception:  # a locked database today is no reason to stop tomorrow's run
            log.exception("could not expire stale registrations")


async def sweep_every(game: GameController, seconds: float) -> None:
    """End, every ``seconds``, the game rounds another process of the bot left unended."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await game.sweep()
        except Exception:  # the next sweep tries again
            log.exception("could not look for unended game rounds")


def make_adapter(
    name: str,
    conversation: Conversation,
    settings: BotSettings,
    clock: object,
    shell_json: bool,
    shell_out: Path | None,
) -> Adapter:
    """The adapter for a platform; each platform's library is imported only when used."""
    if name == "telegram":
        from bot.telegram_bot import TelegramAdapter

        return TelegramAdapter(conversation, settings)
    if name == "discord":
        from bot.discord_bot import DiscordAdapter

        return DiscordAdapter(conversation, settings)
    if name == "shell":
        from bot.shell import Shell, ShellClock

        return Shell(
            conversation,
            shell_out or settings.shell_out,
            as_json=shell_json,
            clock=clock if isinstance(clock, ShellClock) else None,
        )
    raise ValueError(f"unknown platform {name!r}; choose from {', '.join(PLATFORMS)}")
