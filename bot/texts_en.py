"""What the bot says in English: one text per key (see `bot.replies` for the rules)."""

from __future__ import annotations

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
