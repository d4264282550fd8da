"""Several `python -m bot telegram` processes in webhook mode behind a round-robin balancer."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import aiohttp
from aiohttp import web

from tests.fakes.server import serve
from tests.fakes.telegram import FakeTelegram

ROOT = Path(__file__).resolve().parents[2]
SECRET = "replica-test-secret"
PATH = "/telegram"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Balancer:
    """What nginx's ``upstream`` does for the replicas: each request to the next one in
    turn, and to the one after when it cannot be reached (proxy_next_upstream).

    ``routes`` maps each update id to the replica ports that answered it, in order.
    """

    def __init__(self, ports: Sequence[int]) -> None:
        self.ports = list(ports)
        self.routes: dict[int, list[int]] = {}
        self._turn = itertools.count()
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        self._runner, self.port = await serve(app)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        if self._session is not None:
            await self._session.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        first = next(self._turn)
        assert self._session is not None
        for attempt in range(len(self.ports)):
            port = self.ports[(first + attempt) % len(self.ports)]
            url = f"http://127.0.0.1:{port}{request.path_qs}"
            try:
                async with self._session.request(
                    request.method, url, data=body, headers=headers
                ) as answer:
                    payload = await answer.read()
            except aiohttp.ClientConnectionError:
                continue  # that replica is down: the next one
            with contextlib.suppress(ValueError, KeyError, TypeError):
                self.routes.setdefault(json.loads(body)["update_id"], []).append(port)
            return web.Response(status=answer.status, body=payload)
        return web.Response(status=502, text="no replica answered")


class Replica:
    """One `python -m bot telegram` process, serving its webhook on ``port``."""

    def __init__(self, name: str, port: int, env: dict[str, str], log: Path) -> None:
        self.name, self.port, self.log = name, port, log
        self.env = {**env, "TELEGRAM_WEBHOOK_PORT": str(port), "LOG_FILE": str(log)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bot", "telegram"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT), **self.env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    async def ready(self, within: float = 180) -> None:
        """Wait until its webhook server takes connections."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.alive:
                raise AssertionError(f"replica {self.name} exited:\n{self.tail()}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.2)
        raise AssertionError(f"replica {self.name} did not start:\n{self.tail()}")

    def kill(self) -> None:
        """SIGKILL: no clean-up at all, as when its machine goes away."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(30)

    def tail(self, lines: int = 40) -> str:
        if not self.log.exists():
            return "(no log)"
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


@contextlib.asynccontextmanager
async def cluster(
    db_url: str, model: Path, folder: Path, replicas: int = 3, **settings: str
) -> AsyncIterator[tuple[FakeTelegram, Balancer, list[Replica]]]:
    """A local fake Bot API, the balancer, and ``replicas`` bot processes sharing
    ``db_url``, each with one model thread; ``settings``: more environment variables."""
    fake = FakeTelegram(local=True)
    await fake.start()
    ports = [free_port() for _ in range(replicas)]
    balancer = Balancer(ports)
    await balancer.start()
    env = {
        "LOOKALIKE_DB": db_url,
        "LOOKALIKE_MODEL": str(model),
        "LOOKALIKE_THREADS": "1",
        "TELEGRAM_TOKEN": fake.token,
        "TELEGRAM_BASE_URL": fake.base_url,
        "TELEGRAM_BASE_FILE_URL": fake.base_file_url,
        "TELEGRAM_WEBHOOK_URL": balancer.url,
        "TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1",
        "TELEGRAM_WEBHOOK_SECRET": SECRET,
        **settings,
    }
    bots = [
        Replica(chr(ord("A") + i), port, env, folder / f"replica-{i}.log")
        for i, port in enumerate(ports)
    ]
    try:
        for bot in bots:
            bot.start()
        await asyncio.gather(*(bot.ready() for bot in bots))
        yield fake, balancer, bots
    finally:
        for bot in bots:
            bot.stop()
        await balancer.stop()
        await fake.stop()
