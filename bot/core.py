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
    """Who sent it. ``language_code`` is the platform's guess ("es-ES"), if any.

    ``anonymous``: the platform hides who the sender is (a Telegram group admin posting
    as the group, or a message sent as a channel). Such a sender gets an identity of
    its own in that chat only, and the commands that need a person's own account are
    refused to it.
    """

    platform: str
    id: str
    name: str
    language_code: str | None = None
    anonymous: bool = False

    def person(self, language: str | None = None) -> Person:
        return Person(self.platform, self.id, self.name, language)


@dataclasses.dataclass(frozen=True)
class Upload:
    """A photo a user sent, not downloaded yet: its size and type are checked first.

    Attributes:
        size: bytes, when the platform says.
        content_type: the MIME type, when the platform says.
        fetch: downloads the bytes.
        sender: the id of the user who sent the photo (a command may be a reply to
            someone else's photo); None when the platform cannot tell.
        ref: the platform's lasting reference to the file (Telegram's file_id), from
            which another process can fetch it; None when there is none.
    """

    size: int | None
    content_type: str | None
    fetch: Callable[[], Awaitable[bytes]] = dataclasses.field(repr=False, compare=False)
    sender: str | None = None
    ref: str | None = None


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
        ephemeral: only the user need see it: hidden from the others where the platform
            can (Discord's ephemeral replies), an ordinary reply elsewhere.
        private: only the user may see it (their data): never posted to a group. An
            adapter sends it to the user directly, or says in the group where to ask.
        document: a file to attach, as (name, bytes).
    """

    text: str
    pictures: tuple[Picture, ...] = ()
    buttons: tuple[Button, ...] = ()
    ephemeral: bool = False
    private: bool = False
    document: tuple[str, bytes] | None = dataclasses.field(default=None, repr=False)

    @property
    def hidden(self) -> bool:
        """Whether the platform should hide it from the rest of the chat if it can."""
        return self.ephemeral or self.private


class Refused(list):
    """Replies that refuse a photo (no face, several, too fast...): a question that asked
    for the photo stays open, so the user's next photo still answers it.

    ``asks_again``: the replies already ask for another photo."""

    def __init__(self, replies: list[Reply], *, asks_again: bool = False) -> None:
        super().__init__(replies)
        self.asks_again = asks_again

    refused = True


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
    loop, or the shell's clock stand behind it."""

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
