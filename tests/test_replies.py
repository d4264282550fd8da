"""What the bot says: plurals, the words beside a score, one copy of each error text."""

from __future__ import annotations

import json

from bot import replies
from engine.errors import every_error


def test_plurals_agree_in_both_languages() -> None:
    t = replies.t
    chats = t("en", "forgot_chats", n=1)
    assert t("en", "forgot_embeddings", n=1, chats=chats) == "1 face embedding from 1 chat"
    chats = t("es", "forgot_chats", n=3)
    assert t("es", "forgot_embeddings", n=2, chats=chats) == "2 huellas faciales de 3 chats"
    assert t("es", "forgot_scores", n=1) == "1 puntuación del juego"
    assert t("en", "leaderboard_points", n=1) == "1 point"
    assert t("es", "leaderboard_points", n=0) == "0 puntos"
    assert t("en", "no_model", n=1).endswith("I found 1 face.")
    assert replies.join("es", ["a", "b", "c"]) == "a, b y c"
    assert "(s)" not in json.dumps(replies.TEXTS, ensure_ascii=False)


def test_low_scores_are_not_called_a_resemblance() -> None:
    assert replies.meaning(0) == replies.meaning(12) == "meaning_none"
    assert replies.t("en", replies.meaning(12)) == "hardly any resemblance"
    assert [replies.meaning(p) for p in (20, 45, 65, 85)] == [
        "meaning_faint",
        "meaning_some",
        "meaning_strong",
        "meaning_same",
    ]


def test_error_texts_exist_once_in_english_and_in_spanish() -> None:
    for cls in every_error():
        key = f"error.{cls.code}"
        assert replies.TEXTS["en"][key] == cls.default_message  # the engine's is the one copy
        assert key in replies.SPANISH, f"no Spanish for {key}"
    assert not [k for k in replies.ENGLISH if k.startswith("error.") and k != "error.game_no_round"]
