"""A fake Discord REST API and gateway (aiohttp) on 127.0.0.1: events in, calls recorded."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime
import itertools
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

import discord
import pytest
import yarl
from aiohttp import WSMsgType, web

from tests.fakes.server import serve

APP_ID = 700_000_000_000_000_001
BOT_ID = APP_ID  # a bot user's id is its application's
GUILD_ID = 700_000_000_000_000_100
CHANNEL_ID = 700_000_000_000_000_101  # #general in the guild
MESSAGE_CONTENT = 1 << 15  # the privileged intent's bit
EPHEMERAL = 1 << 6
# Interaction callback types (Discord's "interaction response types").
MESSAGE, DEFERRED_MESSAGE, DEFERRED_UPDATE, UPDATE = 4, 5, 6, 7


def user(user_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name.lower(),
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
    }


BOT = {**user(BOT_ID, "Lookalike"), "bot": True}


def now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat()


def member() -> dict[str, Any]:
    """A guild member object, less its user."""
    return {"roles": [], "joined_at": now(), "deaf": False, "mute": False, "flags": 0}


def shard_of(guild_id: int, shards: int) -> int:
    """The shard that receives a server's events."""
    return (guild_id >> 22) % shards


def json_response(body: Any, status: int = 200) -> web.Response:
    # discord.py reads JSON only under exactly "application/json": no charset.
    return web.Response(
        body=json.dumps(body).encode(), status=status, headers={"Content-Type": "application/json"}
    )


def error(status: int, code: int, message: str) -> web.Response:
    return json_response({"code": code, "message": message}, status)


@dataclasses.dataclass
class Call:
    """One REST request: its method, its path under /api/v10, and what it carried."""

    method: str
    path: str
    body: dict[str, Any] | None = None
    files: list[tuple[str, bytes]] = dataclasses.field(default_factory=list)
    failed: int | None = None  # the error status the fake answered instead, if any


@dataclasses.dataclass
class Sent:
    """A message the bot made visible, however it sent it (a channel message, an
    interaction response or follow-up). Edits change it in place."""

    id: int
    channel_id: int
    content: str = ""
    files: list[tuple[str, bytes]] = dataclasses.field(default_factory=list, repr=False)
    components: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    ephemeral: bool = False
    thinking: bool = False  # a deferred command's "is thinking…" placeholder
    reference: int | None = None  # the message it replies to
    deleted: bool = False
    interaction: str | None = None  # the token of the interaction it answers

    @property
    def buttons(self) -> dict[str, str]:
        """label -> custom_id"""
        return {
            b["label"]: b["custom_id"] for row in self.components for b in row.get("components", [])
        }


@dataclasses.dataclass
class Interaction:
    """An interaction the fake sent, and how the bot answered it."""

    id: int
    token: str
    type: int
    channel_id: int
    sent_at: float
    answered_after: float | None = None  # seconds to the callback; Discord allows 3
    callback: int | None = None  # the callback type
    original: Sent | None = None  # the message its response created or edits


class FakeDiscord:
    """Serves the REST routes and the gateway that discord.py uses, like Discord would.

    ``calls`` holds every REST request in arrival order; ``sent`` every message the
    bot made visible. Tests push gateway events with `message` / `slash` / `press`.
    """

    def __init__(self, token: str = "fake-discord-token") -> None:
        self.token = token
        self.calls: list[Call] = []
        self.sent: list[Sent] = []
        self.interactions: dict[str, Interaction] = {}
        self.downloads: list[str] = []
        self.commands: dict[int | None, list[dict[str, Any]]] = {}  # by guild id; None: global
        self.identify: dict[str, Any] | None = None
        self.identifies: list[dict[str, Any]] = []  # every IDENTIFY, shards' included
        # The servers the bot is in; a server's events go to the shard that owns it:
        # (id >> 22) % shards (https://discord.com/developers/docs/events/gateway#sharding).
        self.guilds: list[int] = [GUILD_ID]
        self.recommended_shards = 1  # what GET /gateway/bot answers
        self.shard_count = 1
        self.connected = asyncio.Event()
        self.changed = asyncio.Event()
        self._files: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(800_000_000_000_000_000)
        self._sequence = itertools.count(1)
        self._shards: dict[int, web.WebSocketResponse] = {}  # shard id -> its connection
        self._ws_lock = asyncio.Lock()
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Route ("POST /channels/#/messages") -> statuses to answer first: 5xx or 429,
        # as Discord (behind Cloudflare) answers them.
        self.failures: dict[str, list[int]] = {}
        # Ids of the messages the adapter under test finished handling: events to wait on.
        self.handled: list[int] = []

    # --- server -----------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 2**20)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{id}/{filename}", self._attachment)
        app.router.add_route("*", "/api/v10/{path:.*}", self._api)
        self._runner, self.port = await serve(app)

    async def stop(self) -> None:
        for ws in list(self._shards.values()):
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        """For discord.http.Route.BASE."""
        return f"http://127.0.0.1:{self.port}/api/v10"

    @property
    def gateway_url(self) -> str:
        """For DiscordWebSocket.DEFAULT_GATEWAY."""
        return f"ws://127.0.0.1:{self.port}/gateway"

    def snowflake(self) -> int:
        return next(self._ids)

    def _record(self, call: Call) -> None:
        self.calls.append(call)
        self.changed.set()

    # --- gateway ------------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"op": 10, "d": {"heartbeat_interval": 41250}, "s": None, "t": None})
        async for frame in ws:
            if frame.type is not WSMsgType.TEXT:
                continue
            payload = json.loads(frame.data)
            if payload["op"] == 1:  # HEARTBEAT
                await ws.send_json({"op": 11})
            elif payload["op"] == 2:  # IDENTIFY
                if payload["d"]["token"] != self.token:
                    await ws.close(code=4004, message=b"Authentication failed.")
                    break
                shard, count = payload["d"].get("shard") or [0, 1]
                if not 0 <= shard < count:
                    await ws.close(code=4010, message=b"Invalid shard.")
                    break
                self.identify = payload["d"]
                self.identifies.append(payload["d"])
                self.shard_count = count
                self._shards[shard] = ws
                owned = [g for g in self.guilds if shard_of(g, count) == shard]
                ready = self._ready(owned)
                if "shard" in payload["d"]:  # Discord says which shard this is, as asked
                    ready["shard"] = [shard, count]
                await self.dispatch("READY", ready, shard=shard)
                for guild_id in owned:
                    await self.dispatch("GUILD_CREATE", self._guild(guild_id), shard=shard)
                self.connected.set()
            elif payload["op"] == 6:  # RESUME: this fake keeps no sessions
                await ws.send_json({"op": 9, "d": False})
        for shard, open_ws in list(self._shards.items()):
            if open_ws is ws:
                del self._shards[shard]
        if not self._shards:
            self.connected.clear()
        return ws

    async def dispatch(self, event: str, data: dict[str, Any], shard: int | None = None) -> bool:
        """Send a gateway event (op 0, DISPATCH) to the shard that owns its server (DMs:
        shard 0). False when that shard is not connected: the event is lost."""
        assert self._shards, "the bot is not connected"
        if shard is None:
            guild = data.get("guild_id")
            shard = shard_of(int(guild), self.shard_count) if guild else 0
        ws = self._shards.get(shard)
        if ws is None or ws.closed:
            return False
        async with self._ws_lock:
            await ws.send_json({"op": 0, "t": event, "s": next(self._sequence), "d": data})
        return True

    def _ready(self, guilds: list[int]) -> dict[str, Any]:
        return {
            "v": 10,
            "user": BOT,
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(APP_ID), "flags": 0},
        }

    def _guild(self, guild_id: int = GUILD_ID) -> dict[str, Any]:
        return {
            "id": str(guild_id),
            "name": "Test server",
            "icon": None,
            "owner_id": "1",
            "unavailable": False,
            "joined_at": now(),
            "large": False,
            "member_count": 3,
            "features": [],
            "emojis": [],
            "stickers": [],
            "roles": [
                {
                    "id": str(guild_id),  # @everyone's id is the guild's
                    "name": "@everyone",
                    "permissions": "2248473465835073",
                    "position": 0,
                    "color": 0,
                    "hoist": False,
                    "managed": False,
                    "mentionable": False,
                    "flags": 0,
                }
            ],
            "channels": [self._channel(guild_id + 1, guild_id)],
            "threads": [],
            "members": [{"user": BOT, **member()}],
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }

    @staticmethod
    def _channel(channel_id: int = CHANNEL_ID, guild_id: int = GUILD_ID) -> dict[str, Any]:
        return {
            "id": str(channel_id),
            "type": 0,
            "guild_id": str(guild_id),
            "name": "general",
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "parent_id": None,
        }

    # --- events in ------------------------------------------------------------------------

    def attachment(
        self, data: bytes, filename: str = "photo.jpg", content_type: str | None = "image/jpeg"
    ) -> dict[str, Any]:
        """An attachment object whose URL this server answers."""
        attachment_id = self.snowflake()
        self._files[str(attachment_id)] = (data, content_type or "application/octet-stream")
        url = f"http://127.0.0.1:{self.port}/attachments/{attachment_id}/{filename}"
        attachment = {
            "id": str(attachment_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
        }
        if content_type is not None:
            attachment["content_type"] = content_type
        return attachment

    async def message(
        self,
        author: dict[str, Any],
        attachments: list[dict[str, Any]] = (),  # type: ignore[assignment]
        *,
        channel_id: int = CHANNEL_ID,
        guild_id: int = GUILD_ID,
        dm: bool = False,
        mention_bot: bool = False,
        content: str = "",
    ) -> dict[str, Any]:
        """MESSAGE_CREATE. As Discord does, a server message that does not mention the bot
        reaches it without content or attachments unless it asked for message content."""
        mentions = [BOT] if mention_bot else []
        if mention_bot:
            content = f"<@{BOT_ID}> {content}".strip()
        data: dict[str, Any] = {
            "id": str(self.snowflake()),
            "channel_id": str(channel_id),
            "author": author,
            "content": content,
            "timestamp": now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": mentions,
            "mention_roles": [],
            "attachments": list(attachments),
            "embeds": [],
            "pinned": False,
            "type": 0,
            "flags": 0,
            "components": [],
        }
        if not dm:
            data["guild_id"] = str(guild_id)
            data["member"] = member()
            intents = int((self.identify or {}).get("intents", 0))
            if not mention_bot and not intents & MESSAGE_CONTENT:
                data.update(content="", attachments=[], embeds=[], components=[])
        await self.dispatch("MESSAGE_CREATE", data)
        return data

    async def slash(
        self,
        name: str,
        author: dict[str, Any],
        *,
        channel_id: int = CHANNEL_ID,
        dm: bool = False,
        locale: str = "en-US",
        options: dict[str, str] | None = None,
        attachments: dict[str, dict[str, Any]] | None = None,
    ) -> Interaction:
        """INTERACTION_CREATE for a registered slash command, with its options: plain
        values, and attachments (option name -> attachment object) resolved."""
        registered = self._registered(name)
        data: dict[str, Any] = {"id": registered["id"], "name": name, "type": 1, "options": []}
        if registered.get("guild_id"):
            data["guild_id"] = registered["guild_id"]
        for option, value in (options or {}).items():
            data["options"].append({"name": option, "type": 3, "value": value})
        for option, attachment in (attachments or {}).items():
            data["options"].append({"name": option, "type": 11, "value": attachment["id"]})
            data.setdefault("resolved", {}).setdefault("attachments", {})[attachment["id"]] = (
                attachment
            )
        return await self._interact(2, data, author, channel_id, dm, locale)

    async def press(
        self, message: Sent, author: dict[str, Any], label: str, locale: str = "en-US"
    ) -> Interaction:
        """INTERACTION_CREATE for a click on one of a message's buttons."""
        custom_id = message.buttons[label]
        data = {"custom_id": custom_id, "component_type": 2}
        dm = message.channel_id != CHANNEL_ID
        return await self._interact(
            3,
            data,
            author,
            message.channel_id,
            dm,
            locale,
            message,
            message=self._message_json(message),
        )

    def _registered(self, name: str) -> dict[str, Any]:
        for commands in self.commands.values():
            for command in commands:
                if command["name"] == name:
                    return command
        raise AssertionError(f"/{name} was never registered; registered: {self.commands}")

    async def _interact(
        self,
        kind: int,
        data: dict[str, Any],
        author: dict[str, Any],
        channel_id: int,
        dm: bool,
        locale: str,
        original: Sent | None = None,
        **extra: Any,
    ) -> Interaction:
        interaction = Interaction(
            self.snowflake(), secrets.token_urlsafe(24), kind, channel_id, time.monotonic()
        )
        # For a button press, the original response is the message the button is on.
        interaction.original = original
        self.interactions[interaction.token] = interaction
        payload: dict[str, Any] = {
            "id": str(interaction.id),
            "application_id": str(APP_ID),
            "type": kind,
            "data": data,
            "token": interaction.token,
            "version": 1,
            "channel_id": str(channel_id),
            "locale": locale,
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "attachment_size_limit": 25 * 2**20,
            **extra,
        }
        if dm:
            payload["channel"] = {"id": str(channel_id), "type": 1, "recipients": [author]}
            payload["user"] = author
            payload["context"] = 1
            payload["authorizing_integration_owners"] = {"0": author["id"]}
        else:
            payload["guild_id"] = str(GUILD_ID)
            payload["guild_locale"] = "en-US"
            payload["channel"] = self._channel(channel_id)
            payload["member"] = {"user": author, **member(), "permissions": "2248473465835073"}
            payload["context"] = 0
            payload["authorizing_integration_owners"] = {"0": str(GUILD_ID)}
        interaction.sent_at = time.monotonic()
        await self.dispatch("INTERACTION_CREATE", payload)
        return interaction

    # --- REST -------------------------------------------------------------------------------

    async def _attachment(self, request: web.Request) -> web.Response:
        found = self._files.get(request.match_info["id"])
        self.downloads.append(request.match_info["id"])
        self.changed.set()
        if found is None:
            return web.Response(status=404)
        data, content_type = found
        return web.Response(body=data, headers={"Content-Type": content_type})

    async def _api(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        call = Call(request.method, path, *await self._body(request))
        self._record(call)
        own_token = path.startswith(("/interactions/", "/webhooks/"))  # the interaction's
        if not own_token and request.headers.get("Authorization") != f"Bot {self.token}":
            return error(401, 0, "401: Unauthorized")
        parts = path.strip("/").split("/")
        route = (request.method, *[p if not p[:1].isdigit() else "#" for p in parts])
        statuses = self.failures.get(f"{route[0]} /{'/'.join(route[1:])}")
        if statuses:
            call.failed = statuses.pop(0)
            return self._failure(call.failed)
        refusal = self._refusal(call)
        if refusal is not None:
            return refusal
        match route:
            case ("GET", "gateway", "bot"):
                limit = {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}
                return json_response(
                    {
                        "url": self.gateway_url,
                        "shards": self.recommended_shards,
                        "session_start_limit": limit,
                    }
                )
            case ("GET", "users", "@me"):
                return json_response(BOT)
            case ("GET", "oauth2", "applications", "@me"):
                return json_response(self._application())
            case ("PUT", "applications", "#", "commands"):
                return json_response(self._register(None, call.body))
            case ("PUT", "applications", "#", "guilds", "#", "commands"):
                return json_response(self._register(int(parts[3]), call.body))
            case ("POST", "channels", "#", "typing"):
                return web.Response(status=204)
            case ("POST", "channels", "#", "messages"):
                return self._channel_message(int(parts[1]), call)
            case ("POST", "interactions", "#", _, "callback"):
                return self._callback(parts[2], call)
            case ("POST", "webhooks", "#", _):
                return self._followup(parts[2], call)
            case ("PATCH", "webhooks", "#", _, "messages", "@original"):
                return self._edit_original(parts[2], call)
            case ("DELETE", "webhooks", "#", _, "messages", "@original"):
                return self._delete_original(parts[2])
        return error(404, 0, f"404: Not Found ({request.method} {path} is not faked)")

    @staticmethod
    def _failure(status: int) -> web.Response:
        if status == 429:  # discord.py trusts a 429 only through Cloudflare (a Via header)
            body = {"message": "You are being rate limited.", "retry_after": 0.2, "global": False}
            response = json_response(body, 429)
            response.headers.update({"Via": "1.1 google", "Retry-After": "1"})
            return response
        return error(status, 0, f"{status}: Server Error")

    @staticmethod
    def _refusal(call: Call) -> web.Response | None:
        """What Discord refuses in any message: content over 2,000 characters, more than 10
        attachments, a button's custom_id over 100 characters."""
        body = call.body if isinstance(call.body, dict) else {}
        data = body.get("data") if isinstance(body.get("data"), dict) else body
        if len(data.get("content") or "") > 2000:
            return error(400, 50035, "Invalid Form Body: content must be 2000 or fewer in length")
        if len(call.files) > 10:
            return error(400, 50035, "Invalid Form Body: too many attachments (10 at most)")
        for row in data.get("components") or []:
            for item in row.get("components", []):
                if len(item.get("custom_id", "")) > 100:
                    return error(400, 50035, "Invalid Form Body: custom_id too long")
        return None

    @staticmethod
    async def _body(request: web.Request) -> tuple[dict[str, Any] | None, list[tuple[str, bytes]]]:
        if request.content_type == "application/json":
            return await request.json(), []
        if request.content_type != "multipart/form-data":
            return None, []
        body, files = None, []
        form = await request.post()
        for key, value in form.items():
            if isinstance(value, web.FileField):
                files.append((value.filename, value.file.read()))
            elif key == "payload_json":
                body = json.loads(value)
        return body, files

    def _application(self) -> dict[str, Any]:
        return {
            "id": str(APP_ID),
            "name": "Lookalike",
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user(1, "Owner"),
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
        }

    def _register(self, guild_id: int | None, commands: Any) -> list[dict[str, Any]]:
        registered = []
        for command in commands or []:
            registered.append(
                {
                    "type": 1,
                    "options": [],
                    **command,
                    "id": str(self.snowflake()),
                    "application_id": str(APP_ID),
                    "version": "1",
                    "default_member_permissions": None,
                    **({"guild_id": str(guild_id)} if guild_id else {}),
                }
            )
        self.commands[guild_id] = registered
        return registered

    # --- messages --------------------------------------------------------------------------

    def _new(self, channel_id: int, call: Call, **fields: Any) -> Sent:
        body = call.body or {}
        sent = Sent(
            self.snowflake(),
            channel_id,
            content=body.get("content") or "",
            files=call.files,
            components=body.get("components") or [],
            ephemeral=bool(int(body.get("flags") or 0) & EPHEMERAL),
            **fields,
        )
        self.sent.append(sent)
        return sent

    def _message_json(self, sent: Sent) -> dict[str, Any]:
        message = {
            "id": str(sent.id),
            "channel_id": str(sent.channel_id),
            "author": BOT,
            "content": sent.content,
            "timestamp": now(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [
                {
                    "id": str(self.snowflake()),
                    "filename": name,
                    "size": len(data),
                    "url": f"http://127.0.0.1:{self.port}/sent/{name}",
                    "proxy_url": f"http://127.0.0.1:{self.port}/sent/{name}",
                }
                for name, data in sent.files
            ],
            "embeds": [],
            "pinned": False,
            "type": 19 if sent.reference else 0,
            "flags": EPHEMERAL if sent.ephemeral else 0,
            "components": sent.components,
        }
        if sent.channel_id - 1 in self.guilds:  # a server's channel (see _guild)
            message["guild_id"] = str(sent.channel_id - 1)
        return message

    def _channel_message(self, channel_id: int, call: Call) -> web.Response:
        body = call.body or {}
        if not (body.get("content") or call.files):
            return error(400, 50006, "Cannot send an empty message")
        reference = body.get("message_reference") or {}
        sent = self._new(channel_id, call, reference=int(reference.get("message_id") or 0) or None)
        return json_response(self._message_json(sent))

    def _interaction(self, token: str) -> Interaction | None:
        return self.interactions.get(token)

    def _callback(self, token: str, call: Call) -> web.Response:
        interaction = self._interaction(token)
        if interaction is None:
            return error(404, 10062, "Unknown interaction")
        if interaction.callback is not None:
            return error(400, 40060, "Interaction has already been acknowledged.")
        body = call.body or {}
        kind = int(body["type"])
        interaction.callback = kind
        interaction.answered_after = time.monotonic() - interaction.sent_at
        data = body.get("data") or {}
        message = Call(call.method, call.path, data, call.files)
        if kind in (MESSAGE, DEFERRED_MESSAGE):
            interaction.original = self._new(
                interaction.channel_id,
                message,
                thinking=kind == DEFERRED_MESSAGE,
                interaction=token,
            )
        elif kind == UPDATE:
            if interaction.original is None:
                return error(400, 40004, "No message to update")
            self._update(interaction.original, message)
        answer: dict[str, Any] = {
            "interaction": {"id": str(interaction.id), "type": interaction.type},
        }
        if interaction.original is not None and kind != DEFERRED_UPDATE:
            original = interaction.original
            answer["interaction"].update(
                response_message_id=str(original.id),
                response_message_loading=original.thinking,
                response_message_ephemeral=original.ephemeral,
            )
            answer["resource"] = {"type": kind, "message": self._message_json(original)}
        self.changed.set()
        return json_response(answer)

    def _update(self, sent: Sent, call: Call) -> None:
        body = call.body or {}
        if "content" in body:
            sent.content = body["content"] or ""
        if "components" in body:
            sent.components = body["components"] or []
        if call.files or "attachments" in body:
            sent.files = call.files
        sent.thinking = False
        self.changed.set()

    def _followup(self, token: str, call: Call) -> web.Response:
        interaction = self._interaction(token)
        if interaction is None or interaction.callback is None:
            return error(404, 10015, "Unknown Webhook")
        sent = self._new(interaction.channel_id, call, interaction=token)
        return json_response(self._message_json(sent))

    def _edit_original(self, token: str, call: Call) -> web.Response:
        interaction = self._interaction(token)
        if interaction is None or interaction.original is None or interaction.original.deleted:
            return error(404, 10008, "Unknown Message")
        self._update(interaction.original, call)
        return json_response(self._message_json(interaction.original))

    def _delete_original(self, token: str) -> web.Response:
        interaction = self._interaction(token)
        if interaction is None or interaction.original is None:
            return error(404, 10008, "Unknown Message")
        interaction.original.deleted = True
        self.changed.set()
        return web.Response(status=204)


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py at the fake, through its own seams: where its REST routes
    (interaction webhooks included) and its gateway are."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(discord.http.Route, "BASE", fake.api_url)
        patch.setattr(
            discord.gateway.DiscordWebSocket, "DEFAULT_GATEWAY", yarl.URL(fake.gateway_url)
        )
        yield
