"""Per-user limits on what users ask of the engine, and the short-lived questions the bot asks."""

from __future__ import annotations

import collections
import dataclasses
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.core import Chat, Upload, User

# Rebuilds a platform's Upload from what was stored of it: (ref, size, type, sender).
UploadSource = Callable[[str, int | None, str | None, str | None], Upload]


class Budget:
    """At most ``limit`` units of cost per ``window`` seconds for each key (a sliding window).

    Written here rather than taken from a framework: python-telegram-bot's
    AIORateLimiter and discord.py's cooldowns limit what the bot sends, or one
    platform's commands, while this limits what each user asks of the engine,
    the same way on every platform, and counts cost, not only messages.
    """

    def __init__(self, limit: float, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit = limit
        self.window = window
        self.clock = clock
        self._events: dict[object, collections.deque[tuple[float, float]]] = {}

    def _recent(self, key: object, now: float) -> collections.deque[tuple[float, float]]:
        events = self._events.setdefault(key, collections.deque())
        while events and events[0][0] <= now - self.window:
            events.popleft()
        return events

    def wait(self, key: object, cost: float = 0.0) -> float:
        """Seconds until ``cost`` more fits in the key's budget: 0 when it fits now.

        With ``cost`` 0 this asks whether the budget is already spent."""
        now = self.clock()
        events = self._recent(key, now)
        spent = sum(c for _, c in events)

        def fits(spent: float) -> bool:
            return spent < self.limit and spent + cost <= self.limit

        if fits(spent):
            return 0.0
        for at, c in events:  # oldest first: each one that expires frees its cost
            spent -= c
            if fits(spent):
                return at + self.window - now
        return self.window  # more than the whole budget: it never fits

    def add(self, key: object, cost: float) -> None:
        """Count ``cost`` against the key's budget now."""
        now = self.clock()
        self._recent(key, now).append((now, cost))
        if len(self._events) > 10_000:  # forget idle users now and then
            self._events = {
                k: v for k, v in self._events.items() if v and v[-1][0] > now - self.window
            }


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Why a user must wait: the text's key, and for how long."""

    key: str
    seconds: float


class Limits:
    """What each user may ask of the engine: ``photos`` per window, and ``work`` seconds
    of the model worker's time per window (a photo with hundreds of faces costs far
    more than a selfie). Keys are (platform, user id).

    Async so that a shared implementation (several replicas, one database) can stand in.
    """

    def __init__(
        self,
        photos: int,
        work_seconds: float,
        window: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.photos = Budget(photos, window, clock)
        self.work = Budget(work_seconds, window, clock)

    async def admit(self, user: User) -> Refusal | None:
        """Count one photo for ``user``, or say why it must wait (nothing counted then)."""
        key = (user.platform, user.id)
        if wait := self.work.wait(key):
            return Refusal("rate_limited_work", wait)
        if wait := self.photos.wait(key, 1):
            return Refusal("rate_limited", wait)
        self.photos.add(key, 1)
        return None

    async def spent(self, user: User, seconds: float) -> None:
        """Count the worker's time a request of ``user`` took."""
        self.work.add((user.platform, user.id), seconds)


@dataclasses.dataclass
class Question:
    """Something the bot asked one user in one chat, waiting for a button or a photo.

    Attributes:
        kind: consent, register_photo, whoami_photo, lookalike_photo, forget, lang...
        token: a random value that the question's buttons carry, so that an old
            or forged button cannot answer a newer question.
        upload: a photo that came with the command, kept (not downloaded) until
            the user agrees.
        on_photo: what the user's next photo in the chat does, for a question that
            asks for one: it gets the photo's Request.
        on_answer: what a press of one of its buttons does: it gets the question, the
            button's answer and the press's Request.
    """

    kind: str
    chat: Chat
    user: User
    expires: float
    token: str = dataclasses.field(default_factory=lambda: secrets.token_hex(4))
    upload: Upload | None = None
    on_photo: Callable[[Any], Awaitable[list[Any]]] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )
    on_answer: Callable[[Question, str, Any], Awaitable[list[Any]]] | None = dataclasses.field(
        default=None, repr=False, compare=False
    )


class Questions:
    """The open questions, one per user and chat at a time; they expire on their own."""

    def __init__(self, timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.clock = clock
        self._open: dict[tuple[str, str], Question] = {}

    def ask(self, kind: str, chat: Chat, user: User, **fields: Any) -> Question:
        """A new question (``fields``: upload, on_photo, on_answer); it replaces the user's
        open one in that chat."""
        question = Question(kind, chat, user, self.clock() + self.timeout, **fields)
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

    # Async forms, for a store that other processes share (bot.shared.SharedQuestions).

    async def fetch(self, chat: Chat, user: User) -> Question | None:
        """The user's open question in the chat, wherever it was asked."""
        return self.get(chat, user)

    async def take(self, question: Question) -> bool:
        """Close ``question``: True for the one caller that closed it."""
        open_ = self._open.get((question.chat.scope, question.user.id)) is question
        self.close(question)
        return open_

    async def flush(self) -> None:
        """Wait until what was asked and closed is seen by other processes."""

    def add_source(self, platform: str, source: UploadSource) -> None:
        """How to rebuild a photo another process asked for (see bot.shared); questions
        kept in this process hold their photos whole, so they need none."""


# Telegram refuses callback data over 64 bytes; every platform gets the same data.
BUTTON_DATA_LIMIT = 64


def button_data(question: Question, answer: str) -> str:
    """What a button carries: ``kind:answer:user id:token``, at most 64 bytes."""
    data = f"{question.kind}:{answer}:{question.user.id}:{question.token}"
    if len(data.encode()) > BUTTON_DATA_LIMIT:
        raise ValueError(f"button data over {BUTTON_DATA_LIMIT} bytes: {data!r}")
    return data


def parse_button(data: str) -> tuple[str, str, str, str] | None:
    parts = data.split(":")
    if len(parts) != 4 or not all(parts):
        return None
    return parts[0], parts[1], parts[2], parts[3]
