"""The fake Bot API's webhook: setWebhook, deleteWebhook, getWebhookInfo, and delivery by POST.

It checks what the Bot API checks (https://core.telegram.org/bots/api#setwebhook):
an HTTPS URL on port 443, 80, 88 or 8443, a secret token of 1-256 characters
from A-Z, a-z, 0-9, _ and -, and 1-100 connections. A local Bot API server
(https://github.com/tdlib/telegram-bot-api, ``local=True``) also takes plain
HTTP, any port and up to 100,000 connections, which a test on 127.0.0.1 needs.
While a webhook is set, getUpdates answers 409 Conflict. An update is delivered
until the bot answers it with a 2xx status, and retried after a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from typing import Any
from urllib.parse import urlsplit

import aiohttp

SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
PORTS = (443, 80, 88, 8443)
RETRY_SECONDS = 0.5  # Telegram waits longer, and longer each time; a test need not


class Refused(Exception):
    """What the Bot API answers with 400 Bad Request: the description."""


class Webhook:
    """One bot's webhook: where updates go, and the updates delivered there.

    ``deliveries`` holds (update_id, HTTP status or the error's name) per attempt.
    """

    def __init__(self, updates: list[dict[str, Any]], new: asyncio.Event, local: bool) -> None:
        self.updates, self.new, self.local = updates, new, local
        self.url = ""
        self.secret: str | None = None
        self.max_connections = 40
        self.deliveries: list[tuple[int, int | str]] = []
        self.last_error: tuple[int, str] | None = None
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        self._inflight: set[int] = set()
        self._posts: set[asyncio.Task[None]] = set()

    @property
    def active(self) -> bool:
        return bool(self.url)

    # --- Bot API methods ----------------------------------------------------------------

    def set(self, params: dict[str, Any]) -> bool:
        url = str(params.get("url") or "")
        if not url:
            return self.delete(params)
        parts = urlsplit(url)
        if parts.scheme != "https" and not (self.local and parts.scheme == "http"):
            raise Refused("bad webhook: An HTTPS URL must be provided for webhook")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        if not self.local and port not in PORTS:
            raise Refused("bad webhook: Webhook can be set up only on ports 80, 88, 443 or 8443")
        secret = params.get("secret_token")
        if secret is not None and not SECRET.fullmatch(str(secret)):
            raise Refused("secret token contains unallowed characters")
        connections = int(params.get("max_connections") or 40)
        if not 1 <= connections <= (100_000 if self.local else 100):
            raise Refused("max_connections is out of range")  # the real one clamps or refuses
        if params.get("drop_pending_updates"):
            self.updates.clear()
        self.url, self.secret, self.max_connections = url, secret, connections
        if self._task is None:
            self._task = asyncio.create_task(self._deliver())
        self.new.set()
        return True

    def delete(self, params: dict[str, Any]) -> bool:
        if params.get("drop_pending_updates"):
            self.updates.clear()
        self.url, self.secret = "", None
        return True

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "url": self.url,
            "has_custom_certificate": False,
            "pending_update_count": len(self.updates),
        }
        if self.url:
            info["max_connections"] = self.max_connections
        if self.last_error is not None:
            info["last_error_date"], info["last_error_message"] = self.last_error
        return info

    async def close(self) -> None:
        for task in [self._task, *self._posts]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._session is not None:
            await self._session.close()

    # --- delivery ---------------------------------------------------------------------------

    async def _deliver(self) -> None:
        """POST each pending update to the URL, up to ``max_connections`` at once."""
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60))
        while True:
            waiting = [u for u in self.updates if self.url and u["update_id"] not in self._inflight]
            room = self.max_connections - len(self._inflight)
            if not waiting or room <= 0:
                self.new.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.new.wait(), RETRY_SECONDS)
                continue
            for update in waiting[:room]:
                self._inflight.add(update["update_id"])
                post = asyncio.create_task(self._post(update))
                self._posts.add(post)
                post.add_done_callback(self._posts.discard)

    async def _post(self, update: dict[str, Any]) -> None:
        headers = {"X-Telegram-Bot-Api-Secret-Token": self.secret} if self.secret else {}
        assert self._session is not None
        outcome: int | str
        try:
            async with self._session.post(self.url, json=update, headers=headers) as response:
                outcome = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = type(exc).__name__
        self.deliveries.append((update["update_id"], outcome))
        if isinstance(outcome, int) and 200 <= outcome < 300:
            with contextlib.suppress(ValueError):
                self.updates.remove(update)
        else:
            self.last_error = (int(time.time()), f"Wrong response from the webhook: {outcome}")
            await asyncio.sleep(RETRY_SECONDS)
        self._inflight.discard(update["update_id"])
        self.new.set()
