"""A terminal chat with the bot, using the same conversation as Telegram and Discord."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.conversation import Conversation
from bot.core import Button, Chat, Pressed, Reply, Upload, User

log = logging.getLogger(__name__)

PLATFORM = "shell"
PHOTO_COMMANDS = ("lookalike", "register", "whoami", "game")
HELP = """Shell commands, besides the bot's own (/help lists those):
  PATH           send a photo (its lookalikes, or the photo the bot asked for)
  /register PATH, /whoami PATH, /lookalike PATH, /game PATH   send a photo with a command
  /as NAME       act as another user (NAME is the name whoami reports)
  /chat NAME     switch chat; "private" is a private chat, any other name a group
  /wait N        let N seconds pass (timers such as a game round's end run)
  1, 2... or a button's text   press a button; yes/no answer a consent question
  /quit          leave"""


class VirtualClock:
    """Timers that run when `/wait` says time has passed, so scripts are instant and repeatable."""

    def __init__(self) -> None:
        self.now = 0.0
        self._epoch = time.time()
        self._timers: list[tuple[float, int, str]] = []
        self._callbacks: dict[str, Callable[[], Awaitable[None]]] = {}
        self._order = itertools.count()

    def time(self) -> float:
        return self.now

    def wall(self) -> float:
        """Wall-clock seconds that `/wait` moves forward too: what the game stores."""
        return self._epoch + self.now

    def call_later(self, delay: float, name: str, callback: Callable[[], Awaitable[None]]) -> None:
        self.cancel(name)
        self._callbacks[name] = callback
        heapq.heappush(self._timers, (self.now + delay, next(self._order), name))

    def cancel(self, name: str) -> None:
        self._callbacks.pop(name, None)

    async def advance(self, seconds: float) -> None:
        end = self.now + max(0.0, seconds)
        while self._timers and self._timers[0][0] <= end:
            due, _, name = heapq.heappop(self._timers)
            self.now = max(self.now, due)
            callback = self._callbacks.pop(name, None)
            if callback is not None:
                await callback()
        self.now = end


def file_upload(path: Path) -> Upload:
    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return Upload(size=path.stat().st_size, content_type=None, fetch=fetch)


def existing_file(text: str) -> Path | None:
    """The file a typed path names, if there is one (a local stat: no need for a thread)."""
    path = Path(text).expanduser()
    return path if path.is_file() else None


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "user"


class Shell:
    """Reads lines, acts them out as the current user in the current chat, prints replies."""

    platform = PLATFORM

    def __init__(
        self,
        conversation: Conversation,
        out: Path,
        *,
        as_json: bool = False,
        stream: TextIO = sys.stdout,
        clock: VirtualClock | None = None,
    ) -> None:
        self.conversation = conversation
        self.out = out
        self.as_json = as_json
        self.stream = stream
        self.clock = clock or VirtualClock()
        self.scheduler = self.clock
        self.user = User(PLATFORM, "you", "You")
        self.chat = Chat(PLATFORM, "private", is_group=False)
        self._buttons: dict[tuple[str, str], tuple[Button, ...]] = {}
        self._pictures = itertools.count(1)

    # --- output ---------------------------------------------------------------------

    async def send(self, chat: Chat, replies: list[Reply], user: User | None = None) -> None:
        """Print replies (also those the bot sends on its own, such as a round's end)."""
        for reply in replies:
            files = [self._save(p.name, p.data) for p in reply.pictures]
            if reply.document is not None:
                files.append(self._save(*reply.document))
            if reply.buttons and user is not None:
                self._buttons[(chat.id, user.id)] = reply.buttons
            self._print(chat, user, reply.text, files, [b.label for b in reply.buttons])

    def _save(self, name: str, data: bytes) -> str:
        self.out.mkdir(parents=True, exist_ok=True)
        path = self.out / f"{next(self._pictures):04d}-{name}"
        path.write_bytes(data)
        return str(path)

    def _print(
        self, chat: Chat, user: User | None, text: str, files: list[str], buttons: list[str]
    ) -> None:
        if self.as_json:
            record = {
                "chat": chat.id,
                "user": user.name if user else None,
                "text": text,
                "images": files,
                "buttons": buttons,
            }
            print(json.dumps(record, ensure_ascii=False), file=self.stream, flush=True)
            return
        who = f" → {user.name}" if user else ""
        print(f"[{chat.id}] bot{who}: {text}", file=self.stream)
        for file in files:
            print(f"    (picture: {file})", file=self.stream)
        if buttons:
            print(
                "    " + "   ".join(f"[{i}] {b}" for i, b in enumerate(buttons, 1)),
                file=self.stream,
            )
        self.stream.flush()

    def note(self, text: str) -> None:
        self._print(self.chat, self.user, text, [], [])

    # --- input ----------------------------------------------------------------------

    async def handle(self, line: str) -> bool:
        """Act out one line; False when the shell should stop."""
        line = line.strip()
        if not line or line.startswith("#"):
            return True
        if line.startswith("/") and existing_file(line) is None:
            return await self._command(line)
        button = self._button_for(line)
        if button is not None:
            self._buttons.pop((self.chat.id, self.user.id), None)
            pressed = await self.conversation.on_button(self.chat, self.user, button.data)
            await self._pressed(pressed)
            return True
        path = existing_file(line)
        if path is None:
            self.note(f"No such photo: {line}. Type /help for commands.")
            return True
        replies = await self.conversation.on_photo(self.chat, self.user, file_upload(path), True)
        await self.send(self.chat, replies, self.user)
        return True

    async def _command(self, line: str) -> bool:
        name, _, args = line[1:].partition(" ")
        name, args = name.lower(), args.strip()
        if name in ("quit", "exit"):
            return False
        if name == "as":
            self.user = User(PLATFORM, slug(args), args or "You")
            return True
        if name == "chat":
            chat_id = slug(args) if args else "private"
            self.chat = Chat(PLATFORM, chat_id, is_group=chat_id != "private")
            return True
        if name == "wait":
            try:
                await self.clock.advance(float(args or 0))
            except ValueError:
                self.note("Usage: /wait SECONDS")
            return True
        if name == "help" and not self.as_json:
            print(HELP, file=self.stream)
        upload = None
        photo = existing_file(args) if name in PHOTO_COMMANDS and args else None
        if photo is not None:
            upload, args = file_upload(photo), ""
        elif name in ("register", "whoami", "lookalike") and args:
            self.note(f"No such photo: {args}")
            return True
        replies = await self.conversation.on_command(self.chat, self.user, name, args, upload)
        await self.send(self.chat, replies, self.user)
        return True

    def _button_for(self, text: str) -> Button | None:
        buttons = self._buttons.get((self.chat.id, self.user.id), ())
        lowered = text.lower()
        for number, button in enumerate(buttons, start=1):
            if lowered in (str(number), button.label.lower()):
                return button
        # English yes/no answer any question, whatever the reply language.
        for answer in ("yes", "no"):
            if lowered in (answer, answer[0]):
                for button in buttons:
                    if f":{answer}:" in button.data:
                        return button
        return None

    async def _pressed(self, pressed: Pressed) -> None:
        if pressed.notice:
            self.note(pressed.notice)
        await self.send(self.chat, list(pressed.replies), self.user)

    def stop(self) -> None:
        """The shell stops at the end of its input."""

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        """Read lines until the end of input or /quit; prompts only on a terminal."""
        interactive = stdin.isatty()
        await self.clock.advance(0)  # timers already due: a round that ended while away
        if interactive and not self.as_json:
            print("lookalike shell. Type a photo's path, /help, or /quit.", file=self.stream)
        loop = asyncio.get_running_loop()
        while True:
            if interactive:
                print(f"{self.user.name}@{self.chat.id}> ", end="", file=self.stream, flush=True)
            line = await loop.run_in_executor(None, stdin.readline)
            if not line or not await self.handle(line):
                return
