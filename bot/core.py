"""Platform-neutral types for the adapters: who, where, what was sent, and what to answer."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from typing import Protocol

from engine.registry import Person


@dataclasses.dataclass(frozen=True)
class Chat:
    """Where a message came from. ``scope`` names it for the registry and the game."""

    platform: str
    id: str
    is_group: bool = False

    @property
    def scope(self) -> str:
        return f"{self.platform}:{self.id}"


@dataclasses.dataclass(frozen=True)
class User:
    """Who sent it. ``language_code`` is the platform's guess ("es-ES"), if any."""

    platform: str
    id: str
    name: str
    language_code: str | None = None

    def person(self, language: str | None = None) -> Person:
        return Person(self.platform, self.id, self.name, language)


@dataclasses.dataclass(frozen=True)
class Upload:
    """A photo a user sent, not downloaded yet: its size and type are checked first.

    Attributes:
        size: bytes, when the platform says.
        content_type: the MIME type, when the platform says.
        fetch: downloads the bytes.
    """

    size: int | None
    content_type: str | None
    fetch: Callable[[], Awaitable[bytes]] = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class Button:
    """An answer the user can press. ``data`` comes back, unchanged, when they do."""

    label: str
    data: str


@dataclasses.dataclass(frozen=True)
class Picture:
    name: str
    data: bytes = dataclasses.field(repr=False)


@dataclasses.dataclass(frozen=True)
class Reply:
    """One message to send.

    Attributes:
        text: plain text, no markup.
        pictures: JPEGs to attach, in order.
        buttons: answers to offer under the message.
        private: only the user should see it, where the platform can do that
            (Discord's ephemeral replies); elsewhere it is an ordinary reply.
        document: a file to attach, as (name, bytes).
    """

    text: str
    pictures: tuple[Picture, ...] = ()
    buttons: tuple[Button, ...] = ()
    private: bool = False
    document: tuple[str, bytes] | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Pressed:
    """The outcome of a button press.

    Attributes:
        notice: a short note for the presser alone (a Telegram toast, a Discord
            ephemeral message), or None.
        replies: messages to send to the chat.
        settled: the question is answered or void: its buttons should go.
    """

    notice: str | None = None
    replies: tuple[Reply, ...] = ()
    settled: bool = False


# What an adapter gives the parts that speak on their own (the game's round end):
# a way to send replies to a chat, and a way to run something later.
Sender = Callable[[Chat, "list[Reply]"], Awaitable[None]]


class Scheduler(Protocol):
    """Runs a coroutine function after a delay; python-telegram-bot's JobQueue, discord.py's
    loop, or the shell's virtual clock stand behind it."""

    def call_later(
        self, delay: float, name: str, callback: Callable[[], Awaitable[None]]
    ) -> None: ...

    def cancel(self, name: str) -> None: ...


class Adapter(Protocol):
    """What bot/app.py needs of each platform's adapter."""

    platform: str
    scheduler: Scheduler

    async def send(self, chat: Chat, replies: list[Reply]) -> None: ...

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class Plugin(Protocol):
    """A feature that speaks on its own (the game): told about each adapter before it runs."""

    async def attach(self, platform: str, send: Sender, scheduler: Scheduler) -> None: ...
