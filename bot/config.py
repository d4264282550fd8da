"""The bots' settings: tokens, servers, limits and admins, from the environment and .env."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from engine.config import Settings, load, setting


@dataclasses.dataclass(frozen=True)
class BotSettings:
    """What the adapters need to know. Secrets here are never logged or echoed."""

    telegram_token: str = setting(
        "TELEGRAM_TOKEN", "", "Telegram bot token from @BotFather. Empty: no Telegram."
    )
    telegram_base_url: str = setting(
        "TELEGRAM_BASE_URL",
        "https://api.telegram.org/bot",
        "Bot API server (python-telegram-bot's base_url), e.g. a local Bot API server.",
    )
    telegram_base_file_url: str = setting(
        "TELEGRAM_BASE_FILE_URL",
        "https://api.telegram.org/file/bot",
        "Bot API file server (python-telegram-bot's base_file_url).",
    )
    telegram_webhook_url: str = setting(
        "TELEGRAM_WEBHOOK_URL",
        "",
        "Public HTTPS URL for webhook mode. Empty: long polling, which needs no public address.",
    )
    telegram_webhook_port: int = setting(
        "TELEGRAM_WEBHOOK_PORT",
        8443,
        "Local port the webhook server listens on; it serves the path of TELEGRAM_WEBHOOK_URL.",
    )
    telegram_webhook_listen: str = setting(
        "TELEGRAM_WEBHOOK_LISTEN",
        "0.0.0.0",
        "Local address the webhook server listens on (127.0.0.1: only a proxy on this machine).",
    )
    telegram_webhook_secret: str = setting(
        "TELEGRAM_WEBHOOK_SECRET",
        "",
        "Secret Telegram sends with every webhook call (1-256 of A-Z a-z 0-9 _ -); calls "
        "without it are refused. Empty: none, which lets anyone who finds the URL post updates.",
    )
    telegram_webhook_connections: int = setting(
        "TELEGRAM_WEBHOOK_CONNECTIONS",
        40,
        "Webhook connections Telegram may open at once (1-100), across every replica.",
    )
    telegram_timeout: float = setting(
        "TELEGRAM_TIMEOUT", 30.0, "Seconds to wait for the Bot API before retrying a request."
    )
    discord_token: str = setting("DISCORD_TOKEN", "", "Discord bot token. Empty: no Discord.")
    discord_shard_count: int = setting(
        "DISCORD_SHARD_COUNT",
        0,
        "Gateway shards for the whole bot (Discord requires one per 2,500 servers). "
        "0: one process asks Discord how many and runs them all.",
    )
    discord_shard_ids: tuple[str, ...] = setting(
        "DISCORD_SHARD_IDS",
        (),
        "The shards this process runs, comma-separated, or a range (0-3); each process of the "
        "bot runs its own. Empty: all of DISCORD_SHARD_COUNT.",
    )
    discord_guild_id: int = setting(
        "DISCORD_GUILD_ID",
        0,
        "Sync slash commands to this server only (instant, for development). 0: globally.",
    )
    discord_message_content: bool = setting(
        "DISCORD_MESSAGE_CONTENT",
        False,
        "Ask Discord for the privileged message content intent (photos sent without a command).",
    )
    admin_ids: tuple[str, ...] = setting(
        "ADMIN_IDS",
        (),
        "Admins, comma-separated: a user id on any platform, or platform:id (telegram:123).",
    )
    rate_limit_photos: int = setting(
        "RATE_LIMIT_PHOTOS", 10, "Photos one user may send per RATE_LIMIT_SECONDS."
    )
    rate_limit_seconds: int = setting("RATE_LIMIT_SECONDS", 60, "The rate limit's window.")
    rate_limit_work_seconds: float = setting(
        "RATE_LIMIT_WORK_SECONDS",
        30.0,
        "Seconds of the model worker's time one user's photos may take per RATE_LIMIT_SECONDS "
        "(a photo of a crowd costs many selfies).",
    )
    consent_timeout: int = setting(
        "CONSENT_TIMEOUT", 300, "Seconds a consent question or a wait for a photo stays open."
    )
    game_round_seconds: int = setting(
        "GAME_ROUND_SECONDS", 60, "How long a lookalike game round takes photos."
    )
    game_takeover_seconds: float = setting(
        "GAME_TAKEOVER_SECONDS",
        10.0,
        "A round whose end is this many seconds past and still not announced (the process "
        "that started it stopped) is ended by whichever process of the bot finds it first.",
    )
    game_min_players: int = setting(
        "GAME_MIN_PLAYERS", 2, "Players a round needs for a winner to be declared."
    )
    shell_out: Path | None = setting(
        "SHELL_OUT",
        None,
        "Where the local shell keeps the pictures it replies with, a folder per run. Empty: "
        "a temporary folder, deleted when the shell ends.",
    )
    log_level: str = setting("LOG_LEVEL", "INFO", "Logging level: DEBUG, INFO, WARNING or ERROR.")
    log_file: Path | None = setting(
        "LOG_FILE",
        None,
        "Write the log to this file. Empty: standard error, except for the interactive shell, "
        "which logs to run/logs/shell.log so that log lines stay out of the conversation.",
    )

    @classmethod
    def from_env(cls, env=None, dotenv=None) -> BotSettings:
        return load(cls, env, dotenv)

    def is_admin(self, platform: str, user_id: str) -> bool:
        return user_id in self.admin_ids or f"{platform}:{user_id}" in self.admin_ids


SECTIONS: dict[str, type] = {"engine": Settings, "bot": BotSettings}
