"""What the bot says, in English and Spanish, with no platform code.

Texts are Python data, one table per language. A text is a string, or a plural
pair {"one": ..., "other": ...} chosen by a count. English and Spanish share one
plural rule (CLDR "one" is exactly 1), so a small helper does what gettext's
ngettext would, without a catalogue build step; a language with other rules would
need its forms here, or gettext with Babel-compiled catalogues.

The English texts of the errors a user can cause live once, in engine.errors; this
module translates them.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.errors import every_error

LANGUAGES = ("en", "es")
DEFAULT = "en"
LANGUAGE_NAMES = {"en": "English", "es": "Español"}

Text = str | dict[str, str]

ENGLISH: dict[str, Text] = {
    "help": (
        "Hi! Send me a photo and I'll tell you which celebrities each face looks like.\n\n"
        "{commands}\n\n"
        "I keep no photos. /privacy explains what I store and how to erase it."
    ),
    "group_hint": "In groups, mention me in the photo's caption, reply to me, or use /lookalike.",
    "privacy": (
        "Privacy:\n"
        "• I never keep your photos. I look at them, answer, and drop them.\n"
        "• If you /register, I store a face embedding (a list of 128 numbers that cannot be "
        "turned back into a photo), your display name, your language and when you agreed, "
        "for this chat only.\n"
        "• Registrations unused for {days} days are deleted.\n"
        "• Game scores are kept per chat.\n"
        "• /forget erases all of it, everywhere, at once."
    ),
    "lang_set": "I'll speak English with you.",
    "lang_choose": "Which language? / ¿Qué idioma?",
    "rate_limited": "You're sending photos faster than I can look. Try again in {seconds} s.",
    "rate_limited_work": (
        "Your last photos kept me busy for a while. Try again in {seconds} s, please."
    ),
    "need_photo": "Send me a photo (or reply to one) with {command}.",
    "private_only": (
        "For your privacy I answer {command} only in a private chat with me. "
        "Open one and send it there."
    ),
    "anonymous": (
        "You're posting anonymously (as the group or as a channel), so I can't tell who you "
        "are. Send {command} from your own account."
    ),
    "no_model": {
        "one": "The celebrity model isn't available right now, but I found {n} face.",
        "other": "The celebrity model isn't available right now, but I found {n} faces.",
    },
    "no_faces": (
        "I couldn't find a face in that photo. Try one where the face is larger and well lit."
    ),
    "faces_capped": "I found {total} faces; here are the {shown} largest.",
    "face_header": "Face {number}:",
    "face_header_single": "Your lookalikes:",
    "prediction": "{rank}. {name} – {percent}% ({meaning})",
    "field.film": "Film & TV",
    "field.music": "Music",
    "field.sport": "Sport",
    "field.politics": "Politics",
    "field.royalty": "Royalty",
    "field.business": "Business",
    "field.science": "Science",
    "field.other": "Other",
    "fields_every": "every field",
    "fields_now": (
        "Answers in this chat come from {fields}. Change it with /fields and the fields, "
        "e.g. /fields film music sport, or /fields all."
    ),
    "fields_set": "Done: answers in this chat now come from {fields}.",
    "fields_unknown": "I don't know the field “{words}”. The fields are: {fields}.",
    "fields_only": "Among {fields} only.",
    "fields_nobody": "I know no celebrities of {fields} yet: try another field, or none.",
    "meaning_same": "could be the same person",
    "meaning_strong": "a strong resemblance",
    "meaning_some": "some resemblance",
    "meaning_faint": "a faint resemblance",
    "meaning_none": "hardly any resemblance",
    "score_note": (
        "100% is as close as that celebrity's own photos usually are; 0% is as close as "
        "anyone else's. Most people's best match scores 40–70%."
    ),
    "register_explain": (
        "To recognise you in this chat I'll store a face embedding: 128 numbers computed "
        "from a photo of you (not the photo itself), with your display name. The photo must "
        "be of you, alone. Only /whoami in this chat uses it, and /forget erases it. "
        "Do you agree?"
    ),
    "yes": "Yes, I agree",
    "no": "No, thanks",
    "register_send_photo": "Thanks! Now send me a clear photo of your face, alone.",
    "register_again": "Send me another photo of your face when you're ready.",
    "photo_again": "Send me another photo when you're ready: I'm still waiting for one.",
    "register_not_yours": (
        "I only register a photo that you send yourself. Send me a photo of your own face."
    ),
    "register_cancelled": "OK, nothing was stored.",
    "registered": {
        "one": "Done: I'll recognise you here. You have {n} of {limit} photos registered.",
        "other": "Done: I'll recognise you here. You have {n} of {limit} photos registered.",
    },
    "not_yours": "This button is for the person who asked.",
    "expired": "This question has expired. Please start again.",
    "whoami_none": "I couldn't find a face in that photo.",
    "whoami_match": "Face {number}: {name}",
    "whoami_unknown": "Face {number}: I don't know this person here.",
    "whoami_empty_scope": "Nobody has registered in this chat yet. Use /register.",
    "forget_confirm": (
        "This erases everything I keep about you: your face embeddings in every chat, "
        "your language and your game scores. Continue?"
    ),
    "forget_yes": "Erase everything",
    "forget_no": "Cancel",
    "forget_cancelled": "Nothing was erased.",
    "forgot": "Done. I erased {what}.",
    "forgot_embeddings": {
        "one": "{n} face embedding from {chats}",
        "other": "{n} face embeddings from {chats}",
    },
    "forgot_chats": {"one": "{n} chat", "other": "{n} chats"},
    "forgot_language": "your language preference",
    "forgot_scores": {"one": "{n} game score", "other": "{n} game scores"},
    "forgot_nothing": "I had nothing stored about you.",
    "and": "and",
    "mydata": "Here is everything I keep about you, as JSON. /forget erases it.",
    "admins_only": "That command is for the bot's admins.",
    "stats": (
        "People: {people}\nRegistrations: {registrations} in {scopes} chats\n"
        "Embeddings: {embeddings}\nCelebrity model: {model}"
    ),
    "stats_model": {"one": "{n} person", "other": "{n} people"},
    "stats_no_model": "missing",
    "unknown_command": "I don't know that command. Try /help.",
    # --- the group game (bot/game.py) ---
    "game_groups_only": "The game is played in groups: add me to one and send /game there.",
    "game_start": (
        "🎮 New round! Who looks most like {celebrity}?\n"
        "Send a selfie within {seconds} s. Your best photo counts, and a round needs "
        "{min_players} players. /game stop ends it early."
    ),
    "game_status": (
        "A round is on: who looks most like {celebrity}? {seconds} s left. Send your selfie!"
    ),
    "game_entry": (
        "{name}: closer to {celebrity} than {score}% of faces. #{place} of {players} so far."
    ),
    "game_entry_better": (
        "{name}: closer than {score}% of faces, a new best! #{place} of {players} so far."
    ),
    "game_entry_worse": "{name}: closer than {score}% of faces. Your best, {best}%, still counts.",
    "game_scale": "(The %: how many faces, of people in general, look less like {celebrity}.)",
    "game_no_face": (
        "{name}: I can't find a face in that photo, so it doesn't count. Send another!"
    ),
    "game_stop_denied": "Only whoever started this round, or an admin, can stop it.",
    "game_results": "⏱ Time's up! Who looks most like {celebrity}?",
    "game_results_stopped": "🛑 Round stopped. Who looks most like {celebrity}?",
    "game_results_late": "(I was offline when this round ended: here are its results.)",
    "game_line": "{place}. {name} – {score}% (+{points})",
    "game_line_uncounted": "{place}. {name} – {score}%",
    "game_more": {"one": "… and {n} more player", "other": "… and {n} more players"},
    "game_winner": "🏆 The winner: {name}! /leaderboard shows this chat's scores.",
    "game_winners": "🏆 A tie! The winners: {names}. /leaderboard shows this chat's scores.",
    "game_too_few": {
        "one": "A round needs {n} player, so no points and no winner this time.",
        "other": "A round needs {n} players, so no points and no winner this time.",
    },
    "game_nobody": "Nobody played. Start another round with /game.",
    "leaderboard_title": "🏆 This chat's leaderboard:",
    "leaderboard_line": "{place}. {name} – {points} ({won})",
    "leaderboard_points": {"one": "{n} point", "other": "{n} points"},
    "leaderboard_won": {"one": "won {wins} of {n} round", "other": "won {wins} of {n} rounds"},
    "leaderboard_empty": "No scores here yet. Start a round with /game.",
    "error.game_no_round": "No round is on here. Start one with /game.",
}

SPANISH: dict[str, Text] = {
    "help": (
        "¡Hola! Mándame una foto y te diré a qué famosos se parece cada cara.\n\n"
        "{commands}\n\n"
        "No guardo fotos. /privacy explica qué guardo y cómo borrarlo."
    ),
    "group_hint": "En grupos, mencióname en el pie de la foto, respóndeme o usa /lookalike.",
    "privacy": (
        "Privacidad:\n"
        "• Nunca guardo tus fotos. Las miro, respondo y las descarto.\n"
        "• Si usas /register, guardo una huella facial (128 números que no permiten "
        "reconstruir la foto), tu nombre visible, tu idioma y cuándo aceptaste, solo para "
        "este chat.\n"
        "• Los registros sin usar durante {days} días se borran.\n"
        "• Los puntos del juego se guardan por chat.\n"
        "• /forget lo borra todo, en todas partes, de una vez."
    ),
    "lang_set": "Te hablaré en español.",
    "lang_choose": "Which language? / ¿Qué idioma?",
    "rate_limited": "Mandas fotos más rápido de lo que puedo mirarlas. Prueba en {seconds} s.",
    "rate_limited_work": (
        "Tus últimas fotos me han tenido ocupado un buen rato. Prueba en {seconds} s, por favor."
    ),
    "need_photo": "Mándame una foto (o responde a una) con {command}.",
    "private_only": (
        "Por tu privacidad, solo respondo a {command} en un chat privado conmigo. "
        "Abre uno y mándalo allí."
    ),
    "anonymous": (
        "Escribes de forma anónima (como el grupo o como un canal), así que no sé quién "
        "eres. Manda {command} desde tu propia cuenta."
    ),
    "no_model": {
        "one": "El modelo de famosos no está disponible ahora, pero encontré {n} cara.",
        "other": "El modelo de famosos no está disponible ahora, pero encontré {n} caras.",
    },
    "no_faces": (
        "No encontré ninguna cara en esa foto. Prueba con una más cercana y con buena luz."
    ),
    "faces_capped": "Encontré {total} caras; aquí van las {shown} más grandes.",
    "face_header": "Cara {number}:",
    "face_header_single": "Te pareces a:",
    "prediction": "{rank}. {name} – {percent}% ({meaning})",
    "field.film": "Cine y TV",
    "field.music": "Música",
    "field.sport": "Deporte",
    "field.politics": "Política",
    "field.royalty": "Realeza",
    "field.business": "Empresa",
    "field.science": "Ciencia",
    "field.other": "Otros",
    "fields_every": "todos los campos",
    "fields_now": (
        "Las respuestas en este chat salen de: {fields}. Cámbialo con /fields y los campos, "
        "p. ej. /fields cine música deporte, o /fields todos."
    ),
    "fields_set": "Hecho: las respuestas en este chat salen ahora de: {fields}.",
    "fields_unknown": "No conozco el campo «{words}». Los campos son: {fields}.",
    "fields_only": "Solo entre: {fields}.",
    "fields_nobody": "Aún no conozco famosos de {fields}: prueba con otro campo, o con ninguno.",
    "meaning_same": "podría ser la misma persona",
    "meaning_strong": "un gran parecido",
    "meaning_some": "cierto parecido",
    "meaning_faint": "un parecido leve",
    "meaning_none": "apenas hay parecido",
    "score_note": (
        "100% es tan cerca como suelen estar las fotos del propio famoso; 0%, tan cerca "
        "como las de cualquier otra persona. El mejor parecido de casi todos queda entre "
        "40 y 70%."
    ),
    "register_explain": (
        "Para reconocerte en este chat guardaré una huella facial: 128 números calculados "
        "a partir de una foto tuya (no la foto), con tu nombre visible. La foto tiene que "
        "ser tuya, y salir tú solo. Solo la usa /whoami en este chat, y /forget la borra. "
        "¿Aceptas?"
    ),
    "yes": "Sí, acepto",
    "no": "No, gracias",
    "register_send_photo": "¡Gracias! Ahora mándame una foto nítida de tu cara, tú solo.",
    "register_again": "Mándame otra foto de tu cara cuando quieras.",
    "photo_again": "Mándame otra foto cuando quieras: sigo esperando una.",
    "register_not_yours": (
        "Solo registro una foto que me mandes tú. Mándame una foto de tu propia cara."
    ),
    "register_cancelled": "Vale, no he guardado nada.",
    "registered": {
        "one": "Listo: te reconoceré aquí. Tienes {n} de {limit} fotos registradas.",
        "other": "Listo: te reconoceré aquí. Tienes {n} de {limit} fotos registradas.",
    },
    "not_yours": "Este botón es para quien lo pidió.",
    "expired": "Esta pregunta ha caducado. Empieza de nuevo, por favor.",
    "whoami_none": "No encontré ninguna cara en esa foto.",
    "whoami_match": "Cara {number}: {name}",
    "whoami_unknown": "Cara {number}: no conozco a esta persona aquí.",
    "whoami_empty_scope": "Nadie se ha registrado todavía en este chat. Usa /register.",
    "forget_confirm": (
        "Esto borra todo lo que guardo sobre ti: tus huellas faciales en todos los chats, "
        "tu idioma y tus puntos del juego. ¿Continuar?"
    ),
    "forget_yes": "Borrar todo",
    "forget_no": "Cancelar",
    "forget_cancelled": "No se ha borrado nada.",
    "forgot": "Listo. Borré {what}.",
    "forgot_embeddings": {
        "one": "{n} huella facial de {chats}",
        "other": "{n} huellas faciales de {chats}",
    },
    "forgot_chats": {"one": "{n} chat", "other": "{n} chats"},
    "forgot_language": "tu preferencia de idioma",
    "forgot_scores": {"one": "{n} puntuación del juego", "other": "{n} puntuaciones del juego"},
    "forgot_nothing": "No tenía nada guardado sobre ti.",
    "and": "y",
    "mydata": "Esto es todo lo que guardo sobre ti, en JSON. /forget lo borra.",
    "admins_only": "Ese comando es solo para quienes administran el bot.",
    "stats": (
        "Personas: {people}\nRegistros: {registrations} en {scopes} chats\n"
        "Huellas: {embeddings}\nModelo de famosos: {model}"
    ),
    "stats_model": {"one": "{n} persona", "other": "{n} personas"},
    "stats_no_model": "no disponible",
    "unknown_command": "No conozco ese comando. Prueba /help.",
    "error.error": "Algo ha fallado por mi parte. Prueba otra vez, por favor.",
    "error.image": "Ese archivo no me sirve como foto.",
    "error.file_too_large": "Ese archivo es demasiado grande: el límite es {limit_mb:.0f} MB.",
    "error.too_many_pixels": (
        "Esa imagen es demasiado grande: el límite es {limit_mp:.0f} megapíxeles."
    ),
    "error.unsupported_image": (
        "Eso no es una foto que pueda leer. Manda un JPEG, PNG, WebP, GIF o BMP."
    ),
    "error.corrupt_image": "Esa foto parece dañada o incompleta. Mándala otra vez, por favor.",
    "error.face": "Hay un problema con la cara de esa foto.",
    "error.no_face": "No encontré ninguna cara en esa foto.",
    "error.too_many_faces": (
        "Veo {count} caras. Para esto, manda una foto en la que salgas tú solo."
    ),
    "error.face_too_small": "La cara es demasiado pequeña. Manda una foto más cercana.",
    "error.face_too_blurry": "La cara está demasiado borrosa. Manda una foto más nítida.",
    "error.registry": "No he podido hacer ese registro.",
    "error.duplicate_face": "Esa cara ya está registrada aquí como otra persona.",
    "error.registration_limit": "Ya tienes {limit} fotos registradas aquí, el máximo.",
    "error.storage_unavailable": (
        "Ahora no puedo guardar nada. No se ha perdido nada; prueba más tarde."
    ),
    "error.model": "El modelo de caras no está disponible ahora.",
    "error.model_unavailable": "El modelo de famosos no está disponible ahora.",
    "error.model_mismatch": "El modelo de famosos no está disponible ahora.",
    "error.embedder_unavailable": "El modelo de caras no está disponible ahora.",
    "error.game": "Eso no se puede hacer ahora en el juego.",
    "error.game_running": "Ya hay una ronda en marcha aquí: ¿quién se parece más a {celebrity}?",
    "error.game_no_round": "No hay ninguna ronda en marcha aquí. Empieza una con /game.",
    "error.game_over": "Demasiado tarde: esa ronda ha terminado.",
    "error.game_unknown_celebrity": (
        "No conozco a «{name}». Prueba con: {options}. O no digas ningún nombre y elijo yo."
    ),
    # --- the group game (bot/game.py) ---
    "game_groups_only": "El juego es para grupos: añádeme a uno y manda /game allí.",
    "game_start": (
        "🎮 ¡Nueva ronda! ¿Quién se parece más a {celebrity}?\n"
        "Manda un selfi en los próximos {seconds} s. Cuenta tu mejor foto, y una ronda "
        "necesita {min_players} jugadores. /game stop la termina antes."
    ),
    "game_status": (
        "Hay una ronda en marcha: ¿quién se parece más a {celebrity}? Quedan {seconds} s. "
        "¡Manda tu selfi!"
    ),
    "game_entry": (
        "{name}: más cerca de {celebrity} que el {score}% de las caras. Vas #{place} de {players}."
    ),
    "game_entry_better": (
        "{name}: más cerca que el {score}% de las caras, ¡tu mejor foto! Vas #{place} de {players}."
    ),
    "game_entry_worse": (
        "{name}: más cerca que el {score}% de las caras. Sigue contando tu mejor foto, "
        "con el {best}%."
    ),
    "game_scale": "(El %: cuántas caras, de gente cualquiera, se parecen menos a {celebrity}.)",
    "game_no_face": (
        "{name}: no encuentro ninguna cara en esa foto, así que no cuenta. ¡Manda otra!"
    ),
    "game_stop_denied": "Solo quien empezó esta ronda, o quien administra el bot, puede pararla.",
    "game_results": "⏱ ¡Se acabó el tiempo! ¿Quién se parece más a {celebrity}?",
    "game_results_stopped": "🛑 Ronda parada. ¿Quién se parece más a {celebrity}?",
    "game_results_late": (
        "(Estaba desconectado cuando terminó esta ronda: aquí están sus resultados.)"
    ),
    "game_line": "{place}. {name} – {score}% (+{points})",
    "game_line_uncounted": "{place}. {name} – {score}%",
    "game_more": {"one": "… y {n} jugador más", "other": "… y {n} jugadores más"},
    "game_winner": "🏆 Victoria para {name}. /leaderboard muestra los puntos del chat.",
    "game_winners": "🏆 ¡Empate! Victoria para {names}. /leaderboard muestra los puntos del chat.",
    "game_too_few": {
        "one": "Una ronda necesita {n} jugador: esta vez no hay puntos ni ganador.",
        "other": "Una ronda necesita {n} jugadores: esta vez no hay puntos ni ganador.",
    },
    "game_nobody": "Nadie ha jugado. Empieza otra ronda con /game.",
    "leaderboard_title": "🏆 Clasificación de este chat:",
    "leaderboard_line": "{place}. {name} – {points} ({won})",
    "leaderboard_points": {"one": "{n} punto", "other": "{n} puntos"},
    "leaderboard_won": {"one": "ganó {wins} de {n} ronda", "other": "ganó {wins} de {n} rondas"},
    "leaderboard_empty": "Aún no hay puntos aquí. Empieza una ronda con /game.",
}

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
