"""What the bot says, in English and Spanish, with no platform code."""

from __future__ import annotations

LANGUAGES = ("en", "es")
DEFAULT = "en"

# The command menus of Telegram and Discord (English: both show one text to all).
COMMAND_DESCRIPTIONS = {
    "lookalike": "Which celebrities do you look like?",
    "register": "Let me recognise you in this channel (asks first)",
    "whoami": "Who is in this photo, among the people registered here",
    "forget": "Erase everything I keep about you",
    "mydata": "See everything I keep about you",
    "help": "What I can do",
    "privacy": "What I store, and for how long",
    "lang": "English / español",
    "stats": "How the bot is doing (admins only)",
    "game": "Start a lookalike round in this channel, or enter one with a photo",
    "leaderboard": "This channel's game scores",
}

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "help": (
            "Hi! Send me a photo and I'll tell you which celebrities each face looks like.\n\n"
            "{commands}\n\n"
            "I keep no photos. /privacy explains what I store and how to erase it."
        ),
        "commands": (
            "/lookalike – who do you look like? (send or reply to a photo)\n"
            "/register – let me recognise you in this chat (asks first)\n"
            "/whoami – who is in this photo, among people registered here\n"
            "/forget – erase everything I keep about you\n"
            "/mydata – see everything I keep about you\n"
            "/game – start a lookalike round; /leaderboard – this chat's scores\n"
            "/lang – English / español\n"
            "/privacy – what I store"
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
        "need_photo": "Send me a photo (or reply to one) with {command}.",
        "working": "Looking…",
        "no_model": "The celebrity model isn't available right now, but I found {count} face(s).",
        "no_faces": "I couldn't find a face in that photo. Try one where the face is larger and well lit.",
        "face_header": "Face {number}:",
        "face_header_single": "Your lookalikes:",
        "prediction": "{rank}. {name} – {percent}% ({meaning})",
        "meaning_same": "could be the same person",
        "meaning_strong": "a strong resemblance",
        "meaning_some": "some resemblance",
        "meaning_faint": "a faint resemblance",
        "score_note": (
            "100% is as close as that celebrity's own photos usually are; 0% is as close as "
            "anyone else's. Most people's best match scores 40–70%."
        ),
        "register_explain": (
            "To recognise you in this chat I'll store a face embedding: 128 numbers computed "
            "from your photo (not the photo itself), with your display name. Only /whoami in "
            "this chat uses it, and /forget erases it. Do you agree?"
        ),
        "yes": "Yes, I agree",
        "no": "No, thanks",
        "register_send_photo": "Thanks! Now send me a clear photo of your face, alone.",
        "register_cancelled": "OK, nothing was stored.",
        "registered": "Done: I'll recognise you here. You have {photos} of {limit} photos registered.",
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
        "forgot": (
            "Done. I erased {embeddings} face embedding(s) from {scopes} chat(s), your "
            "language preference and {scores} game score(s)."
        ),
        "forgot_nothing": "I had nothing stored about you.",
        "mydata": "Here is everything I keep about you, as JSON. /forget erases it.",
        "admins_only": "That command is for the bot's admins.",
        "stats": (
            "People: {people}\nRegistrations: {registrations} in {scopes} chats\n"
            "Embeddings: {embeddings}\nCelebrity model: {model}"
        ),
        "unknown_command": "I don't know that command. Try /help.",
        "error.file_too_large": "That file is too big: the limit is {limit_mb:.0f} MB.",
        "error.too_many_pixels": "That image is too large: the limit is {limit_mp:.0f} megapixels.",
        "error.unsupported_image": "That isn't a photo I can read. Send a JPEG, PNG, WebP, GIF or BMP.",
        "error.corrupt_image": "That photo seems damaged or incomplete. Please send it again.",
        "error.no_face": "I couldn't find a face in that photo.",
        "error.too_many_faces": "I see {count} faces. For this, send a photo with only yours.",
        "error.face_too_small": "The face is too small. Please send a closer photo.",
        "error.face_too_blurry": "The face is too blurry. Please send a sharper photo.",
        "error.duplicate_face": "That face is already registered here as someone else.",
        "error.registration_limit": "You already have {limit} photos registered here, the most allowed.",
        "error.storage_unavailable": "I can't save anything right now. Nothing was lost; please try later.",
        "error.model_unavailable": "The celebrity model isn't available right now.",
        "error.error": "Something went wrong on my side. Please try again.",
        # --- the group game (bot/game.py) ---
        "game_groups_only": "The game is played in groups: add me to one and send /game there.",
        "game_start": (
            "🎮 New round! Who looks most like {celebrity}?\n"
            "Send a selfie within {seconds} s. Your best photo counts, and a round needs "
            "{min_players} players. /game stop ends it early."
        ),
        "game_status": "A round is on: who looks most like {celebrity}? {seconds} s left. Send your selfie!",
        "game_entry": "{name}: {score}% like {celebrity}. #{place} of {players} so far.",
        "game_entry_better": "{name}: {score}%, a new best! #{place} of {players} so far.",
        "game_entry_worse": "{name}: {score}%. Your best, {best}%, still counts.",
        "game_no_face": "{name}: I can't find a face in that photo, so it doesn't count. Send another!",
        "game_stop_denied": "Only whoever started this round, or an admin, can stop it.",
        "game_results": "⏱ Time's up! Who looks most like {celebrity}?",
        "game_results_stopped": "🛑 Round stopped. Who looks most like {celebrity}?",
        "game_results_late": "(I was offline when this round ended: here are its results.)",
        "game_line": "{place}. {name} – {score}% (+{points})",
        "game_line_uncounted": "{place}. {name} – {score}%",
        "game_winner": "🏆 {name} wins! /leaderboard shows this chat's scores.",
        "game_winners": "🏆 A tie! {names} share the win. /leaderboard shows this chat's scores.",
        "game_and": "and",
        "game_too_few": "A round needs {min_players} players, so no points and no winner this time.",
        "game_nobody": "Nobody played. Start another round with /game.",
        "leaderboard_title": "🏆 This chat's leaderboard:",
        "leaderboard_line": "{place}. {name} – {points} pts (won {wins} of {rounds})",
        "leaderboard_empty": "No scores here yet. Start a round with /game.",
        "error.game_running": "A round is already on here: who looks most like {celebrity}?",
        "error.game_no_round": "No round is on here. Start one with /game.",
        "error.game_over": "Too late: that round is over.",
        "error.game_unknown_celebrity": "I don't know “{name}”. Try one of: {options}. Or send /game for a random celebrity.",
    },
    "es": {
        "help": (
            "¡Hola! Mándame una foto y te diré a qué famosos se parece cada cara.\n\n"
            "{commands}\n\n"
            "No guardo fotos. /privacy explica qué guardo y cómo borrarlo."
        ),
        "commands": (
            "/lookalike – ¿a quién te pareces? (manda una foto o responde a una)\n"
            "/register – para que te reconozca en este chat (antes te pregunto)\n"
            "/whoami – quién sale en la foto, entre quienes se registraron aquí\n"
            "/forget – borra todo lo que guardo sobre ti\n"
            "/mydata – mira todo lo que guardo sobre ti\n"
            "/game – empieza una ronda de parecidos; /leaderboard – puntos del chat\n"
            "/lang – English / español\n"
            "/privacy – qué guardo"
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
        "need_photo": "Mándame una foto (o responde a una) con {command}.",
        "working": "Mirando…",
        "no_model": "El modelo de famosos no está disponible ahora, pero encontré {count} cara(s).",
        "no_faces": "No encontré ninguna cara en esa foto. Prueba con una más cercana y con buena luz.",
        "face_header": "Cara {number}:",
        "face_header_single": "Te pareces a:",
        "prediction": "{rank}. {name} – {percent}% ({meaning})",
        "meaning_same": "podría ser la misma persona",
        "meaning_strong": "un gran parecido",
        "meaning_some": "cierto parecido",
        "meaning_faint": "un parecido leve",
        "score_note": (
            "100% es tan cerca como suelen estar las fotos del propio famoso; 0%, tan cerca "
            "como las de cualquier otra persona. El mejor parecido de casi todos queda entre 40 y 70%."
        ),
        "register_explain": (
            "Para reconocerte en este chat guardaré una huella facial: 128 números calculados "
            "a partir de tu foto (no la foto), con tu nombre visible. Solo la usa /whoami en "
            "este chat, y /forget la borra. ¿Aceptas?"
        ),
        "yes": "Sí, acepto",
        "no": "No, gracias",
        "register_send_photo": "¡Gracias! Ahora mándame una foto nítida de tu cara, tú solo.",
        "register_cancelled": "Vale, no he guardado nada.",
        "registered": "Listo: te reconoceré aquí. Tienes {photos} de {limit} fotos registradas.",
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
        "forgot": (
            "Listo. Borré {embeddings} huella(s) facial(es) de {scopes} chat(s), tu preferencia "
            "de idioma y {scores} puntuación(es) del juego."
        ),
        "forgot_nothing": "No tenía nada guardado sobre ti.",
        "mydata": "Esto es todo lo que guardo sobre ti, en JSON. /forget lo borra.",
        "admins_only": "Ese comando es solo para quienes administran el bot.",
        "stats": (
            "Personas: {people}\nRegistros: {registrations} en {scopes} chats\n"
            "Huellas: {embeddings}\nModelo de famosos: {model}"
        ),
        "unknown_command": "No conozco ese comando. Prueba /help.",
        "error.file_too_large": "Ese archivo es demasiado grande: el límite es {limit_mb:.0f} MB.",
        "error.too_many_pixels": "Esa imagen es demasiado grande: el límite es {limit_mp:.0f} megapíxeles.",
        "error.unsupported_image": "Eso no es una foto que pueda leer. Manda un JPEG, PNG, WebP, GIF o BMP.",
        "error.corrupt_image": "Esa foto parece dañada o incompleta. Mándala otra vez, por favor.",
        "error.no_face": "No encontré ninguna cara en esa foto.",
        "error.too_many_faces": "Veo {count} caras. Para esto, manda una foto en la que salgas tú solo.",
        "error.face_too_small": "La cara es demasiado pequeña. Manda una foto más cercana.",
        "error.face_too_blurry": "La cara está demasiado borrosa. Manda una foto más nítida.",
        "error.duplicate_face": "Esa cara ya está registrada aquí como otra persona.",
        "error.registration_limit": "Ya tienes {limit} fotos registradas aquí, el máximo.",
        "error.storage_unavailable": "Ahora no puedo guardar nada. No se ha perdido nada; prueba más tarde.",
        "error.model_unavailable": "El modelo de famosos no está disponible ahora.",
        "error.error": "Algo ha fallado por mi parte. Prueba otra vez, por favor.",
        # --- the group game (bot/game.py) ---
        "game_groups_only": "El juego es para grupos: añádeme a uno y manda /game allí.",
        "game_start": (
            "🎮 ¡Nueva ronda! ¿Quién se parece más a {celebrity}?\n"
            "Manda un selfi en los próximos {seconds} s. Cuenta tu mejor foto, y una ronda "
            "necesita {min_players} jugadores. /game stop la termina antes."
        ),
        "game_status": "Hay una ronda en marcha: ¿quién se parece más a {celebrity}? Quedan {seconds} s. ¡Manda tu selfi!",
        "game_entry": "{name}: {score}% de parecido con {celebrity}. Vas #{place} de {players}.",
        "game_entry_better": "{name}: {score}%, ¡tu mejor foto! Vas #{place} de {players}.",
        "game_entry_worse": "{name}: {score}%. Sigue contando tu mejor foto, con {best}%.",
        "game_no_face": "{name}: no encuentro ninguna cara en esa foto, así que no cuenta. ¡Manda otra!",
        "game_stop_denied": "Solo quien empezó esta ronda, o quien administra el bot, puede pararla.",
        "game_results": "⏱ ¡Se acabó el tiempo! ¿Quién se parece más a {celebrity}?",
        "game_results_stopped": "🛑 Ronda parada. ¿Quién se parece más a {celebrity}?",
        "game_results_late": "(Estaba desconectado cuando terminó esta ronda: aquí están sus resultados.)",
        "game_line": "{place}. {name} – {score}% (+{points})",
        "game_line_uncounted": "{place}. {name} – {score}%",
        "game_winner": "🏆 ¡Gana {name}! /leaderboard muestra los puntos del chat.",
        "game_winners": "🏆 ¡Empate! {names} comparten la victoria. /leaderboard muestra los puntos del chat.",
        "game_and": "y",
        "game_too_few": "Una ronda necesita {min_players} jugadores: esta vez no hay puntos ni ganador.",
        "game_nobody": "Nadie ha jugado. Empieza otra ronda con /game.",
        "leaderboard_title": "🏆 Clasificación de este chat:",
        "leaderboard_line": "{place}. {name} – {points} pts (ganó {wins} de {rounds})",
        "leaderboard_empty": "Aún no hay puntos aquí. Empieza una ronda con /game.",
        "error.game_running": "Ya hay una ronda en marcha aquí: ¿quién se parece más a {celebrity}?",
        "error.game_no_round": "No hay ninguna ronda en marcha aquí. Empieza una con /game.",
        "error.game_over": "Demasiado tarde: esa ronda ha terminado.",
        "error.game_unknown_celebrity": "No conozco a «{name}». Prueba con: {options}. O manda /game para un famoso al azar.",
    },
}


def language(code: str | None) -> str:
    """The reply language for a platform's language code ("es-AR" -> "es"); English otherwise."""
    if code:
        base = code.lower().replace("_", "-").split("-")[0]
        if base in LANGUAGES:
            return base
    return DEFAULT


def t(lang: str, key: str, **values: object) -> str:
    """The text ``key`` in ``lang`` (English when missing), filled with ``values``."""
    table = TEXTS.get(lang, TEXTS[DEFAULT])
    text = table.get(key) or TEXTS[DEFAULT].get(key) or TEXTS[DEFAULT]["error.error"]
    try:
        return text.format(**values)
    except (KeyError, IndexError, ValueError):
        return text


def error(lang: str, code: str, details: dict[str, object]) -> str:
    """The reply for an engine error code, falling back to the generic apology."""
    key = f"error.{code}"
    if key not in TEXTS[DEFAULT]:
        key = "error.error"
    return t(lang, key, **details)


def meaning(percent: int) -> str:
    """The key of the words for a resemblance percentage."""
    # 95% of the default model's own held-out photos score 86% or more; a
    # stranger's best match scores 41-72% (5th to 95th percentile).
    if percent >= 85:
        return "meaning_same"
    if percent >= 65:
        return "meaning_strong"
    if percent >= 45:
        return "meaning_some"
    return "meaning_faint"
