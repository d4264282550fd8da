"""Discord messages and slash commands from the platform-neutral replies and command table."""

from __future__ import annotations

import dataclasses
import inspect
import io
import re
from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from bot.commands import Command, Photo
from bot.core import Button, Reply
from bot.delivery import chunks, split_text

TEXT_LIMIT = 2000  # characters in one Discord message
FILES_LIMIT = 10  # attachments in one message
BUTTON_PREFIX = "lookalike:"


# --- replies out -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outgoing:
    """One Discord message: a Reply is one, or several when its text or files don't fit."""

    content: str
    files: tuple[tuple[str, bytes], ...] = dataclasses.field(default=(), repr=False)
    buttons: tuple[Button, ...] = ()
    hidden: bool = False

    def kwargs(self) -> dict[str, Any]:
        """Arguments for channel.send, response.send_message and followup.send.

        Files are made anew each time: discord.File is a stream, read once.
        """
        kwargs: dict[str, Any] = {"content": self.content or None}
        if self.files:
            kwargs["files"] = [discord.File(io.BytesIO(d), filename=n) for n, d in self.files]
        if self.buttons:
            kwargs["view"] = view_of(self.buttons)
        return kwargs


def outgoing(reply: Reply) -> list[Outgoing]:
    files = [(p.name, p.data) for p in reply.pictures]
    if reply.document is not None:
        files.append(reply.document)
    *first, last = split_text(reply.text, TEXT_LIMIT)
    *more, files_last = chunks(files, FILES_LIMIT) or [[]]
    return (
        [Outgoing(text, hidden=reply.hidden) for text in first]
        + [Outgoing("", tuple(group), hidden=reply.hidden) for group in more]
        + [Outgoing(last, tuple(files_last), reply.buttons, reply.hidden)]
    )


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button], template=re.escape(BUTTON_PREFIX) + r"(?P<data>.+)"
):
    """A Reply's button. Its custom_id carries the Button's data, so a press reaches the
    conversation whatever message it is on, even one sent before a restart (the
    conversation then answers that the question has expired)."""

    def __init__(self, label: str, data: str, style: discord.ButtonStyle) -> None:
        super().__init__(
            discord.ui.Button(label=label, custom_id=BUTTON_PREFIX + data, style=style)
        )
        self.data = data

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str]
    ) -> AnswerButton:
        return cls(item.label or "", match["data"], item.style)

    async def callback(self, interaction: discord.Interaction) -> None:
        adapter = getattr(interaction.client, "adapter", None)  # LookalikeClient's
        if adapter is not None:
            await adapter.on_press(interaction, self.data)


def view_of(buttons: tuple[Button, ...]) -> discord.ui.View:
    view = discord.ui.View(timeout=None)  # AnswerButton needs no view kept in memory
    for number, button in enumerate(buttons):
        style = discord.ButtonStyle.primary if number == 0 else discord.ButtonStyle.secondary
        view.add_item(AnswerButton(button.label, button.data, style))
    return view


# --- slash commands from the conversation's table ----------------------------------------


def slash_command(command: Command, run: Callable[..., Awaitable[None]]) -> app_commands.Command:
    """The typed slash command for a table entry: a photo option (an attachment,
    required or not) and the argument (a choice, or text), each only when it takes one.

    ``run(interaction, args, photo)`` does the work."""
    parameters = [inspect.Parameter("interaction", _POSITIONAL, annotation=discord.Interaction)]
    descriptions, choices = {}, {}
    argument = command.argument
    if argument is not None:
        parameters.append(inspect.Parameter(argument.name, _POSITIONAL, annotation=str, default=""))
        descriptions[argument.name] = argument.description["en"]
        if argument.choices:
            choices[argument.name] = [
                app_commands.Choice(name=c.label, value=c.value) for c in argument.choices
            ]
    if command.photo is not Photo.NONE:
        required = command.photo is Photo.REQUIRED
        parameters.insert(
            1,
            inspect.Parameter(
                "photo",
                _POSITIONAL,
                annotation=discord.Attachment if required else discord.Attachment | None,
                default=inspect.Parameter.empty if required else None,
            ),
        )
        descriptions["photo"] = "A photo with faces"

    async def callback(interaction: discord.Interaction, **options: Any) -> None:
        args = options.get(argument.name, "") if argument is not None else ""
        await run(interaction, args or "", options.get("photo"))

    callback.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    if descriptions:
        callback = app_commands.describe(**descriptions)(callback)
    if choices:
        callback = app_commands.choices(**choices)(callback)
    return app_commands.Command(
        name=command.name, description=command.describe("en")[:100], callback=callback
    )


_POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
