"""Registering, recognising and forgetting people: /register, /whoami, /forget, /mydata."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from bot import replies
from bot.commands import Command, Photo, Request
from bot.core import Button, Refused, Reply
from bot.limits import Question, button_data
from engine.errors import LookalikeError
from engine.registry import Match

if TYPE_CHECKING:
    from bot.conversation import Conversation

log = logging.getLogger(__name__)


class Registration:
    """The personal-data commands of the Conversation, with their consent and
    confirmation questions (drawn in docs/consent.mmd)."""

    def __init__(self, conversation: Conversation) -> None:
        self.conversation = conversation
        self.engine = conversation.engine

    def commands(self) -> list[Command]:
        return [
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
        ]

    # --- /register ------------------------------------------------------------------

    async def register(self, request: Request) -> list[Reply]:
        conversation = self.conversation
        # Consent is asked once per chat: who is registered here has given it already.
        if await self.engine.photos_registered(request.chat.scope, request.user.person()):
            if request.upload is None:
                return conversation.ask_photo(request, "register", self._register_photo)
            question = conversation.ask("register_photo", request, on_photo=self._register_photo)
            return await conversation.answer_photo(question, request)
        question = conversation.ask(
            "consent", request, upload=request.upload, on_answer=self._consented
        )
        buttons = (
            Button(request.t("yes"), button_data(question, "yes")),
            Button(request.t("no"), button_data(question, "no")),
        )
        return [Reply(request.t("register_explain"), buttons=buttons, ephemeral=True)]

    async def _consented(self, question: Question, answer: str, request: Request) -> list[Reply]:
        if answer != "yes":
            return [Reply(request.t("register_cancelled"), ephemeral=True)]
        photo_question = self.conversation.ask(
            "register_photo", request, on_photo=self._register_photo
        )
        if question.upload is None:
            return [Reply(request.t("register_send_photo"), ephemeral=True)]
        with_photo = Request(question.chat, question.user, request.lang, "", question.upload)
        return await self.conversation.answer_photo(photo_question, with_photo)

    async def _register_photo(self, request: Request) -> list[Reply]:
        upload = request.upload
        assert upload is not None
        again = Reply(request.t("register_again"), ephemeral=True)
        if upload.sender is not None and upload.sender != request.user.id:
            refusal = Reply(request.t("register_not_yours"), ephemeral=True)
            return Refused([refusal], asks_again=True)
        if refused := await self.conversation.admit(request):
            return Refused([*refused, again], asks_again=True)
        # No language is stored with it: only /lang keeps one, so /forget says true.
        person = request.user.person()
        try:
            data = await self.conversation.download(upload)
            result = await self.engine.register(request.chat.scope, person, data)
        except LookalikeError as exc:
            log.info("registration refused: %s", exc.code)
            text = replies.error(request.lang, exc.code, exc.details)
            return Refused([Reply(f"{text}\n{again.text}", ephemeral=True)], asks_again=True)
        await self.conversation.spent(request, result.work_s)
        text = request.t("registered", n=result.photos, limit=result.limit)
        return [Reply(text, ephemeral=True)]

    # --- /whoami ----------------------------------------------------------------------

    async def whoami(self, request: Request) -> list[Reply]:
        if refused := await self.conversation.admit(request):
            return Refused(refused)
        assert request.upload is not None  # Photo.REQUIRED
        data = await self.conversation.download(request.upload)
        found = await self.engine.whoami(request.chat.scope, data)
        await self.conversation.spent(request, found.work_s)
        if not found.anyone:
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

    # --- /forget, /mydata ---------------------------------------------------------------

    async def forget(self, request: Request) -> list[Reply]:
        question = self.conversation.ask("forget", request, on_answer=self._forget_confirmed)
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
        result = await self.engine.forget(question.user.person())
        scores = await self.conversation.forget_features(question.user)
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

    async def mydata(self, request: Request) -> list[Reply]:
        held = await self.engine.export(request.user.person())
        held.update(await self.conversation.export_features(request.user))
        document = json.dumps(held, indent=1, ensure_ascii=False).encode()
        return [
            Reply(request.t("mydata"), document=("lookalike-data.json", document), private=True)
        ]
