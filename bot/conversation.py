"""The conversation rules every platform shares: what each photo, command and button does."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import time
import types
from collections.abc import Awaitable, Callable, Mapping

from bot import replies
from bot.commands import Argument, Choice, Command, Photo, Request, help_lines
from bot.config import BotSettings
from bot.core import Button, Chat, Picture, Pressed, Reply, Upload, User
from bot.limits import Limits, Question, Questions, button_data, parse_button
from bot.replies import t
from engine.engine import Engine
from engine.errors import FileTooLarge, LookalikeError, UnsupportedImage
from engine.pipeline import PhotoResult
from engine.registry import Match

log = logging.getLogger(__name__)

# A photo hook sees photos before the default rules; it returns None to pass.
PhotoHook = Callable[[Request], Awaitable[list[Reply] | None]]
PHOTO_TYPES = ("image/",)
# Questions answered by the user's next photo in the chat.
PHOTO_QUESTIONS = ("register_photo", "whoami_photo", "lookalike_photo")
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
    ) -> None:
        clock = clock or time.monotonic
        self.engine = engine
        self.settings = settings
        self.limits = limits or Limits(
            settings.rate_limit_photos,
            settings.rate_limit_work_seconds,
            settings.rate_limit_seconds,
            clock,
        )
        self.questions = Questions(settings.consent_timeout, clock)
        self._commands: dict[str, Command] = {}
        self._photo_hooks: list[PhotoHook] = []
        self._forget_hooks: list[Callable[[User], Awaitable[int]]] = []
        self._export_hooks: dict[str, Callable[[User], Awaitable[object]]] = {}
        for command in self._builtin():
            self.add_command(command)

    def _builtin(self) -> list[Command]:
        """The table of the conversation's own commands."""
        return [
            Command("start", self.help, {"en": "Start"}, hidden=True),
            Command(
                "lookalike",
                self.lookalike,
                {
                    "en": "Which celebrities do you look like? (send or reply to a photo)",
                    "es": "¿A qué famosos te pareces? (manda una foto o responde a una)",
                },
                photo=Photo.REQUIRED,
            ),
            Command(
                "register",
                self.register,
                {
                    "en": "Let me recognise you in this chat (asks first)",
                    "es": "Para que te reconozca en este chat (antes te pregunto)",
                },
                photo=Photo.OPTIONAL,
                personal=True,
            ),
            Command(
                "whoami",
                self.whoami,
                {
                    "en": "Who is in this photo, among the people registered here",
                    "es": "Quién sale en la foto, entre quienes se registraron aquí",
                },
                photo=Photo.REQUIRED,
            ),
            Command(
                "forget",
                self.forget,
                {
                    "en": "Erase everything I keep about you",
                    "es": "Borra todo lo que guardo sobre ti",
                },
                personal=True,
            ),
            Command(
                "mydata",
                self.mydata,
                {
                    "en": "See everything I keep about you",
                    "es": "Mira todo lo que guardo sobre ti",
                },
                private_only=True,
                personal=True,
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
            return self._ask_photo(f"{command.name}_photo", request)
        return await self.safely(request, command.handler(request))

    async def on_photo(
        self, chat: Chat, user: User, upload: Upload, addressed: bool = True
    ) -> list[Reply]:
        """A photo without a command. In groups it is answered only when ``addressed``
        (the bot was mentioned or replied to), or when the bot asked for it."""
        request = Request(chat, user, await self.language(user), "", upload)
        question = self.questions.get(chat, user)
        if question is not None and question.kind in PHOTO_QUESTIONS:
            return await self.safely(request, self._answer_photo(question, request))
        for hook in self._photo_hooks:
            handled = await self.safely(request, hook(request), passthrough=True)
            if handled is not None:
                return handled
        if chat.is_group and not addressed:
            return []
        return await self.safely(request, self._lookalike_photo(request))

    async def on_button(self, chat: Chat, user: User, data: str) -> Pressed:
        """A button press: only the user who was asked may answer, and only once."""
        request = Request(chat, user, await self.language(user))
        parsed = parse_button(data)
        if parsed is None:
            return Pressed(notice=request.t("expired"), settled=True)
        kind, answer, owner, token = parsed
        if owner != user.id:
            return Pressed(notice=request.t("not_yours"))
        question = self.questions.get(chat, user)
        if question is None or question.kind != kind or question.token != token:
            return Pressed(notice=request.t("expired"), settled=True)
        self.questions.close(question)
        handlers = {
            "consent": self._consented,
            "forget": self._forget_confirmed,
            "lang": self._lang_chosen,
        }
        replies_ = await self.safely(request, handlers[kind](question, answer, request))
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

    def _ask_photo(self, kind: str, request: Request) -> list[Reply]:
        self.questions.ask(kind, request.chat, request.user)
        return [Reply(request.t("need_photo", command=f"/{kind.removesuffix('_photo')}"))]

    async def _answer_photo(self, question: Question, request: Request) -> list[Reply]:
        """The photo a question asked for. A refused one leaves the question open."""
        actions = {
            "register_photo": self._register_photo,
            "whoami_photo": self._whoami_photo,
            "lookalike_photo": self._lookalike_photo,
        }
        answer = await self.safely(request, actions[question.kind](request))
        if not isinstance(answer, Refused):
            self.questions.close(question)
        elif question.kind != "register_photo":  # whose refusals say it themselves
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
        question = self.questions.ask("lang", request.chat, request.user)
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

    async def mydata(self, request: Request) -> list[Reply]:
        held = await self.engine.export(request.user.person())
        for section, hook in self._export_hooks.items():
            held[section] = await hook(request.user)
        document = json.dumps(held, indent=1, ensure_ascii=False).encode()
        return [
            Reply(request.t("mydata"), document=("lookalike-data.json", document), private=True)
        ]

    # --- lookalike -----------------------------------------------------------------

    async def lookalike(self, request: Request) -> list[Reply]:
        assert request.upload is not None  # Photo.REQUIRED
        return await self._lookalike_photo(request)

    async def _lookalike_photo(self, request: Request) -> list[Reply]:
        if refused := await self.admit(request):
            return Refused(refused)
        assert request.upload is not None
        result = await self.engine.lookalike(await self.download(request.upload), render=True)
        await self.spent(request, result.work_s)
        return [self.describe(result, request.lang)]

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
            return Reply(t(lang, "no_model", n=len(result.faces)), tuple(pictures))
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
        lines.append(t(lang, "score_note"))
        return Reply("\n".join(lines), tuple(pictures))

    # --- register / whoami / forget ---------------------------------------------------

    async def register(self, request: Request) -> list[Reply]:
        # Consent is asked once per chat: who is registered here has given it already.
        if await self.engine.photos_registered(request.chat.scope, request.user.person()):
            if request.upload is None:
                return self._ask_photo("register_photo", request)
            return await self._answer_photo(
                self.questions.ask("register_photo", request.chat, request.user), request
            )
        question = self.questions.ask("consent", request.chat, request.user, request.upload)
        buttons = (
            Button(request.t("yes"), button_data(question, "yes")),
            Button(request.t("no"), button_data(question, "no")),
        )
        return [Reply(request.t("register_explain"), buttons=buttons, ephemeral=True)]

    async def _consented(self, question: Question, answer: str, request: Request) -> list[Reply]:
        if answer != "yes":
            return [Reply(request.t("register_cancelled"), ephemeral=True)]
        photo_question = self.questions.ask("register_photo", question.chat, question.user)
        if question.upload is None:
            return [Reply(request.t("register_send_photo"), ephemeral=True)]
        upload_request = Request(question.chat, question.user, request.lang, "", question.upload)
        return await self._answer_photo(photo_question, upload_request)

    async def _register_photo(self, request: Request) -> list[Reply]:
        upload = request.upload
        assert upload is not None
        if upload.sender is not None and upload.sender != request.user.id:
            return Refused([Reply(request.t("register_not_yours"), ephemeral=True)])
        if refused := await self.admit(request):
            return Refused([*refused, Reply(request.t("register_again"), ephemeral=True)])
        # The language they are answered in is the one stored with the registration.
        person = request.user.person(request.lang)
        try:
            result = await self.engine.register(
                request.chat.scope, person, await self.download(upload)
            )
        except LookalikeError as exc:
            log.info("registration refused: %s", exc.code)
            text = replies.error(request.lang, exc.code, exc.details)
            return Refused([Reply(f"{text}\n{request.t('register_again')}", ephemeral=True)])
        await self.spent(request, result.work_s)
        text = request.t("registered", n=result.photos, limit=result.limit)
        return [Reply(text, ephemeral=True)]

    async def whoami(self, request: Request) -> list[Reply]:
        return await self._whoami_photo(request)

    async def _whoami_photo(self, request: Request) -> list[Reply]:
        if refused := await self.admit(request):
            return Refused(refused)
        assert request.upload is not None
        found = await self.engine.whoami(request.chat.scope, await self.download(request.upload))
        await self.spent(request, found.work_s)
        if not found.people:
            return [Reply(request.t("whoami_empty_scope"))]
        if not found.faces:
            return [Reply(request.t("whoami_none"))]
        lines = []
        if found.total_faces > len(found.faces):
            lines.append(request.t("faces_capped", total=found.total_faces, shown=len(found.faces)))
        lines += [
            request.t("whoami_match", number=n, name=r.person.display_name or "?")
            if isinstance(r, Match)
            else request.t("whoami_unknown", number=n)
            for n, r in enumerate(found.faces, start=1)
        ]
        return [Reply("\n".join(lines))]

    async def forget(self, request: Request) -> list[Reply]:
        question = self.questions.ask("forget", request.chat, request.user)
        buttons = (
            Button(request.t("forget_yes"), button_data(question, "yes")),
            Button(request.t("forget_no"), button_data(question, "no")),
        )
        return [Reply(request.t("forget_confirm"), buttons=buttons, ephemeral=True)]

    async def _forget_confirmed(
        self, question: Question, answer: str, request: Request
    ) -> list[Reply]:
        if answer != "yes":
            return [Reply(request.t("forget_cancelled"), ephemeral=True)]
        person = question.user.person()
        result = await self.engine.forget(person)
        scores = 0
        for hook in self._forget_hooks:
            scores += await hook(question.user)
        if not result.anything and not scores:
            return [Reply(request.t("forgot_nothing"), ephemeral=True)]
        erased = []
        if result.embeddings:
            chats = request.t("forgot_chats", n=len(result.scopes))
            erased.append(request.t("forgot_embeddings", n=result.embeddings, chats=chats))
        if result.language:
            erased.append(request.t("forgot_language"))
        if scores:
            erased.append(request.t("forgot_scores", n=scores))
        if not erased:
            return [Reply(request.t("forgot_nothing"), ephemeral=True)]
        # The reply is in the language they had: the preference itself is gone now.
        text = request.t("forgot", what=replies.join(request.lang, erased))
        return [Reply(text, ephemeral=True)]


class Refused(list):
    """Replies that refuse a photo (no face, several, too fast...): a question that asked
    for the photo stays open, so the user's next photo still answers it."""

    refused = True
