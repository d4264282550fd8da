"""A terminal chat with the bot, using the same conversation as Telegram and Discord."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import logging
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TextIO

from bot.commands import Photo
from bot.conversation import Conversation
from bot.core import Button, Chat, Pressed, Reply, Upload, User

log = logging.getLogger(__name__)

PLATFORM = "shell"
HELP = """Shell commands, besides the bot's own (/help lists those):
  PATH           send a photo (its lookalikes, or the photo the bot asked for)
  /COMMAND PATH  send a photo with a command that takes one ({photo_commands})
  /as NAME       act as another user (NAME is the name whoami reports)
  /chat NAME     switch chat; "private" is a private chat, any other name a group
  /wait N        let N seconds pass at once (time also passes as usual: a game round
                 ends after GAME_ROUND_SECONDS, and the rate limit frees up by itself)
  1, 2... or a button's text   press a button; yes/no answer a consent question
  /quit          leave"""


def _claim(folder: Path) -> Path:
    """``folder``, made now, or ``folder-2``, ``folder-3``... when another run (started
    in the same second) has it: one run's pictures never overwrite another's."""
    candidate, number = folder, 1
    while True:
        try:
            candidate.mkdir(parents=True)
            return candidate
        except FileExistsError:
            number += 1
            candidate = folder.with_name(f"{folder.name}-{number}")
        except OSError:
            return folder  # unwritable: saving a picture says so, as before


class ShellClock:
    """The shell's time: the real monotonic clock plus what `/wait` added, and timers
    that fire when either brings them due, so scripts can skip a round's minute."""

    def __init__(self) -> None:
        self._offset = 0.0
        self._epoch = time.time() - time.monotonic()
        self._timers: dict[str, tuple[float, Callable[[], Awaitable[None]]]] = {}
        self._handles: dict[str, asyncio.TimerHandle] = {}

    def time(self) -> float:
        return time.monotonic() + self._offset

    def wall(self) -> float:
        """Wall-clock seconds that `/wait` moves forward too: what the game stores."""
        return self._epoch + self.time()

    def call_later(self, delay: float, name: str, callback: Callable[[], Awaitable[None]]) -> None:
        self.cancel(name)
        due = self.time() + max(0.0, delay)
        self._timers[name] = (due, callback)
        loop = asyncio.get_running_loop()
        self._handles[name] = loop.call_later(
            max(0.0, delay), lambda: loop.create_task(self._fire(name, due))
        )

    def cancel(self, name: str) -> None:
        self._timers.pop(name, None)
        handle = self._handles.pop(name, None)
        if handle is not None:
            handle.cancel()

    async def _fire(self, name: str, due: float) -> None:
        timer = self._timers.get(name)
        if timer is None or timer[0] != due:  # cancelled, or rescheduled meanwhile
            return
        self.cancel(name)
        try:
            await timer[1]()
        except Exception:
            log.exception("scheduled %s failed", name)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass at once, running every timer that falls due, in order, each
        at its own time (a round ends when it was due, not when the wait is over)."""
        end = self.time() + max(0.0, seconds)
        while True:
            due = [(at, name) for name, (at, _) in self._timers.items() if at <= end]
            if not due:
                break
            at, name = min(due)
            self._offset += max(0.0, at - self.time())
            await self._fire(name, at)
        self._offset += max(0.0, end - self.time())


def file_upload(path: Path, sender: str) -> Upload:
    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    return Upload(size=path.stat().st_size, content_type=None, fetch=fetch, sender=sender)


def existing_file(text: str) -> Path | None:
    """The file a typed path names, if there is one (a local stat: no need for a thread)."""
    path = Path(text).expanduser()
    return path if path.is_file() else None


def looks_like_path(text: str) -> bool:
    """Whether a line that starts with a slash names a file rather than a command."""
    head = text.split()[0] if text.split() else text
    return "/" in head[1:] or "." in head or "~" in head


def photo_in(args: str) -> tuple[Path | None, str]:
    """The photo a command's arguments name (all of them, or their last or first word),
    and the rest of the arguments."""
    words = args.split()
    for path, rest in (
        (args, ""),
        (words[-1], " ".join(words[:-1])),
        (words[0], " ".join(words[1:])),
    ):
        found = existing_file(path)
        if found is not None:
            return found, rest
    return None, args


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "user"


class Shell:
    """Reads lines, acts them out as the current user in the current chat, prints replies.

    Pictures go to ``out`` in a folder of this run's own. Without ``out`` they go to a
    temporary folder that is deleted when the shell ends: the bot keeps no photos.
    """

    platform = PLATFORM

    def __init__(
        self,
        conversation: Conversation,
        out: Path | None = None,
        *,
        as_json: bool = False,
        stream: TextIO = sys.stdout,
        clock: ShellClock | None = None,
    ) -> None:
        self.conversation = conversation
        self.as_json = as_json
        self.stream = stream
        self.clock = clock or ShellClock()
        self.scheduler = self.clock
        self.user = User(PLATFORM, "me", "Me")
        self.chat = Chat(PLATFORM, "private", is_group=False)
        self._buttons: dict[tuple[str, str], tuple[Button, ...]] = {}
        self._pictures = itertools.count(1)
        self._kept = out is not None
        run = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        if out is not None:
            self.out = _claim(out / run)
        else:
            self.out = Path(tempfile.mkdtemp(prefix="lookalike-shell-"))

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
        path = existing_file(line)
        if line.startswith("/") and path is None and not looks_like_path(line):
            return await self._command(line)
        button = self._button_for(line)
        if button is not None:
            self._buttons.pop((self.chat.id, self.user.id), None)
            pressed = await self.conversation.on_button(self.chat, self.user, button.data)
            await self._pressed(pressed)
            return True
        if path is None:
            self.note(f"No such photo: {line}. Type /help for commands.")
            return True
        upload = file_upload(path, self.user.id)
        replies = await self.conversation.on_photo(self.chat, self.user, upload, True)
        await self.send(self.chat, replies, self.user)
        return True

    async def _command(self, line: str) -> bool:
        name, _, args = line[1:].partition(" ")
        name, args = name.lower(), args.strip()
        if name in ("quit", "exit"):
            return False
        if name == "as":
            self.user = User(PLATFORM, slug(args), args or "Me")
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
            print(HELP.format(photo_commands=", ".join(self._photo_commands())), file=self.stream)
        upload = None
        command = self.conversation.commands.get(name)
        if command is not None and command.photo is not Photo.NONE and args:
            photo, rest = photo_in(args)
            if photo is not None:
                upload, args = file_upload(photo, self.user.id), rest
            elif command.argument is None or looks_like_path(args.split()[-1]):
                self.note(f"No such photo: {args}")
                return True
        replies = await self.conversation.on_command(self.chat, self.user, name, args, upload)
        await self.send(self.chat, replies, self.user)
        return True

    def _photo_commands(self) -> list[str]:
        return [
            f"/{c.name}"
            for c in self.conversation.commands.values()
            if c.photo is not Photo.NONE and not c.hidden
        ]

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

    def close(self) -> None:
        """Delete this run's pictures unless they were asked to be kept."""
        if not self._kept:
            shutil.rmtree(self.out, ignore_errors=True)
        elif self.out.is_dir() and not any(self.out.iterdir()):
            self.out.rmdir()  # a run that showed no picture leaves nothing behind

    async def run(self, stdin: TextIO = sys.stdin) -> None:
        """Read lines until the end of input or /quit; prompts only on a terminal."""
        interactive = stdin.isatty()
        await self.clock.advance(0)  # timers already due: a round that ended while away
        if interactive and not self.as_json:
            kept = "kept in" if self._kept else "shown from (deleted when you leave)"
            print(
                f"lookalike shell. Type a photo's path, /help, or /quit.\n"
                f"Reply pictures are {kept} {self.out}",
                file=self.stream,
            )
        loop = asyncio.get_running_loop()
        try:
            while True:
                if interactive:
                    print(
                        f"{self.user.name}@{self.chat.id}> ", end="", file=self.stream, flush=True
                    )
                line = await loop.run_in_executor(None, stdin.readline)
                if not line or not await self.handle(line):
                    return
        finally:
            self.close()
