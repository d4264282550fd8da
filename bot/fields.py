"""Celebrity fields in the conversation: /lookalike sport, and /fields for a chat's default."""

from __future__ import annotations

from collections.abc import Sequence

from bot import replies
from bot.commands import Argument, Choice, Command, Request
from bot.core import Reply
from engine.celebrities import FIELDS, folded
from engine.engine import Engine

# "all" in either language puts a chat back on the default.
EVERY = ("all", "todos", "todas", "todo")
# Words people type for a field besides its name and its labels, in both languages.
ALIASES = {
    "films": "film", "movies": "film", "tv": "film", "actors": "film", "cine": "film",
    "television": "film", "musica": "music", "musicians": "music", "sports": "sport",
    "deportes": "sport", "politicians": "politics", "royals": "royalty", "realeza": "royalty",
    "empresa": "business", "negocios": "business", "ciencia": "science", "otros": "other",
}  # fmt: skip


def _words() -> dict[str, str]:
    words = {folded(k): v for k, v in ALIASES.items()}
    for field in FIELDS:
        words[field] = field
        for lang in replies.LANGUAGES:
            words[folded(replies.t(lang, f"field.{field}"))] = field
            words[folded(replies.t(lang, f"field.{field}").split()[0])] = field
    return words


WORDS = _words()


def parse(text: str) -> tuple[tuple[str, ...], list[str], bool]:
    """The fields ``text`` names (in FIELDS order), the words that name none, and
    whether it asks for every field ("all")."""
    tokens = [w for w in text.replace(",", " ").replace("&", " ").split() if w]
    found, unknown, every = set(), [], False
    for token in tokens:
        plain = folded(token)
        if plain in EVERY:
            every = True
        elif plain in WORDS:
            found.add(WORDS[plain])
        elif plain not in ("y", "and"):
            unknown.append(token)
    return tuple(f for f in FIELDS if f in found), unknown, every


def names(lang: str, fields: Sequence[str]) -> str:
    """ "sport and music", in the language; "every field" for none."""
    if not fields:
        return replies.t(lang, "fields_every")
    return replies.join(lang, [replies.t(lang, f"field.{f}") for f in fields])


FIELD_ARGUMENT = Argument(
    "field",
    {"en": "Only celebrities of this field", "es": "Solo famosos de este campo"},
    tuple(Choice(f, replies.t("en", f"field.{f}")) for f in FIELDS),
)
FIELDS_ARGUMENT = Argument(
    "fields",
    {
        "en": "Fields, e.g. film music sport; all for every field",
        "es": "Campos, p. ej. cine música deporte; todos para todos",
    },
)


async def fields_for(engine: Engine, request: Request) -> tuple[tuple[str, ...], list[Reply]]:
    """The fields a lookalike request answers from, or the reply refusing its words:
    the ones it names, else its chat's choice."""
    named, unknown, every = parse(request.args)
    if unknown:
        return (), [unknown_reply(request, unknown)]
    if named or every:
        return named, []
    return await engine.chat_fields(request.chat.scope), []


def unknown_reply(request: Request, unknown: list[str]) -> Reply:
    return Reply(
        request.t("fields_unknown", words=" ".join(unknown), fields=names(request.lang, FIELDS))
    )


class ChatFields:
    """/fields: which celebrity fields a chat's answers come from, for everyone in it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def commands(self) -> list[Command]:
        return [
            Command(
                "fields",
                self.command,
                {
                    "en": "Which kinds of celebrities this chat's answers come from",
                    "es": "De qué tipo de famosos salen las respuestas en este chat",
                },
                argument=FIELDS_ARGUMENT,
            )
        ]

    async def command(self, request: Request) -> list[Reply]:
        scope = request.chat.scope
        if not request.args:
            now = await self.engine.chat_fields(scope)
            return [Reply(request.t("fields_now", fields=names(request.lang, now)))]
        chosen, unknown, every = parse(request.args)
        if unknown:
            return [unknown_reply(request, unknown)]
        await self.engine.set_chat_fields(scope, None if every else chosen)
        now = await self.engine.chat_fields(scope)
        return [Reply(request.t("fields_set", fields=names(request.lang, now)))]
