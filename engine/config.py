"""Settings from environment variables and `.env`, as typed frozen dataclasses.

Each field names its variable and says what it is for in its metadata, so that
`.env.example` can be checked against the code (see tests/test_config.py).
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

from dotenv import dotenv_values

T = TypeVar("T")


def setting(env: str, default: Any, help: str) -> Any:
    """A dataclass field read from the environment variable ``env``."""
    return dataclasses.field(default=default, metadata={"env": env, "help": help})


@dataclasses.dataclass(frozen=True)
class Settings:
    """What the engine needs to know. Paths are relative to the working directory."""

    model: Path = setting(
        "LOOKALIKE_MODEL",
        Path("run/models/celebrities"),
        "The celebrity gallery: NAME.npz and NAME.json, given as NAME (an extension is ignored).",
    )
    device: str = setting(
        "LOOKALIKE_DEVICE", "auto", "Where models run: auto (the GPU when present), cpu or cuda."
    )
    embedder: str = setting(
        "LOOKALIKE_EMBEDDER", "dlib", "Face embedder: dlib (128-d, offline) or facenet (512-d)."
    )
    facenet_weights: Path | None = setting(
        "LOOKALIKE_FACENET_WEIGHTS",
        None,
        "InceptionResnetV1 VGGFace2 weights (20180402-114759-vggface2.pt). Empty: download "
        "them once into the torch cache, which needs the internet.",
    )
    threads: int = setting(
        "LOOKALIKE_THREADS", 0, "CPU threads for the models; 0 means one per core."
    )
    cache: Path | None = setting(
        "LOOKALIKE_CACHE",
        None,
        "Where the networks exported for ONNX Runtime are kept, made once by the set-up or "
        "on first use. Empty: $XDG_CACHE_HOME/lookalike, else ~/.cache/lookalike.",
    )
    max_upload_bytes: int = setting(
        "LOOKALIKE_MAX_UPLOAD_BYTES", 20_000_000, "Largest photo file accepted, in bytes."
    )
    max_pixels: int = setting(
        "LOOKALIKE_MAX_PIXELS",
        40_000_000,
        "Largest photo accepted, in pixels (width x height), checked before decoding.",
    )
    work_max_side: int = setting(
        "LOOKALIKE_WORK_MAX_SIDE",
        2560,
        "Photos are scaled down to this longer side as they are decoded: it bounds the "
        "memory each photo holds while it is worked on.",
    )
    max_faces: int = setting(
        "LOOKALIKE_MAX_FACES",
        40,
        "Most faces answered in one photo (the largest): it bounds the work one photo costs.",
    )
    detect_max_side: int = setting(
        "LOOKALIKE_DETECT_MAX_SIDE",
        640,
        "Photos are scaled down so that their longer side is at most this for detection.",
    )
    min_face_size: int = setting(
        "LOOKALIKE_MIN_FACE_SIZE", 10, "Smallest face considered, in pixels of the photo."
    )
    min_face_score: float = setting(
        "LOOKALIKE_MIN_FACE_SCORE", 0.9, "Smallest detector confidence for a face, 0 to 1."
    )
    top_k: int = setting("LOOKALIKE_TOP_K", 3, "Celebrities listed for each face.")
    fields: tuple[str, ...] = setting(
        "LOOKALIKE_FIELDS",
        (),
        "The celebrity fields answers come from in chats that chose none with /fields "
        "(film, music, sport, politics, royalty, business, science, other). Empty: all.",
    )
    batch_size: int = setting(
        "LOOKALIKE_BATCH_SIZE",
        16,
        "Most lookalike photos worked on together; 1 turns batching off.",
    )
    batch_window_ms: float = setting(
        "LOOKALIKE_BATCH_WINDOW_MS", 20.0, "How long a photo waits for others to batch with, in ms."
    )
    db: str = setting(
        "LOOKALIKE_DB",
        "run/data/lookalike.sqlite3",
        "Where everything is kept: a SQLite file (a path, or sqlite:///PATH), or PostgreSQL "
        "with pgvector (postgresql://USER:PASSWORD@HOST:PORT/DATABASE), which several "
        "replicas of the bot can share. See docs/deploy.md.",
    )
    db_timeout: float = setting(
        "LOOKALIKE_DB_TIMEOUT",
        5.0,
        "Seconds to wait for a database another process has locked, or to connect to one.",
    )
    calibration: Path = setting(
        "LOOKALIKE_CALIBRATION",
        Path("run/models/calibration.json"),
        "Match thresholds per embedder, written by `python -m training calibrate`.",
    )
    match_threshold: float | None = setting(
        "LOOKALIKE_MATCH_THRESHOLD",
        None,
        "Cosine similarity whoami needs to name someone. Empty: the calibrated value.",
    )
    match_margin: float | None = setting(
        "LOOKALIKE_MATCH_MARGIN",
        None,
        "How far the best person must lead the next one. Empty: the calibrated value.",
    )
    register_limit: int = setting(
        "LOOKALIKE_REGISTER_LIMIT", 5, "Most photos a person may register in one chat."
    )
    register_min_face: int = setting(
        "LOOKALIKE_REGISTER_MIN_FACE", 60, "Smallest face accepted for registration, in pixels."
    )
    min_sharpness: float = setting(
        "LOOKALIKE_MIN_SHARPNESS",
        8.0,
        "Least sharpness (variance of the Laplacian of the aligned face) for registration.",
    )
    references: Path = setting(
        "LOOKALIKE_REFERENCES",
        Path("run/references"),
        "The celebrities' reference photos, one small JPEG per dataset folder name, shown "
        "beside each face. Built from the datasets by `make references`, never committed; "
        "where a person has none, the picture shows a card with their name and field.",
    )
    reference_data: Path | None = setting(
        "LOOKALIKE_REFERENCE_DATA",
        None,
        "A folder of face photos, one sub-folder per person (or a folder of such datasets), "
        "that `make references` uses before ../shared/datasets.",
    )
    reference_url: str = setting(
        "LOOKALIKE_REFERENCE_URL",
        "https://umass-vis-lfw.github.io/lfw-deepfunneled.zip",
        "A .zip of such folders that `make references` downloads (once, into run/downloads) "
        "when no folder is at hand; empty: never download. Without a network it gives up "
        "quietly.",
    )
    retention_days: int = setting(
        "LOOKALIKE_RETENTION_DAYS", 365, "Registrations unused for this many days are deleted."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> Settings:
        return load(cls, env, dotenv)


def environment(env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> dict[str, str]:
    """The process environment (or ``env``) over the values in ``.env``."""
    path = dotenv if dotenv is not None else Path(".env")
    merged: dict[str, str] = {}
    if path.is_file():
        merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ if env is None else env)
    return merged


def load(cls: type[T], env: Mapping[str, str] | None = None, dotenv: Path | None = None) -> T:
    """Build the settings dataclass ``cls`` from the environment and ``.env``.

    An empty variable means the default. A value that cannot be parsed raises
    ``ValueError`` naming the variable, so a typo stops start-up with a clear line.
    """
    values = environment(env, dotenv)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = field.metadata.get("env")
        raw = values.get(name, "").strip() if name else ""
        if raw:
            try:
                kwargs[field.name] = _parse(hints[field.name], raw)
            except ValueError as exc:
                raise ValueError(f"{name}={raw!r} is not valid: {exc}") from None
    return cls(**kwargs)


def _parse(hint: Any, raw: str) -> Any:
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        hint = args[0]
    if typing.get_origin(hint) is tuple:
        item = typing.get_args(hint)[0]
        return tuple(_parse(item, part) for part in raw.replace(",", " ").split())
    if hint is bool:
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if hint is Path:
        return Path(raw).expanduser()
    return hint(raw)


def render_example(sections: dict[str, type]) -> str:
    """The text of .env.example: every setting of each class, with its help and default."""
    import textwrap

    lines = [
        "# lookalike's settings, each with its default. Copy this file to .env and change what",
        "# you need; variables set in the environment win over .env. Empty means the default.",
        "# Generated from the code by `make env-example`; a test keeps the two in step.",
    ]
    for title, cls in sections.items():
        lines += ["", f"# --- {title} ---"]
        for name, default, help_text in documented(cls):
            lines += [
                "",
                *("# " + line for line in textwrap.wrap(help_text, 88)),
                f"{name}={default}",
            ]
    return "\n".join(lines) + "\n"


def documented(cls: type) -> list[tuple[str, str, str]]:
    """(variable, default as written in .env, help) for each setting of ``cls``."""
    rows = []
    for field in dataclasses.fields(cls):
        if "env" not in field.metadata:
            continue
        default = field.default
        if default is None:
            text = ""
        elif isinstance(default, tuple):
            text = ",".join(str(d) for d in default)
        elif isinstance(default, bool):
            text = "true" if default else "false"
        else:
            text = str(default)
        rows.append((field.metadata["env"], text, field.metadata["help"]))
    return rows
