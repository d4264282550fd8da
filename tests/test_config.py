"""Settings: parsing from the environment and .env, and .env.example documenting each one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import SECTIONS, BotSettings
from engine.config import Settings, documented, load, render_example
from tests.conftest import ROOT

SETTINGS_CLASSES: dict[str, type] = SECTIONS


def example_values() -> dict[str, str]:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


@pytest.mark.parametrize("cls", SETTINGS_CLASSES.values())
def test_env_example_documents_every_setting_with_its_default(cls: type) -> None:
    example = example_values()
    for name, default, _ in documented(cls):
        assert name in example, f"{name} is missing from .env.example"
        assert example[name] == default, f"{name}: .env.example says {example[name]!r}"


def test_env_example_is_generated_from_the_code() -> None:
    expected = render_example(SETTINGS_CLASSES)
    assert (ROOT / ".env.example").read_text() == expected, "run `make env-example`"


def test_values_are_parsed_and_empty_means_default(tmp_path: Path) -> None:
    env = {"LOOKALIKE_TOP_K": "5", "LOOKALIKE_MIN_FACE_SCORE": "0.8", "LOOKALIKE_DEVICE": ""}
    settings = Settings.from_env(env, dotenv=tmp_path / "none")
    assert settings.top_k == 5 and settings.min_face_score == 0.8
    assert settings.device == "auto"
    assert settings.model == Path("run/models/celebrities")


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("LOOKALIKE_TOP_K=7\nLOOKALIKE_EMBEDDER=facenet\n")
    settings = Settings.from_env({"LOOKALIKE_TOP_K": "2"}, dotenv=dotenv)
    assert settings.top_k == 2 and settings.embedder == "facenet"


def test_a_bad_value_names_its_variable(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LOOKALIKE_TOP_K='three'"):
        Settings.from_env({"LOOKALIKE_TOP_K": "three"}, dotenv=tmp_path / "none")


def test_tuples_and_booleans(tmp_path: Path) -> None:
    @dataclasses.dataclass(frozen=True)
    class Example:
        ids: tuple[int, ...] = dataclasses.field(default=(), metadata={"env": "IDS", "help": ""})
        on: bool = dataclasses.field(default=False, metadata={"env": "ON", "help": ""})

    parsed = load(Example, {"IDS": "1, 2 3", "ON": "yes"}, dotenv=tmp_path / "none")
    assert parsed == Example(ids=(1, 2, 3), on=True)
    with pytest.raises(ValueError, match="ON"):
        load(Example, {"ON": "maybe"}, dotenv=tmp_path / "none")


def test_admins_by_id_or_platform_and_id(tmp_path: Path) -> None:
    settings = BotSettings.from_env({"ADMIN_IDS": "42, telegram:7"}, dotenv=tmp_path / "none")
    assert settings.is_admin("discord", "42") and settings.is_admin("telegram", "7")
    assert not settings.is_admin("discord", "7")
