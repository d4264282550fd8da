"""Per-user rate limits on incoming photos, and the short-lived questions the bot asks."""

from __future__ import annotations

import collections
import dataclasses
import secrets
import time
from collections.abc import Callable

from bot.core import Chat, Upload, User


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds for each key (a sliding window).

    Written here rather than taken from a framework: python-telegram-bot's
    AIORateLimiter and discord.py's cooldowns limit what the bot sends, or one
    platform's commands, while this limits what each user asks of the engine,
    the same way on every platform.
    """

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[object, collections.deque[float]] = {}

    def check(self, key: object) -> float:
        """Record an event for ``key`` and return 0, or, when over the limit, the
        seconds until the next one is allowed (nothing is recorded then)."""
        now = self.clock()
        events = self._events.setdefault(key, collections.deque())
        while events and events[0] <= now - self.window:
            events.popleft()
        if len(events) >= self.limit:
            return events[0] + self.window - now
        events.append(now)
        if len(self._events) > 10_000:  # forget idle users now and then
            self._events = {
                k: v for k, v in self._events.items() if v and v[-1] > now - self.window
            }
        return 0.0


@dataclasses.dataclass
class Question:
    """Something the bot asked one user in one chat, waiting for a button or a photo.

    Attributes:
        kind: consent, register_photo, whoami_photo, lookalike_photo, forget, lang.
        token: a random value that the question's buttons carry, so that an old
            or forged button cannot answer a newer question.
        upload: a photo that came with the command, kept (not downloaded) until
            the user agrees.
    """

    kind: str
    chat: Chat
    user: User
    expires: float
    token: str = dataclasses.field(default_factory=lambda: secrets.token_hex(4))
    upload: Upload | None = None


class Questions:
    """The open questions, one per user and chat at a time; they expire on their own."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._open: dict[tuple[str, str], Question] = {}

    def ask(self, kind: str, chat: Chat, user: User, upload: Upload | None = None) -> Question:
        question = Question(kind, chat, user, self.clock() + self.timeout, upload=upload)
        self._open[(chat.scope, user.id)] = question
        return question

    def get(self, chat: Chat, user: User) -> Question | None:
        question = self._open.get((chat.scope, user.id))
        if question is not None and question.expires < self.clock():
            del self._open[(chat.scope, user.id)]
            return None
        return question

    def close(self, question: Question) -> None:
        key = (question.chat.scope, question.user.id)
        if self._open.get(key) is question:
            del self._open[key]


def button_data(question: Question, answer: str) -> str:
    """What a button carries: ``kind:answer:user id:token`` (under Telegram's 64 bytes)."""
    return f"{question.kind}:{answer}:{question.user.id}:{question.token}"


def parse_button(data: str) -> tuple[str, str, str, str] | None:
    parts = data.split(":")
    if len(parts) != 4 or not all(parts):
        return None
    return parts[0], parts[1], parts[2], parts[3]
