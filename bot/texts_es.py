"""What the bot says in Spanish: one text per key (see `bot.replies` for the rules)."""

from __future__ import annotations

Text = str | dict[str, str]

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
