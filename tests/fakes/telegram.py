"""A fake Telegram Bot API server (aiohttp) on 127.0.0.1: scripted updates in, calls recorded.

It refuses what the real Bot API refuses (https://core.telegram.org/bots/api), with the
same kind of answer: 400 Bad Request for text, captions, button data, media groups and
photos past their limits, and for files too large for bots to download.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web
from PIL import Image

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.telegram_bot import TelegramAdapter
from engine.engine import Engine
from tests.fakes.server import serve
from tests.fakes.webhook import Refused, Webhook

BOT_ID = 4242
BOT_USERNAME = "LookalikeTestBot"

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64  # bytes
MEDIA_GROUP = (2, 10)
DOWNLOAD_LIMIT = 20 * 10**6
PHOTO_BYTES = 10 * 10**6
PHOTO_SIDES = 10_000
PHOTO_RATIO = 20
# Telegram's placeholder accounts for anonymous senders (Bot API: Message.sender_chat).
GROUP_ANONYMOUS_BOT = {
    "id": 1087968824,
    "is_bot": True,
    "first_name": "Group",
    "username": "GroupAnonymousBot",
}
CHANNEL_BOT = {"id": 136817688, "is_bot": True, "first_name": "Channel", "username": "Channel_Bot"}


class FakeTelegram:
    """Serves getUpdates from a queue, getFile and file downloads, and records what the bot sends.

    Every request is answered as the Bot API would, shaped closely enough for
    python-telegram-bot to parse. ``calls`` holds (method, params) in arrival order.
    """

    def __init__(self, token: str = "123456:TEST-TOKEN", *, local: bool = False) -> None:
        """``local``: answer as a local Bot API server does, which also takes webhooks
        on plain HTTP and any port (tests serve them on 127.0.0.1)."""
        self.token = token
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.files: dict[str, bytes] = {}
        self._updates: list[dict[str, Any]] = []
        self._new = asyncio.Event()
        self._update_ids = itertools.count(1)
        self._message_ids = itertools.count(1000)
        self._file_ids = itertools.count(1)
        self.changed = asyncio.Event()
        self.failures: dict[str, list[int]] = {}  # method -> HTTP statuses to answer first
        # Private chats the bot may write to: the user wrote to it first, as Telegram requires.
        self.started: set[int] = set()
        # What the adapter under test decided to send for each update it handled (an
        # empty list for an update it ignored), in order: events to wait on, not sleeps.
        self.handled: list[list[Any]] = []
        self.delays: dict[str, list[float]] = {}  # method -> seconds to stall first answers
        self._runner: web.AppRunner | None = None
        self.port = 0
        self.webhook = Webhook(self._updates, self._new, local)
        self.pushed: list[dict[str, Any]] = []  # every update pushed, in order

    # --- server -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_post("/bot{token}/{method}", self._api)
        app.router.add_get("/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.*}", self._file)
        self._runner, self.port = await serve(app)

    async def stop(self) -> None:
        await self.webhook.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def base_file_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/file/bot"

    async def _file(self, request: web.Request) -> web.Response:
        data = self.files.get(request.match_info["path"])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="application/octet-stream")

    async def _api(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return web.json_response(
                {"ok": False, "error_code": 401, "description": "Unauthorized"}
            )
        method = request.match_info["method"]
        params = await self._params(request)
        delays = self.delays.get(method)
        if delays:
            await asyncio.sleep(delays.pop(0))
            self.calls.append((f"{method}!slow", params))
        statuses = self.failures.get(method)
        if statuses:
            status = statuses.pop(0)
            self.calls.append((f"{method}!{status}", params))
            if status == 429:
                body = {
                    "ok": False,
                    "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1},
                }
            else:
                body = {"ok": False, "error_code": status, "description": "Internal Server Error"}
            return web.json_response(body, status=status)
        if method == "getUpdates":
            if self.webhook.active:
                self.calls.append(("getUpdates!409", params))
                description = (
                    "Conflict: can't use getUpdates method while webhook is active;"
                    " use deleteWebhook to delete the webhook first"
                )
                body = {"ok": False, "error_code": 409, "description": description}
                return web.json_response(body, status=409)
            return web.json_response({"ok": True, "result": await self._get_updates(params)})
        try:
            refusal = self._refusal(method, params)
        except Refused as exc:
            refusal = str(exc)
        if refusal is not None:
            self.calls.append((f"{method}!400", params))
            self.changed.set()
            body = {"ok": False, "error_code": 400, "description": f"Bad Request: {refusal}"}
            return web.json_response(body, status=400)
        chat_id = int(params.get("chat_id") or 0)
        if method.startswith("send") and chat_id > 0 and chat_id not in self.started:
            self.calls.append((f"{method}!403", params))
            self.changed.set()
            description = "Forbidden: bot can't initiate conversation with a user"
            body = {"ok": False, "error_code": 403, "description": description}
            return web.json_response(body, status=403)
        self.calls.append((method, params))
        self.changed.set()
        handler: Callable[[dict[str, Any]], Any] = getattr(self, f"_{method}", self._message)
        return web.json_response({"ok": True, "result": handler(params)})

    def _refusal(self, method: str, params: dict[str, Any]) -> str | None:
        """What the real Bot API would refuse in this call, if anything."""
        if method == "sendMessage":
            text = params.get("text") or ""
            if not text.strip():
                return "message text is empty"
            if len(text) > TEXT_LIMIT:
                return "message is too long"
        captions = [params.get("caption")] + [m.get("caption") for m in params.get("media", [])]
        if any(c and len(c) > CAPTION_LIMIT for c in captions):
            return "message caption is too long"
        keyboard = (params.get("reply_markup") or {}).get("inline_keyboard", [])
        for row in keyboard:
            for button in row:
                if len(button.get("callback_data", "").encode()) > CALLBACK_DATA_LIMIT:
                    return "BUTTON_DATA_INVALID"
        if method == "sendMediaGroup":
            media = params.get("media", [])
            if not MEDIA_GROUP[0] <= len(media) <= MEDIA_GROUP[1]:
                return "wrong number of media specified"
            photos = [params[m["media"].removeprefix("attach://")] for m in media]
            if any(not self._photo_fits(p["bytes"]) for p in photos):
                return "PHOTO_INVALID_DIMENSIONS"
        photo = params.get("photo") if method == "sendPhoto" else None
        if isinstance(photo, dict) and not self._photo_fits(photo["bytes"]):
            return "PHOTO_INVALID_DIMENSIONS"
        if method == "setWebhook":
            self.webhook.set(params)  # refuses, or sets it: nothing else to check
        if method == "getFile":
            data = self.files.get(str(params.get("file_id")))
            if data is not None and len(data) > DOWNLOAD_LIMIT:
                return "file is too big"
        return None

    @staticmethod
    def _photo_fits(data: bytes) -> bool:
        if len(data) > PHOTO_BYTES:
            return False
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        return width + height <= PHOTO_SIDES and max(width, height) <= PHOTO_RATIO * min(
            width, height
        )

    @staticmethod
    async def _params(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            return dict(await request.json())
        form = await request.post()
        params: dict[str, Any] = {}
        for key, value in form.items():
            if isinstance(value, web.FileField):
                params[key] = {"filename": value.filename, "bytes": value.file.read()}
            else:
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        return params

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        self._updates[:] = [u for u in self._updates if u["update_id"] >= offset]
        if not self._updates:
            self._new.clear()
            timeout = min(float(params.get("timeout") or 0), 1.0)
            try:
                await asyncio.wait_for(self._new.wait(), timeout)
            except TimeoutError:
                return []
        return list(self._updates)

    # --- Bot API methods -------------------------------------------------------------------

    def _getMe(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": BOT_ID,
            "is_bot": True,
            "first_name": "Lookalike",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }

    def _getFile(self, params: dict[str, Any]) -> dict[str, Any]:
        file_id = str(params["file_id"])
        return {
            "file_id": file_id,
            "file_unique_id": file_id,
            "file_size": len(self.files[file_id]),
            "file_path": file_id,
        }

    def _message(self, params: dict[str, Any]) -> Any:
        if params.get("chat_id") is None:
            return True  # setMyCommands, answerCallbackQuery, deleteWebhook, sendChatAction...
        return self.message(int(params["chat_id"]), sender=self._getMe({}), text=params.get("text"))

    def _setWebhook(self, params: dict[str, Any]) -> bool:
        return True  # set while checking it (_refusal)

    def _deleteWebhook(self, params: dict[str, Any]) -> bool:
        return self.webhook.delete(params)

    def _getWebhookInfo(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.webhook.info()

    def _sendDocument(self, params: dict[str, Any]) -> dict[str, Any]:
        return self.message(int(params["chat_id"]), sender=self._getMe({}))

    def _sendMediaGroup(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            self.message(int(params["chat_id"]), sender=self._getMe({})) for _ in params["media"]
        ]

    def _sendChatAction(self, params: dict[str, Any]) -> bool:
        return True

    def _editMessageReplyMarkup(self, params: dict[str, Any]) -> Any:
        return True

    # --- building updates --------------------------------------------------------------------

    def message(
        self, chat_id: int, sender: dict[str, Any], text: str | None = None, **fields: Any
    ) -> dict[str, Any]:
        chat_type = "private" if chat_id > 0 else "supergroup"
        chat = {"id": chat_id, "type": chat_type}
        if chat_type != "private":
            chat["title"] = "Test group"
        message = {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "from": sender,
            **fields,
        }
        if text is not None:
            message["text"] = text
        return message

    def push(self, **update: Any) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **update}
        message = update.get("message")
        if message is not None and message["chat"]["type"] == "private":
            self.started.add(int(message["chat"]["id"]))
        self._updates.append(update)
        self.pushed.append(update)
        self._new.set()
        return update

    def redeliver(self, update: dict[str, Any]) -> None:
        """Deliver ``update`` again, as Telegram does when the webhook's answer was slow
        or lost."""
        self._updates.append(update)
        self._new.set()

    def add_file(self, data: bytes) -> str:
        file_id = f"file{next(self._file_ids)}"
        self.files[file_id] = data
        return file_id


def user(user_id: int, name: str, language: str = "en") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name, "language_code": language}


def photo_sizes(file_id: str, size: int) -> list[dict[str, Any]]:
    return [
        {
            "file_id": file_id,
            "file_unique_id": file_id,
            "width": 512,
            "height": 512,
            "file_size": size,
        }
    ]


@contextlib.asynccontextmanager
async def telegram_bot(
    fake: FakeTelegram, engine: Engine, *, poll: bool = False, **settings: Any
) -> AsyncIterator[TelegramAdapter]:
    """The real Telegram adapter, with its own Conversation, running against ``fake``
    until the block ends. ``poll``: the fake serves from another thread and loop,
    so wait for it by polling its call list rather than on its event."""
    bot_settings = BotSettings(
        telegram_token=fake.token,
        telegram_base_url=fake.base_url,
        telegram_base_file_url=fake.base_file_url,
        **settings,
    )
    adapter = TelegramAdapter(Conversation(engine, bot_settings), bot_settings)
    send = adapter.send

    async def recorded(chat: Any, replies: list[Any], *args: Any, **kwargs: Any) -> None:
        await send(chat, replies, *args, **kwargs)
        fake.handled.append(list(replies))
        fake.changed.set()

    adapter.send = recorded  # type: ignore[method-assign]
    task = asyncio.create_task(adapter.run())
    try:
        while True:
            if not poll:
                fake.changed.clear()  # before looking, so that no call slips between
            if any(method == "setMyCommands" for method, _ in fake.calls):
                break
            if poll:
                await asyncio.sleep(0.05)
            else:
                await asyncio.wait_for(fake.changed.wait(), 30)
        yield adapter
    finally:
        adapter.stop()
        await asyncio.wait_for(task, 30)
