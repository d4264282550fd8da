"""The command table's types: what a command takes, who may use it, and what it says.

Every adapter reads the one table the Conversation owns: Telegram's command menu,
Discord's slash commands, the shell's parsing and /help are all made from it, so a
new command is one `Command` in that table (or one `Conversation.add_command` call).
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Awaitable, Callable, Mapping

from bot import replies
from bot.core import Chat, Reply, Upload, User


class Photo(enum.Enum):
    """Whether a command takes a photo: one it cannot do without (asked for when missing),
    one it can use, or none."""

    NONE = "none"
    OPTIONAL = "optional"
    REQUIRED = "required"


@dataclasses.dataclass(frozen=True)
class Choice:
    """One allowed value of a choice argument, and how menus label it."""

    value: str
    label: str


@dataclasses.dataclass(frozen=True)
class Argument:
    """A command's argument: free text, or one of ``choices`` when there are any.

    Attributes:
        name: the option's name where platforms show one (Discord).
        description: what to put there, by language.
        choices: the allowed values; empty for free text. A value outside them still
            reaches the handler (typed on Telegram or in the shell), which answers it.
    """

    name: str
    description: Mapping[str, str]
    choices: tuple[Choice, ...] = ()


@dataclasses.dataclass(frozen=True)
class Request:
    """One command or photo, as every handler gets it.

    Attributes:
        lang: the reply language, looked up once per event.
        args: the command's argument text, stripped ("" for none).
        upload: the photo sent with it, or replied to, if any.
        private_ok: the platform can answer this event so that only the user sees it
            (a Discord interaction); elsewhere a group sees every reply.
    """

    chat: Chat
    user: User
    lang: str
    args: str = ""
    upload: Upload | None = None
    private_ok: bool = False

    def t(self, key: str, **values: object) -> str:
        """The text ``key`` in the request's language."""
        return replies.t(self.lang, key, **values)


Handler = Callable[[Request], Awaitable[list[Reply]]]


@dataclasses.dataclass(frozen=True)
class Command:
    """A command and everything an adapter needs to offer it.

    Attributes:
        name: what users type after the slash, lower case.
        handler: gets a `Request`, returns the replies.
        description: one line per language, for menus and /help.
        photo: whether it takes a photo.
        argument: its argument, if any.
        hidden: left out of menus and /help (Telegram's /start).
        admin: for the ids in ADMIN_IDS only; not listed in /help.
        private_only: answers hold the user's own data, so in a group they are refused
            with a pointer to a private chat, unless the platform can answer privately.
        personal: needs the user's own account: refused to anonymous senders.
    """

    name: str
    handler: Handler
    description: Mapping[str, str]
    photo: Photo = Photo.NONE
    argument: Argument | None = None
    hidden: bool = False
    admin: bool = False
    private_only: bool = False
    personal: bool = False

    def describe(self, lang: str) -> str:
        return self.description.get(lang) or self.description[replies.DEFAULT]

    @property
    def listed(self) -> bool:
        """Shown in menus and /help."""
        return not self.hidden and not self.admin


def help_lines(commands: Mapping[str, Command], lang: str) -> str:
    """The /help list: one "/name – description" line per listed command."""
    return "\n".join(f"/{c.name} – {c.describe(lang)}" for c in commands.values() if c.listed)
