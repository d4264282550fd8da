"""Every error a user can cause, each with a stable code and a message fit to show them."""

from __future__ import annotations


class LookalikeError(Exception):
    """Base of the errors a user can cause.

    ``code`` is stable and names the error for the adapters, which map it to a
    reply in the user's language; ``default_message`` is the English reply, the
    only copy of it (the bot's Spanish texts translate it). ``str(error)`` is
    already safe to show a user: it never holds paths, tokens or tracebacks.
    """

    code = "error"
    default_message = "Something went wrong on my side. Please try again."

    def __init__(self, message: str | None = None, **details: object) -> None:
        self.details = details
        super().__init__(message or self.default_message.format(**details))


# --- images -----------------------------------------------------------------


class ImageError(LookalikeError):
    code = "image"
    default_message = "That file could not be used as a photo."


class FileTooLarge(ImageError):
    code = "file_too_large"
    default_message = "That file is too big: the limit is {limit_mb:.0f} MB."


class TooManyPixels(ImageError):
    code = "too_many_pixels"
    default_message = "That image is too large: the limit is {limit_mp:.0f} megapixels."


class UnsupportedImage(ImageError):
    code = "unsupported_image"
    default_message = "That isn't a photo I can read. Send a JPEG, PNG, WebP, GIF or BMP."


class CorruptImage(ImageError):
    code = "corrupt_image"
    default_message = "That photo seems damaged or incomplete. Please send it again."


# --- faces ------------------------------------------------------------------


class FaceError(LookalikeError):
    code = "face"
    default_message = "There is a problem with the face in that photo."


class NoFaceFound(FaceError):
    code = "no_face"
    default_message = "I couldn't find a face in that photo."


class TooManyFaces(FaceError):
    code = "too_many_faces"
    default_message = "I see {count} faces. For this, send a photo with only yours."


class FaceTooSmall(FaceError):
    code = "face_too_small"
    default_message = "The face is too small. Please send a closer photo."


class FaceTooBlurry(FaceError):
    code = "face_too_blurry"
    default_message = "The face is too blurry. Please send a sharper photo."


# --- registry ---------------------------------------------------------------


class RegistryError(LookalikeError):
    code = "registry"
    default_message = "That registration could not be made."


class DuplicateFace(RegistryError):
    code = "duplicate_face"
    default_message = "That face is already registered here as someone else."


class RegistrationLimit(RegistryError):
    code = "registration_limit"
    default_message = "You already have {limit} photos registered here, the most allowed."


class StorageUnavailable(LookalikeError):
    code = "storage_unavailable"
    default_message = "I can't save anything right now. Nothing was lost; please try later."


# --- the game ---------------------------------------------------------------


class GameError(LookalikeError):
    code = "game"
    default_message = "That is not possible in the game right now."


class RoundRunning(GameError):
    code = "game_running"
    default_message = "A round is already on here: who looks most like {celebrity}?"


class RoundOver(GameError):
    code = "game_over"
    default_message = "Too late: that round is over."


class UnknownCelebrity(GameError):
    code = "game_unknown_celebrity"
    default_message = (
        "I don't know “{name}”. Try one of: {options}. Or leave the name out for a random one."
    )


# --- models -----------------------------------------------------------------


class ModelError(LookalikeError):
    code = "model"
    default_message = "The face model isn't available right now."


class ModelUnavailable(ModelError):
    code = "model_unavailable"
    default_message = "The celebrity model isn't available right now."


class ModelMismatch(ModelError):
    code = "model_mismatch"
    default_message = (
        "The celebrity model was trained with the {model_embedder!r} embedder "
        "({model_dim}-d), but this engine uses {embedder!r} ({dim}-d)."
    )


class EmbedderUnavailable(ModelError):
    code = "embedder_unavailable"
    default_message = "The face embedder could not be loaded."


def every_error() -> list[type[LookalikeError]]:
    """LookalikeError and all its subclasses, for the adapters' reply tables."""
    found, todo = [], [LookalikeError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found
