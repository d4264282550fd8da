"""The README's first commands, run as a newcomer runs them, and the local shell they open."""

from __future__ import annotations

import asyncio
import os
import pty
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.shell import HELP, ShellClock, looks_like_path
from tests.conftest import ROOT, encode

NO_TOKENS = {"TELEGRAM_TOKEN": "", "DISCORD_TOKEN": ""}


def newcomer_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The environment of someone with no tokens and no .env: only a private database."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **NO_TOKENS,
        "LOOKALIKE_DB": str(tmp_path / "first.sqlite3"),
        **extra,
    }


def test_python_m_bot_with_no_argument_and_no_token_opens_the_shell(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        input="/help\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=newcomer_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "/whoami – " in done.stdout and "/register – " in done.stdout
    assert "here is the local shell" in done.stderr


def test_make_run_answers_help_from_stdin(tmp_path: Path) -> None:
    """`make run`, exactly as the README writes it, once `make` has installed everything."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    stamp = subprocess.run(["make", "-q", ".venv/.installed"], cwd=ROOT, check=False)
    if stamp.returncode != 0:
        pytest.skip(
            "the virtualenv is older than the Makefile or pyproject.toml: make would reinstall"
        )
    done = subprocess.run(
        ["make", "run"],
        input="/help\n",
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=newcomer_env(tmp_path),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "/whoami – " in done.stdout


def read_until(fd: int, wanted: str, within: float = 90) -> str:
    seen, deadline = b"", time.monotonic() + within
    while wanted.encode() not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"never saw {wanted!r}; the terminal showed:\n{seen.decode()}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 4096)
            except OSError:  # the program closed the terminal
                break
    return seen.decode(errors="replace")


def test_the_interactive_shell_keeps_log_lines_out_of_the_conversation(
    tmp_path: Path, hopper
) -> None:
    photo = tmp_path / "hopper.jpg"
    photo.write_bytes(encode(hopper, "JPEG"))
    env = newcomer_env(
        tmp_path,
        LOG_LEVEL="INFO",
        LOOKALIKE_MODEL=str(ROOT / "run/models/celebrities"),
        LOOKALIKE_CALIBRATION=str(ROOT / "run/models/calibration.json"),
    )
    leader, follower = pty.openpty()
    shell = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=tmp_path,  # run/logs/shell.log is relative to the working directory
        env=env,
    )
    os.close(follower)
    try:
        read_until(leader, "> ")
        os.write(leader, f"/home/nobody/{photo.name}\n".encode())
        typo = read_until(leader, "> ")
        os.write(leader, f"{photo}\n".encode())
        answer = read_until(leader, "> ")
        os.write(leader, b"/quit\n")
        shell.wait(timeout=30)
    finally:
        shell.kill()
        os.close(leader)
    assert "No such photo" in typo  # a mistyped path, not "I don't know that command"
    assert "Your lookalikes" in answer
    assert " INFO " not in typo + answer  # the log went to its file
    log = (tmp_path / "run" / "logs" / "shell.log").read_text()
    assert "engine ready" in log


def test_a_slash_path_is_a_path_and_a_command_is_a_command() -> None:
    assert looks_like_path("/home/me/photo.jpg") and looks_like_path("/tmp/x")
    assert looks_like_path("/photo.jpg") and looks_like_path("~/me.png")
    assert not looks_like_path("/help") and not looks_like_path("/lang es")
    assert not looks_like_path("/game tony blair")


def run_shell(tmp_path: Path, script: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = newcomer_env(tmp_path, LOG_LEVEL="WARNING")
    return subprocess.run(
        [sys.executable, "-m", "bot", "shell", *args],
        input=script,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
        check=False,
    )


def pictures_in(output: str) -> list[Path]:
    return [
        Path(line.split("(picture: ")[1].rstrip(")"))
        for line in output.splitlines()
        if "(picture: " in line
    ]


def test_shells_started_in_the_same_second_keep_their_pictures_apart(tmp_path: Path) -> None:
    from bot.shell import _claim

    run = "20261204-014742"
    folders = [_claim(tmp_path / "kept" / run) for _ in range(3)]
    assert [f.name for f in folders] == [run, f"{run}-2", f"{run}-3"]
    assert all(f.is_dir() for f in folders)


def test_shell_pictures_are_temporary_unless_kept_and_never_overwritten(
    tmp_path: Path, hopper
) -> None:
    photo = tmp_path / "hopper.jpg"
    photo.write_bytes(encode(hopper, "JPEG"))
    temporary = run_shell(tmp_path, f"{photo}\n")
    shown = pictures_in(temporary.stdout)
    assert shown and not any(p.exists() for p in shown)  # gone when the shell ended
    kept = tmp_path / "kept"
    first = pictures_in(run_shell(tmp_path, f"{photo}\n", "--out", str(kept)).stdout)
    second = pictures_in(run_shell(tmp_path, f"{photo}\n", "--out", str(kept)).stdout)
    assert all(p.exists() for p in first + second) and not set(first) & set(second)
    for path in (
        ("run/shell/1/0001-faces.jpg", "run/logs/shell.log") if (ROOT / ".git").exists() else ()
    ):
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=ROOT, check=False)
        assert ignored.returncode == 0, f"{path} would show up in git"


async def test_shell_time_passes_by_itself_and_wait_adds_to_it() -> None:
    clock = ShellClock()
    fired = asyncio.Event()

    async def ring() -> None:
        fired.set()

    before = clock.time()
    clock.call_later(0.05, "soon", ring)  # real time alone brings it due
    await asyncio.wait_for(fired.wait(), 5)
    assert clock.time() - before >= 0.05
    late = []

    async def note() -> None:
        late.append(clock.time())

    clock.call_later(3600, "round", note)
    due = clock.time() + 3600
    await clock.advance(7200)  # /wait 7200: the timer runs at its own time, not at the end
    assert len(late) == 1 and abs(late[0] - due) < 1
    assert clock.time() >= due + 3599
    assert "time also passes" in HELP
