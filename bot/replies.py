"""What the bot says, in English and Spanish, with no platform code.

Texts are Python data, one table per language (`bot.texts_en`, `bot.texts_es`). A text is a string, or a plural
pair {"one": ..., "other": ...} chosen by a count. English and Spanish share one
plural rule (CLDR "one" is exactly 1), so a small helper does what gettext's
ngettext would, without a catalogue build step; a language with other rules would
need its forms here, or gettext with Babel-compiled catalogues.

The English texts of the errors a user can cause live once, in engine.errors; this
module translates them.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.texts_en import ENGLISH, Text
from bot.texts_es import SPANISH
from engine.errors import every_error

LANGUAGES = ("en", "es")
DEFAULT = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}

TEXTS: dict[str, dict[str, Text]] = {
    "en": {**{f"error.{cls.code}": cls.default_message for cls in every_error()}, **ENGLISH},
    "es": SPANISH,
}


def language(code: str | None) -> str:
    """The reply language for a platform's language code ("es-AR" -> "es"); English otherwise."""
    if code:
        base = code.lower().replace("_", "-").split("-")[0]
        if base in LANGUAGES:
            return base
    return DEFAULT


def _lookup(lang: str, key: str) -> Text:
    table = TEXTS.get(lang, TEXTS[DEFAULT])
    return table.get(key) or TEXTS[DEFAULT].get(key) or TEXTS[DEFAULT]["error.error"]


def _fill(text: str, values: dict[str, object]) -> str:
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return text


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English when missing), filled with ``values``.

    A plural text needs ``n``: its form is chosen by it (see `plural`)."""
    text = _lookup(lang, key)
    if isinstance(text, dict):
        return plural(lang, key, int(values.pop("n", 0)), **values)
    return _fill(text, values)


def plural(lang: str, key: str, n: int, **values: object) -> str:
    """The form of the plural text ``key`` for the count ``n``, filled with ``n`` and ``values``."""
    text = _lookup(lang, key)
    if isinstance(text, dict):
        # Both languages here: "one" for exactly 1, "other" for every other count.
        text = text["one"] if n == 1 else text["other"]
    return _fill(text, {"n": n, **values})


def join(lang: str, items: Sequence[str]) -> str:
    """ "a, b and c" in ``lang``."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {t(lang, 'and')} {items[-1]}"


def error(lang: str, code: str, details: dict[str, object]) -> str:
    """The reply for an engine error code, falling back to the generic apology."""
    key = f"error.{code}"
    if key not in TEXTS[DEFAULT]:
        key = "error.error"
    return t(lang, key, **details)


def meaning(percent: int) -> str:
    """The key of the words for a resemblance percentage."""
    # 95% of the default model's own held-out photos score 86% or more; a
    # stranger's best match scores 41-72% (5th to 95th percentile). Below 20,
    # the face is about as close as anyone else's: no resemblance to speak of.
    if percent >= 85:
        return "meaning_same"
    if percent >= 65:
        return "meaning_strong"
    if percent >= 45:
        return "meaning_some"
    if percent >= 20:
        return "meaning_faint"
    return "meaning_none"
