"""The conversation rules every platform shares: what each photo, command and button does."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import math
import time
import types
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from bot import replies
from bot.commands import Argument, Choice, Command, Handler, Photo, Request, help_lines
from bot.config import BotSettings
from bot.core import Button, Chat, Picture, Pressed, Refused, Reply, Upload, User
from bot.fields import FIELD_ARGUMENT, ChatFields, fields_for
from bot.fields import names as field_names
from bot.limits import Limits, Question, Questions, button_data, parse_button
from bot.replies import t
from engine.engine import Engine
from engine.errors import FileTooLarge, LookalikeError, UnsupportedImage
from engine.pipeline import PhotoResult

log = logging.getLogger(__name__)

# A photo hook sees photos before the default rules; it returns None to pass.
PhotoHook = Callable[[Request], Awaitable[list[Reply] | None]]
PHOTO_TYPES = ("image/",)
# Above this many faces, each gets one line (its closest celebrity), so that the
# answer for a crowd stays one readable message.
DETAILED_FACES = 5

LANGUAGE_ARGUMENT = Argument(
    "language",
    {"en": "Leave it out to choose with buttons", "es": "Sin él, eliges con botones"},
    tuple(Choice(code, replies.LANGUAGE_NAMES[code]) for code in replies.LANGUAGES),
)


class Conversation:
    """One per process, shared by the adapters. Each method returns what to send.

    Nothing here knows a platform: adapters turn their events into these calls
    and the replies into their messages. Every method ends in replies, never
    in an exception: errors become friendly text and a log line.

    It owns the command table (`commands`); features such as the game add theirs
    with `add_command`, and hook into photos, /forget and /mydata.
    """

    def __init__(
        self,
        engine: Engine,
        settings: BotSettings,
        clock: Callable[[], float] | None = None,
        limits: Limits | None = None,
        *,
        shared: bool = False,
    ) -> None:
        """``shared``: keep rate limits and open questions in the database, for replicas
        of this bot that share it (bot.shared)."""
        clock = clock or time.monotonic
        self.engine = engine
        self.settings = settings
        budgets = (
            settings.rate_limit_photos,
            settings.rate_limit_work_seconds,
            settings.rate_limit_seconds,
        )
        if shared:
            from bot.shared import SharedLimits, SharedQuestions

            self.limits = limits or SharedLimits(engine, *budgets)
            self.questions: Questions = SharedQuestions(
                engine, settings.consent_timeout, clock, owners=self._owners
            )
        else:
            self.limits = limits or Limits(*budgets, clock)
            self.questions = Questions(settings.consent_timeout, clock)
        self._commands: dict[str, Command] = {}
        self._photo_hooks: list[PhotoHook] = []
        self._forget_hooks: list[Callable[[User], Awaitable[int]]] = []
        self._export_hooks: dict[str, Callable[[User], Awaitable[object]]] = {}
        from bot.registration import Registration  # it builds on this module

        features = [*Registration(self).commands(), *ChatFields(engine).commands()]
        for command in [*self._builtin(), *features]:
            self.add_command(command)

    def _owners(self) -> list[object]:
        """The objects whose methods a question's actions can be: this and the features."""
        owners = [self, *(getattr(c.handler, "__self__", None) for c in self._commands.values())]
        return list({id(o): o for o in owners if o is not None}.values())

    def _builtin(self) -> list[Command]:
        """The table of the conversation's own commands."""
        return [
            Command("start", self.help, {"en": "Start"}, hidden=True),
            Command(
                "lookalike",
                self.lookalike,
                {
                    "en": "Which celebrities do you look like? (with a photo; "
                    "/lookalike sport: only athletes)",
                    "es": "¿A qué famosos te pareces? (con una foto; "
                    "/lookalike deporte: solo deportistas)",
                },
                photo=Photo.REQUIRED,
                argument=FIELD_ARGUMENT,
            ),
            Command(
                "lang",
                self.lang,
                {"en": "English / español", "es": "English / español"},
                argument=LANGUAGE_ARGUMENT,
                personal=True,
            ),
            Command("help", self.help, {"en": "What I can do", "es": "Qué sé hacer"}),
            Command(
                "privacy",
                self.privacy,
                {"en": "What I store, and for how long", "es": "Qué guardo, y cuánto tiempo"},
            ),
            Command(
                "stats",
                self.stats,
                {"en": "How the bot is doing (admins only)", "es": "Cómo va el bot (admins)"},
                admin=True,
                private_only=True,
            ),
        ]

    # --- the table and its hooks --------------------------------------------------

    @property
    def commands(self) -> Mapping[str, Command]:
        """Every command, by name, in the order they were added."""
        return types.MappingProxyType(self._commands)

    def add_command(self, command: Command) -> None:
        if command.name in self._commands:
            raise ValueError(f"/{command.name} is already a command")
        self._commands[command.name] = command

    def add_photo_hook(self, hook: PhotoHook) -> None:
        """``hook`` sees every photo without a command before the default rules."""
        self._photo_hooks.append(hook)

    def add_forget_hook(self, hook: Callable[[User], Awaitable[int]]) -> None:
        """``hook`` erases a feature's data on /forget and returns the rows it deleted."""
        self._forget_hooks.append(hook)

    def add_export_hook(self, section: str, hook: Callable[[User], Awaitable[object]]) -> None:
        """``hook`` adds a feature's data about a user to /mydata, under ``section``."""
        self._export_hooks[section] = hook

    async def forget_features(self, user: User) -> int:
        """Erase what the features keep about ``user``; the rows they deleted."""
        return sum([await hook(user) for hook in self._forget_hooks])

    async def export_features(self, user: User) -> dict[str, object]:
        """What the features keep about ``user``, by section."""
        return {section: await hook(user) for section, hook in self._export_hooks.items()}

    async def language(self, user: User) -> str:
        """The user's reply language: their stored choice, else the platform's guess."""
        stored = None
        if not user.anonymous:
            with contextlib.suppress(LookalikeError):  # no database now: the platform's guess
                stored = await self.engine.language(user.person())
        return stored or replies.language(user.language_code)

    # --- entry points ------------------------------------------------------------

    async def on_command(
        self,
        chat: Chat,
        user: User,
        name: str,
        args: str = "",
        upload: Upload | None = None,
        *,
        private_ok: bool = False,
    ) -> list[Reply]:
        """A command (without its slash), its arguments, and a photo sent with it, if any.

        ``private_ok``: the platform can answer this one so that only the user sees it."""
        request = Request(chat, user, await self.language(user), args.strip(), upload, private_ok)
        command = self._commands.get(name.lower())
        if command is None:
            return [Reply(request.t("unknown_command"))]
        if command.personal and user.anonymous:
            return [Reply(request.t("anonymous", command=f"/{command.name}"))]
        if command.admin and not self.settings.is_admin(user.platform, user.id):
            return [Reply(request.t("admins_only"))]
        if command.private_only and chat.is_group and not private_ok:
            return [Reply(request.t("private_only", command=f"/{command.name}"))]
        if command.photo is Photo.REQUIRED and upload is None:
            # The photo, when it comes, is worked on with the arguments given now.
            def action(later: Request, args: str = request.args) -> Awaitable[list[Reply]]:
                return command.handler(dataclasses.replace(later, args=args))

            return self.ask_photo(request, command.name, action)
        return await self.safely(request, command.handler(request))

    async def on_photo(
        self, chat: Chat, user: User, upload: Upload, addressed: bool = True
    ) -> list[Reply]:
        """A photo without a command. In groups it is answered only when ``addressed``
        (the bot was mentioned or replied to), or when the bot asked for it."""
        request = Request(chat, user, await self.language(user), "", upload)
        question = await self.questions.fetch(chat, user)
        if question is not None and question.on_photo is not None:
            return await self.answer_photo(question, request)
        for hook in self._photo_hooks:
            handled = await self.safely(request, hook(request), passthrough=True)
            if handled is not None:
                return handled
        if chat.is_group and not addressed:
            return []
        return await self.safely(request, self.lookalike(request))

    async def on_button(self, chat: Chat, user: User, data: str) -> Pressed:
        """A button press: only the user who was asked may answer, and only once."""
        request = Request(chat, user, await self.language(user))
        parsed = parse_button(data)
        if parsed is None:
            return Pressed(notice=request.t("expired"), settled=True)
        kind, answer, owner, token = parsed
        if owner != user.id:
            return Pressed(notice=request.t("not_yours"))
        question = await self.questions.fetch(chat, user)
        if question is None or question.kind != kind or question.token != token:
            return Pressed(notice=request.t("expired"), settled=True)
        if not await self.questions.take(question):  # pressed twice: answered already
            return Pressed(notice=request.t("expired"), settled=True)
        if question.on_answer is None:  # a question that takes no buttons
            return Pressed(notice=request.t("expired"), settled=True)
        replies_ = await self.safely(request, question.on_answer(question, answer, request))
        return Pressed(replies=tuple(replies_), settled=True)

    async def safely(self, request: Request, action: Awaitable, passthrough: bool = False):
        """``action``'s replies; a user's error becomes its friendly text, anything else
        the generic apology (or None with ``passthrough``) and a log line."""
        try:
            return await action
        except LookalikeError as exc:
            log.info("refused: %s", exc.code)
            return Refused([Reply(replies.error(request.lang, exc.code, exc.details))])
        except Exception:
            log.exception("a request failed")
            return [Reply(request.t("error.error"))] if not passthrough else None

    # --- limits and downloads, shared with the features -----------------------------

    async def admit(self, request: Request) -> list[Reply] | None:
        """None when the user may have a photo looked at now; else the reply saying when."""
        refusal = await self.limits.admit(request.user)
        if refusal is None:
            return None
        return [Reply(request.t(refusal.key, seconds=max(1, math.ceil(refusal.seconds))))]

    async def spent(self, request: Request, seconds: float) -> None:
        """Count the model worker's time spent on the user's request."""
        await self.limits.spent(request.user, seconds)

    async def download(self, upload: Upload) -> bytes:
        """The photo's bytes, after checking its declared size and type."""
        limit = self.engine.settings.max_upload_bytes
        if upload.size is not None and upload.size > limit:
            raise FileTooLarge(limit_mb=limit / 1e6)
        if upload.content_type and not upload.content_type.startswith(PHOTO_TYPES):
            raise UnsupportedImage()
        return await upload.fetch()

    def ask(self, kind: str, request: Request, **fields: Any) -> Question:
        """Open a question to the request's user in its chat (``fields``: upload,
        on_photo, on_answer; see `Question`); it replaces the one they had open there."""
        return self.questions.ask(kind, request.chat, request.user, **fields)

    def ask_photo(self, request: Request, name: str, action: Handler) -> list[Reply]:
        """Ask for the photo /``name`` needs; ``action`` gets the user's next photo here."""
        self.ask(f"{name}_photo", request, on_photo=action)
        return [Reply(request.t("need_photo", command=f"/{name}"))]

    async def answer_photo(self, question: Question, request: Request) -> list[Reply]:
        """Run the question's photo action. A refused photo leaves the question open, and
        the answer says so."""
        assert question.on_photo is not None
        answer = await self.safely(request, question.on_photo(request))
        if not isinstance(answer, Refused):
            self.questions.close(question)
        elif not answer.asks_again:
            answer.append(Reply(request.t("photo_again")))
        return answer

    # --- simple commands -----------------------------------------------------------

    async def help(self, request: Request) -> list[Reply]:
        text = request.t("help", commands=help_lines(self._commands, request.lang))
        if request.chat.is_group:
            text += "\n\n" + request.t("group_hint")
        return [Reply(text)]

    async def privacy(self, request: Request) -> list[Reply]:
        return [Reply(request.t("privacy", days=self.engine.settings.retention_days))]

    async def lang(self, request: Request) -> list[Reply]:
        wanted = request.args[:2].lower()
        choice = replies.language(wanted) if wanted in replies.LANGUAGES else None
        if choice:
            await self.engine.set_language(request.user.person(), choice)
            return [Reply(t(choice, "lang_set"))]
        question = self.ask("lang", request, on_answer=self._lang_chosen)
        buttons = tuple(
            Button(replies.LANGUAGE_NAMES[code], button_data(question, code))
            for code in replies.LANGUAGES
        )
        return [Reply(request.t("lang_choose"), buttons=buttons)]

    async def _lang_chosen(self, question: Question, answer: str, request: Request) -> list[Reply]:
        choice = replies.language(answer)
        await self.engine.set_language(question.user.person(), choice)
        return [Reply(t(choice, "lang_set"))]

    async def stats(self, request: Request) -> list[Reply]:
        counts = await self.engine.stats()
        people = counts.pop("celebrities", None)
        if people is None:
            model = request.t("stats_no_model")
        else:
            model = request.t("stats_model", n=people)
        return [Reply(request.t("stats", model=model, **counts), private=True)]

    # --- lookalike -----------------------------------------------------------------

    async def lookalike(self, request: Request) -> list[Reply]:
        """/lookalike with a photo, or a photo on its own (Photo.REQUIRED: there is one)."""
        fields, refused = await fields_for(self.engine, request)
        if refused:
            return Refused(refused)
        if refused := await self.admit(request):
            return Refused(refused)
        assert request.upload is not None
        data = await self.download(request.upload)
        result = await self.engine.lookalike(data, render=True, fields=fields or None)
        await self.spent(request, result.work_s)
        return [self.describe(result, request.lang, fields)]

    def describe(self, result: PhotoResult, lang: str, fields: Sequence[str] = ()) -> Reply:
        """The answer to a lookalike photo: text per face, the numbered photo, the collage."""
        pictures = []
        if result.annotated:
            pictures.append(Picture("faces.jpg", result.annotated))
        if result.collage:
            pictures.append(Picture("lookalikes.jpg", result.collage))
        if not result.faces:
            return Reply(t(lang, "no_faces"))
        if not result.model_available:
            return Reply(t(lang, "no_model", n=len(result.faces)), tuple(pictures))
        if fields and not any(face.predictions for face in result.faces):
            return Reply(t(lang, "fields_nobody", fields=field_names(lang, fields)))
        lines = []
        if result.total_faces > len(result.faces):
            lines += [t(lang, "faces_capped", total=result.total_faces, shown=len(result.faces))]
        detailed = len(result.faces) <= DETAILED_FACES
        for number, face in enumerate(result.faces, start=1):
            shown = face.predictions if detailed else face.predictions[:1]
            if detailed:
                key = "face_header" if len(result.faces) > 1 else "face_header_single"
                lines.append(t(lang, key, number=number))
            for rank, p in enumerate(shown, start=1):
                meaning = t(lang, replies.meaning(p.score))
                lines.append(
                    t(
                        lang,
                        "prediction",
                        rank=rank if detailed else number,
                        name=p.name,
                        percent=p.score,
                        meaning=meaning,
                    )
                )
            if detailed:
                lines.append("")
        if not detailed:
            lines.append("")
        if fields:
            lines.append(t(lang, "fields_only", fields=field_names(lang, fields)))
        lines.append(t(lang, "score_note"))
        return Reply("\n".join(lines), tuple(pictures))
