"""What replicas of the bot share through the engine's database: rate limits and open questions."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from bot.core import Chat, User
from bot.limits import Question, Questions, Refusal, UploadSource
from engine.engine import Engine

log = logging.getLogger(__name__)


class SharedLimits:
    """`bot.limits.Limits` kept in the database (`Engine.charge`), so that a user's budget
    is one budget however many replicas their photos reach."""

    def __init__(self, engine: Engine, photos: int, work_seconds: float, window: float) -> None:
        self.engine = engine
        self.photos = photos
        self.work_seconds = work_seconds
        self.window = window

    async def admit(self, user: User) -> Refusal | None:
        key = f"{user.platform}:{user.id}"
        # Worker time is known only after the work: "is any left?" comes first.
        wait = await self.engine.charge(
            f"seconds:{key}", 0, self.window, self.work_seconds, check_only=True
        )
        if wait:
            return Refusal("rate_limited_work", wait)
        if wait := await self.engine.charge(f"photos:{key}", 1, self.window, self.photos):
            return Refusal("rate_limited", wait)
        return None

    async def spent(self, user: User, seconds: float) -> None:
        key = f"seconds:{user.platform}:{user.id}"
        await self.engine.charge(key, seconds, self.window, self.work_seconds, force=True)


class SharedQuestions(Questions):
    """`bot.limits.Questions` whose open questions are notes in the database
    (`Engine.put_note`): a button or photo answering a question asked by one replica
    may reach another, which then finds the question there.

    A question's actions are methods of the conversation's features, stored by
    name and found again among ``owners()``; its photo (if one came with the
    command) is stored as the platform's reference to it, rebuilt by the source
    each adapter registers (`add_source`). Each process keeps the questions it
    asked too, so that it need not rebuild them.
    """

    def __init__(
        self,
        engine: Engine,
        timeout: float,
        clock: Callable[[], float],
        owners: Callable[[], Iterable[object]],
    ) -> None:
        super().__init__(timeout, clock)
        self.engine = engine
        self.owners = owners
        self.sources: dict[str, UploadSource] = {}
        self._writes: set[asyncio.Task[Any]] = set()

    def add_source(self, platform: str, source: UploadSource) -> None:
        self.sources[platform] = source

    @staticmethod
    def _key(chat: Chat, user: User) -> str:
        return f"question:{chat.scope}:{user.id}"

    def ask(self, kind: str, chat: Chat, user: User, **fields: Any) -> Question:
        question = super().ask(kind, chat, user, **fields)
        note = json.dumps(self._dump(question))
        self._write(self.engine.put_note(self._key(chat, user), note, self.timeout))
        return question

    def close(self, question: Question) -> None:
        super().close(question)
        key = self._key(question.chat, question.user)
        self._write(self.engine.take_note(key, json.dumps(self._dump(question))))

    def _write(self, write: Coroutine[Any, Any, Any]) -> None:
        # Started at once, awaited by `flush`: a sync caller cannot await it.
        task = asyncio.create_task(write)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def flush(self) -> None:
        """Write what was asked and closed, before the replies that depend on it go out."""
        for task in list(self._writes):
            try:
                await task
            except Exception:  # the question is still asked here; another replica won't see it
                log.exception("could not share a question")

    async def fetch(self, chat: Chat, user: User) -> Question | None:
        await self.flush()
        note = await self.engine.get_note(self._key(chat, user))
        if note is None:
            self._open.pop((chat.scope, user.id), None)
            return None
        value, left = note
        data = json.loads(value)
        mine = super().get(chat, user)
        if mine is not None and mine.token == data["token"]:
            return mine
        question = self._load(data, chat, user, left)
        if question is not None:
            self._open[(chat.scope, user.id)] = question
        return question

    async def take(self, question: Question) -> bool:
        super().close(question)
        key = self._key(question.chat, question.user)
        return await self.engine.take_note(key, json.dumps(self._dump(question)))

    # --- a question as a note ------------------------------------------------------

    @staticmethod
    def _dump(question: Question) -> dict[str, Any]:
        upload = question.upload
        return {
            "kind": question.kind,
            "token": question.token,
            "on_photo": _name(question.on_photo),
            "on_answer": _name(question.on_answer),
            "upload": None
            if upload is None or upload.ref is None
            else [upload.ref, upload.size, upload.content_type, upload.sender],
        }

    def _load(self, data: dict[str, Any], chat: Chat, user: User, left: float) -> Question | None:
        actions = {
            name: method
            for owner in self.owners()
            for name, method in _methods(owner)
            if name in (data["on_photo"], data["on_answer"])
        }
        on_photo, on_answer = actions.get(data["on_photo"]), actions.get(data["on_answer"])
        if (data["on_photo"] and on_photo is None) or (data["on_answer"] and on_answer is None):
            log.warning("a question of kind %s has an action this process lacks", data["kind"])
            return None
        upload = None
        source = self.sources.get(chat.platform)
        if data["upload"] is not None and source is not None:
            upload = source(*data["upload"])
        return Question(
            data["kind"],
            chat,
            user,
            self.clock() + left,
            token=data["token"],
            upload=upload,
            on_photo=on_photo,
            on_answer=on_answer,
        )


def _name(action: object) -> str | None:
    return getattr(action, "__qualname__", None) if action is not None else None


def _methods(owner: object) -> Iterable[tuple[str, Callable[..., Any]]]:
    for attribute in dir(type(owner)):
        function = getattr(type(owner), attribute, None)
        if callable(function) and hasattr(function, "__qualname__"):
            yield function.__qualname__, getattr(owner, attribute)
