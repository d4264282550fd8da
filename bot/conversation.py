"""The conversation rules every platform shares: what each photo, command and button does."""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Awaitable, Callable

from bot import replies
from bot.config import BotSettings
from bot.core import Button, Chat, Picture, Pressed, Reply, Upload, User
from bot.limits import Question, Questions, RateLimiter, button_data, parse_button
from bot.replies import t
from engine.engine import Engine
from engine.errors import FileTooLarge, LookalikeError, UnsupportedImage
from engine.pipeline import PhotoResult
from engine.registry import Match, Unknown

log = logging.getLogger(__name__)

Command = Callable[[Chat, User, str, Upload | None], Awaitable[list[Reply]]]
# A photo hook sees photos before the default rules; it returns None to pass.
PhotoHook = Callable[[Chat, User, Upload, str], Awaitable[list[Reply] | None]]
PHOTO_TYPES = ("image/",)


class Conversation:
    """One per process, shared by the adapters. Each method returns what to send.

    Nothing here knows a platform: adapters turn their events into these calls
    and the replies into their messages. Every method ends in replies, never
    in an exception: errors become friendly text and a log line.
    """

    def __init__(
        self, engine: Engine, settings: BotSettings, clock: Callable[[], float] | None = None
    ) -> None:
        clock = clock or time.monotonic
        self.engine = engine
        self.settings = settings
        self.limiter = RateLimiter(settings.rate_limit_photos, settings.rate_limit_seconds, clock)
        self.questions = Questions(settings.consent_timeout, clock)
        self.commands: dict[str, Command] = {
            "start": self.help,
            "help": self.help,
            "privacy": self.privacy,
            "lang": self.lang,
            "lookalike": self.lookalike,
            "register": self.register,
            "whoami": self.whoami,
            "forget": self.forget,
            "mydata": self.mydata,
            "stats": self.stats,
        }
        self.photo_hooks: list[PhotoHook] = []
        # Extra data to erase on /forget (the game's scores): returns rows deleted.
        self.forget_hooks: list[Callable[[User], Awaitable[int]]] = []
        # Extra data to show on /mydata, by section name (the game's entries).
        self.export_hooks: dict[str, Callable[[User], Awaitable[object]]] = {}

    async def language(self, user: User) -> str:
        try:
            stored = await self.engine.language(user.person())
        except LookalikeError:
            stored = None
        return stored or replies.language(user.language_code)

    # --- entry points ------------------------------------------------------------

    async def on_command(
        self, chat: Chat, user: User, name: str, args: str = "", upload: Upload | None = None
    ) -> list[Reply]:
        """A command (without its slash), its arguments, and a photo sent with it, if any."""
        handler = self.commands.get(name.lower())
        lang = await self.language(user)
        if handler is None:
            return [Reply(t(lang, "unknown_command"))]
        return await self._safely(lang, handler(chat, user, args.strip(), upload))

    async def on_photo(
        self, chat: Chat, user: User, upload: Upload, addressed: bool = True
    ) -> list[Reply]:
        """A photo without a command. In groups it is answered only when ``addressed``
        (the bot was mentioned or replied to), or when the bot asked for it."""
        lang = await self.language(user)
        question = self.questions.get(chat, user)
        if question is not None and question.kind.endswith("_photo"):
            self.questions.close(question)
            action = {
                "register_photo": self._register_photo,
                "whoami_photo": self._whoami_photo,
                "lookalike_photo": self._lookalike_photo,
            }[question.kind]
            return await self._safely(lang, action(chat, user, upload, lang))
        for hook in self.photo_hooks:
            handled = await self._safely(lang, hook(chat, user, upload, lang), passthrough=True)
            if handled is not None:
                return handled
        if chat.is_group and not addressed:
            return []
        return await self._safely(lang, self._lookalike_photo(chat, user, upload, lang))

    async def on_button(self, chat: Chat, user: User, data: str) -> Pressed:
        """A button press: only the user who was asked may answer, and only once."""
        lang = await self.language(user)
        parsed = parse_button(data)
        if parsed is None:
            return Pressed(notice=t(lang, "expired"), settled=True)
        kind, answer, owner, token = parsed
        if owner != user.id:
            return Pressed(notice=t(lang, "not_yours"))
        question = self.questions.get(chat, user)
        if question is None or question.kind != kind or question.token != token:
            return Pressed(notice=t(lang, "expired"), settled=True)
        self.questions.close(question)
        handlers = {
            "consent": self._consented,
            "forget": self._forget_confirmed,
            "lang": self._lang_chosen,
        }
        replies_ = await self._safely(lang, handlers[kind](question, answer, lang))
        return Pressed(replies=tuple(replies_), settled=True)

    async def _safely(self, lang: str, action: Awaitable, passthrough: bool = False):
        try:
            return await action
        except LookalikeError as exc:
            log.info("refused: %s", exc.code)
            return [Reply(replies.error(lang, exc.code, exc.details))]
        except Exception:
            log.exception("a request failed")
            return [Reply(t(lang, "error.error"))] if not passthrough else None

    # --- simple commands -----------------------------------------------------------

    async def help(self, chat: Chat, user: User, args: str, upload: Upload | None) -> list[Reply]:
        lang = await self.language(user)
        text = t(lang, "help", commands=t(lang, "commands"))
        if chat.is_group:
            text += "\n\n" + t(lang, "group_hint")
        return [Reply(text)]

    async def privacy(
        self, chat: Chat, user: User, args: str, upload: Upload | None
    ) -> list[Reply]:
        lang = await self.language(user)
        return [Reply(t(lang, "privacy", days=self.engine.settings.retention_days))]

    async def lang(self, chat: Chat, user: User, args: str, upload: Upload | None) -> list[Reply]:
        choice = replies.language(args) if args.lower()[:2] in replies.LANGUAGES else None
        if choice:
            await self.engine.set_language(user.person(), choice)
            return [Reply(t(choice, "lang_set"))]
        question = self.questions.ask("lang", chat, user)
        buttons = (
            Button("English", button_data(question, "en")),
            Button("Español", button_data(question, "es")),
        )
        return [Reply(t(await self.language(user), "lang_choose"), buttons=buttons)]

    async def _lang_chosen(self, question: Question, answer: str, lang: str) -> list[Reply]:
        choice = replies.language(answer)
        await self.engine.set_language(question.user.person(), choice)
        return [Reply(t(choice, "lang_set"))]

    async def stats(self, chat: Chat, user: User, args: str, upload: Upload | None) -> list[Reply]:
        lang = await self.language(user)
        if not self.settings.is_admin(user.platform, user.id):
            return [Reply(t(lang, "admins_only"))]
        counts = await self.engine.stats()
        model = self.engine.pipeline.classifier
        described = f"{len(model.classes)} classes" if model else "missing"
        return [Reply(t(lang, "stats", model=described, **counts), private=True)]

    async def mydata(self, chat: Chat, user: User, args: str, upload: Upload | None) -> list[Reply]:
        lang = await self.language(user)
        held = await self.engine.export(user.person())
        for section, hook in self.export_hooks.items():
            held[section] = await hook(user)
        document = json.dumps(held, indent=1, ensure_ascii=False).encode()
        return [Reply(t(lang, "mydata"), document=("lookalike-data.json", document), private=True)]

    # --- photos ------------------------------------------------------------------

    async def download(self, upload: Upload) -> bytes:
        """The photo's bytes, after checking its declared size and type."""
        limit = self.engine.settings.max_upload_bytes
        if upload.size is not None and upload.size > limit:
            raise FileTooLarge(limit_mb=limit / 1e6)
        if upload.content_type and not upload.content_type.startswith(PHOTO_TYPES):
            raise UnsupportedImage()
        return await upload.fetch()

    def _limited(self, user: User, lang: str) -> list[Reply] | None:
        wait = self.limiter.check((user.platform, user.id))
        if wait > 0:
            return [Reply(t(lang, "rate_limited", seconds=math.ceil(wait)))]
        return None

    async def _ask_photo(self, kind: str, chat: Chat, user: User, command: str) -> list[Reply]:
        self.questions.ask(kind, chat, user)
        return [Reply(t(await self.language(user), "need_photo", command=command))]

    async def lookalike(
        self, chat: Chat, user: User, args: str, upload: Upload | None
    ) -> list[Reply]:
        if upload is None:
            return await self._ask_photo("lookalike_photo", chat, user, "/lookalike")
        return await self._lookalike_photo(chat, user, upload, await self.language(user))

    async def _lookalike_photo(
        self, chat: Chat, user: User, upload: Upload, lang: str
    ) -> list[Reply]:
        if limited := self._limited(user, lang):
            return limited
        result = await self.engine.lookalike(await self.download(upload), render=True)
        return [self.describe(result, lang)]

    def describe(self, result: PhotoResult, lang: str) -> Reply:
        """The answer to a lookalike photo: text per face, the numbered photo, the collage."""
        pictures = []
        if result.annotated:
            pictures.append(Picture("faces.jpg", result.annotated))
        if result.collage:
            pictures.append(Picture("lookalikes.jpg", result.collage))
        if not result.faces:
            return Reply(t(lang, "no_faces"))
        if not result.model_available:
            return Reply(t(lang, "no_model", count=len(result.faces)), tuple(pictures))
        lines = []
        for number, face in enumerate(result.faces, start=1):
            if len(result.faces) > 1:
                lines.append(t(lang, "face_header", number=number))
            else:
                lines.append(t(lang, "face_header_single"))
            for rank, p in enumerate(face.predictions, start=1):
                percent = self.engine.resemblance(p.similarity)
                meaning = t(lang, replies.meaning(percent))
                lines.append(
                    t(lang, "prediction", rank=rank, name=p.name, percent=percent, meaning=meaning)
                )
            lines.append("")
        lines.append(t(lang, "score_note"))
        return Reply("\n".join(lines), tuple(pictures))

    # --- register / whoami / forget ---------------------------------------------------

    async def register(
        self, chat: Chat, user: User, args: str, upload: Upload | None
    ) -> list[Reply]:
        lang = await self.language(user)
        question = self.questions.ask("consent", chat, user, upload=upload)
        buttons = (
            Button(t(lang, "yes"), button_data(question, "yes")),
            Button(t(lang, "no"), button_data(question, "no")),
        )
        return [Reply(t(lang, "register_explain"), buttons=buttons, private=True)]

    async def _consented(self, question: Question, answer: str, lang: str) -> list[Reply]:
        if answer != "yes":
            return [Reply(t(lang, "register_cancelled"), private=True)]
        if question.upload is not None:
            return await self._register_photo(question.chat, question.user, question.upload, lang)
        self.questions.ask("register_photo", question.chat, question.user)
        return [Reply(t(lang, "register_send_photo"), private=True)]

    async def _register_photo(
        self, chat: Chat, user: User, upload: Upload, lang: str
    ) -> list[Reply]:
        if limited := self._limited(user, lang):
            return limited
        # The language they are answered in is the one stored with the registration.
        person = user.person(lang)
        result = await self.engine.register(chat.scope, person, await self.download(upload))
        return [
            Reply(t(lang, "registered", photos=result.photos, limit=result.limit), private=True)
        ]

    async def whoami(self, chat: Chat, user: User, args: str, upload: Upload | None) -> list[Reply]:
        if upload is None:
            return await self._ask_photo("whoami_photo", chat, user, "/whoami")
        return await self._whoami_photo(chat, user, upload, await self.language(user))

    async def _whoami_photo(self, chat: Chat, user: User, upload: Upload, lang: str) -> list[Reply]:
        if limited := self._limited(user, lang):
            return limited
        results = await self.engine.whoami(chat.scope, await self.download(upload))
        if not results:
            return [Reply(t(lang, "whoami_none"))]
        if all(isinstance(r, Unknown) and r.best_similarity is None for r in results):
            return [Reply(t(lang, "whoami_empty_scope"))]
        lines = [
            t(lang, "whoami_match", number=n, name=r.person.display_name or "?")
            if isinstance(r, Match)
            else t(lang, "whoami_unknown", number=n)
            for n, r in enumerate(results, start=1)
        ]
        return [Reply("\n".join(lines))]

    async def forget(self, chat: Chat, user: User, args: str, upload: Upload | None) -> list[Reply]:
        lang = await self.language(user)
        question = self.questions.ask("forget", chat, user)
        buttons = (
            Button(t(lang, "forget_yes"), button_data(question, "yes")),
            Button(t(lang, "forget_no"), button_data(question, "no")),
        )
        return [Reply(t(lang, "forget_confirm"), buttons=buttons, private=True)]

    async def _forget_confirmed(self, question: Question, answer: str, lang: str) -> list[Reply]:
        if answer != "yes":
            return [Reply(t(lang, "forget_cancelled"), private=True)]
        result = await self.engine.forget(question.user.person())
        scores = 0
        for hook in self.forget_hooks:
            scores += await hook(question.user)
        if not result.anything and not scores:
            return [Reply(t(lang, "forgot_nothing"), private=True)]
        text = t(
            lang, "forgot", embeddings=result.embeddings, scopes=len(result.scopes), scores=scores
        )
        # The reply is in the language they had: the preference itself is gone now.
        return [Reply(text, private=True)]
