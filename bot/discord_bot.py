"""Discord adapter (discord.py 2.x): slash commands, attachments and buttons in, messages out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

import aiohttp
import discord
from discord import app_commands

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, Reply, Upload, User
from bot.discord_ui import AnswerButton, outgoing, slash_command
from bot.scheduling import LoopScheduler

log = logging.getLogger(__name__)

PLATFORM = "discord"
T = TypeVar("T")


# --- platform types in ----------------------------------------------------------------


def chat_of(channel_id: int, channel: object) -> Chat:
    """A DM is a private chat; anything else (a server channel, a thread) is a group."""
    return Chat(PLATFORM, str(channel_id), is_group=not isinstance(channel, discord.DMChannel))


def user_of(author: discord.abc.User, locale: discord.Locale | None = None) -> User:
    """``locale`` is the Discord client's language, which only interactions carry."""
    return User(PLATFORM, str(author.id), author.display_name, locale.value if locale else None)


def upload_of(attachment: discord.Attachment, sender: discord.abc.User) -> Upload:
    async def fetch() -> bytes:
        return await retrying(attachment.read, idempotent=True)

    return Upload(attachment.size, attachment.content_type, fetch, str(sender.id))


def photo_of(attachments: list[discord.Attachment]) -> discord.Attachment | None:
    """The first image, else the first file: the conversation explains why that is no photo."""
    for attachment in attachments:
        if (attachment.content_type or "").startswith("image/"):
            return attachment
    return attachments[0] if attachments else None


async def retrying(call: Callable[[], Awaitable[T]], *, idempotent: bool, attempts: int = 4) -> T:
    """Retry a call on network errors, with exponential backoff.

    discord.py already waits out rate limits (429) and retries 5xx answers; this
    covers a connection that fails. A call that changes something (a message sent) is
    retried only when it surely never reached Discord: after a timeout it may have
    been done. Interaction responses are not retried: Discord takes one, within 3 s.
    """
    for attempt in range(attempts):
        try:
            return await call()
        except (aiohttp.ClientError, TimeoutError) as exc:
            unsent = isinstance(exc, aiohttp.ClientConnectorError)
            if attempt == attempts - 1 or not (idempotent or unsent):
                raise
            delay = 0.5 * 2**attempt
            log.warning("Discord call failed (%s); retrying in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


# --- the client ---------------------------------------------------------------------------


def intents_of(settings: BotSettings) -> discord.Intents:
    """Only what the bot uses. Without message content, Discord still shows the bot the
    messages in DMs and those that mention it, attachments included."""
    intents = discord.Intents.none()
    intents.guilds = True  # the server channels that interactions and messages arrive from
    intents.guild_messages = True
    intents.dm_messages = True
    intents.message_content = settings.discord_message_content
    return intents


def shard_ids(settings: BotSettings) -> list[int] | None:
    """The shards this process runs, from DISCORD_SHARD_IDS ("0,1" or "0-3" or both);
    None: every shard of DISCORD_SHARD_COUNT."""
    if not settings.discord_shard_ids:
        return None
    ids: list[int] = []
    for part in settings.discord_shard_ids:
        low, _, high = part.partition("-")
        ids += range(int(low), int(high or low) + 1)
    count = settings.discord_shard_count
    if not count or any(not 0 <= i < count for i in ids):
        raise ValueError(f"DISCORD_SHARD_IDS must be shards of DISCORD_SHARD_COUNT ({count})")
    return sorted(set(ids))


class LookalikeClient(discord.AutoShardedClient):
    """discord.py's sharded client with a command tree; every event goes to the adapter.

    Each process runs the shards DISCORD_SHARD_IDS names, of DISCORD_SHARD_COUNT (0: as
    many as Discord recommends, all here); Discord sends each shard the events of the
    servers it owns, so the processes share the servers without talking to each other.
    """

    def __init__(
        self, adapter: DiscordAdapter, intents: discord.Intents, settings: BotSettings
    ) -> None:
        super().__init__(
            shard_count=settings.discord_shard_count or None,
            shard_ids=shard_ids(settings),
            intents=intents,
            # Names in replies are users' own display names: never let one ping @everyone.
            allowed_mentions=discord.AllowedMentions.none(),
            max_messages=None,  # no message cache: photos' URLs are not kept
            member_cache_flags=discord.MemberCacheFlags.none(),
        )
        self.adapter = adapter
        self.tree = app_commands.CommandTree(self)

    async def setup_hook(self) -> None:
        await self.adapter.setup()

    async def on_ready(self) -> None:
        log.info("Discord bot %s is running in %d servers", self.user, len(self.guilds))

    async def on_message(self, message: discord.Message) -> None:
        await self.adapter.on_message(message)


class DiscordAdapter:
    """Runs one discord.py client in the current event loop."""

    platform = PLATFORM
    # Discord drops an interaction not answered within 3 s: work that takes longer
    # than this is deferred first ("the bot is thinking…"), then answered.
    answer_within = 1.5

    def __init__(self, conversation: Conversation, settings: BotSettings) -> None:
        self.conversation = conversation
        self.settings = settings
        self.client = LookalikeClient(self, intents_of(settings), settings)
        self.scheduler = LoopScheduler()
        self._stop = asyncio.Event()

    # --- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Connect, and serve until `stop()` (or until cancelled)."""
        self._stop.clear()
        async with self.client:
            runner = asyncio.ensure_future(self.client.start(self.settings.discord_token))
            stopper = asyncio.ensure_future(self._stop.wait())
            try:
                await asyncio.wait({runner, stopper}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopper.cancel()
                self.scheduler.stop()
                await self.client.close()  # start() returns once the gateway is closed
                # discord.py's wait for the servers (before on_ready) outlives close(), and
                # fails noisily when it ends: stop it too.
                ready = getattr(self.client._connection, "_ready_task", None)
                if ready is not None:
                    ready.cancel()
                try:
                    await runner
                except Exception:
                    if not self._stop.is_set():
                        raise
                    log.debug("Discord client stopped while starting", exc_info=True)

    def stop(self) -> None:
        self._stop.set()

    async def setup(self) -> None:
        """Once logged in, before the gateway connects (discord.py's setup_hook)."""
        self.client.add_dynamic_items(AnswerButton)
        await self.sync_commands()
        self.scheduler.start()

    async def sync_commands(self) -> None:
        """A slash command for each listed command of the table, told to Discord: in one
        server, where they appear at once (for development), or everywhere."""
        tree = self.client.tree
        for command in self.conversation.commands.values():
            if not command.hidden:
                tree.add_command(slash_command(command, self._slash(command.name)), override=True)
        guild_id = self.settings.discord_guild_id
        try:
            if guild_id:
                guild = discord.Object(id=guild_id)
                tree.copy_global_to(guild=guild)
                synced = await tree.sync(guild=guild)
            else:
                synced = await tree.sync()
        except discord.HTTPException as exc:
            log.error("could not sync slash commands (%s); Discord keeps the last ones", exc)
            return
        where = f"to server {guild_id}" if guild_id else "globally"
        log.info("synced %d slash commands %s", len(synced), where)

    def _slash(self, name: str) -> Callable[..., Awaitable[None]]:
        async def run(
            interaction: discord.Interaction, args: str, photo: discord.Attachment | None
        ) -> None:
            upload = upload_of(photo, interaction.user) if photo is not None else None
            await self.on_slash(interaction, name, args, upload)

        return run

    # --- events in ---------------------------------------------------------------------

    async def on_slash(
        self, interaction: discord.Interaction, name: str, args: str, upload: Upload | None
    ) -> None:
        chat = chat_of(interaction.channel_id or 0, interaction.channel)
        user = user_of(interaction.user, interaction.locale)
        work = self.conversation.on_command(chat, user, name, args, upload, private_ok=True)
        await self._answer(interaction, await self._in_time(interaction, work))

    async def on_press(self, interaction: discord.Interaction, data: str) -> None:
        """A button: the presser may be told something alone; a settled question loses its
        buttons; the answer goes to the channel, privately where it is private."""
        chat = chat_of(interaction.channel_id or 0, interaction.channel)
        user = user_of(interaction.user, interaction.locale)
        pressed = await self._in_time(interaction, self.conversation.on_button(chat, user, data))
        notice, response = pressed.notice, interaction.response
        try:
            if response.is_done():  # deferred: the message is still as it was
                if pressed.settled:
                    await interaction.edit_original_response(view=None)
            elif pressed.settled:
                await response.edit_message(view=None)
            elif notice:
                await response.send_message(notice, ephemeral=True)
                notice = None
            else:
                await response.defer()
            if notice:
                await interaction.followup.send(notice, ephemeral=True)
        except discord.HTTPException as exc:
            log.error("could not answer a Discord button press: %s", exc)
        await self._answer(interaction, list(pressed.replies))

    async def on_message(self, message: discord.Message) -> None:
        """A photo sent as a message: answered in DMs and where the bot is mentioned
        (or, with the message content intent, wherever the conversation wants it)."""
        if message.author.bot:
            return
        attachment = photo_of(message.attachments)
        if attachment is None:
            return
        chat, user = chat_of(message.channel.id, message.channel), user_of(message.author)
        addressed = not chat.is_group or self._addressed(message)
        upload = upload_of(attachment, message.author)
        # A photo the bot may ignore shows "typing" only if its handling turns out slow.
        async with self._typing(message.channel, delay=0.0 if addressed else 1.0):
            replies = await self.conversation.on_photo(chat, user, upload, addressed)
        reference = message.to_reference(fail_if_not_exists=False)
        await self._send(message.channel, replies, reference)

    def _addressed(self, message: discord.Message) -> bool:
        """Whether a server message is meant for the bot: a mention or a reply to it."""
        me = self.client.user
        if me is None:
            return False
        if any(user.id == me.id for user in message.mentions):
            return True
        replied = message.reference.resolved if message.reference else None
        return isinstance(replied, discord.Message) and replied.author.id == me.id

    async def _in_time(self, interaction: discord.Interaction, work: Awaitable[T]) -> T:
        """``work``'s result; if it is slow, the interaction is deferred meanwhile: a command
        shows that the bot is thinking, a button press leaves its message as it is."""
        task = asyncio.ensure_future(work)
        done, _ = await asyncio.wait({task}, timeout=self.answer_within)
        if not done:
            try:
                await interaction.response.defer(thinking=False)
            except discord.HTTPException as exc:
                log.warning("could not defer a Discord interaction: %s", exc)
        return await task

    @contextlib.asynccontextmanager
    async def _typing(self, channel: discord.abc.Messageable, delay: float) -> AsyncIterator[None]:
        """Show "typing" in the channel until the work is done."""

        async def keep_typing() -> None:
            await asyncio.sleep(delay)
            while True:
                with contextlib.suppress(discord.HTTPException, aiohttp.ClientError, TimeoutError):
                    await channel.typing()  # shows for 10 s, or until the bot's message
                await asyncio.sleep(8)

        typer = asyncio.create_task(keep_typing())
        try:
            yield
        finally:
            typer.cancel()

    # --- messages out ------------------------------------------------------------------

    async def send(self, chat: Chat, replies: list[Reply]) -> None:
        """Send replies to a channel on the bot's own account (a game round's end)."""
        await self._send(self.client.get_partial_messageable(int(chat.id)), replies)

    async def _send(
        self,
        channel: discord.abc.Messageable,
        replies: list[Reply],
        reference: discord.MessageReference | None = None,
    ) -> None:
        """Send replies in order; a failure to send one is logged and the rest still go.
        Outside interactions nothing can be hidden: a private reply never goes to a server
        channel (the conversation refuses private commands there)."""
        for reply in replies:
            if reply.private and not isinstance(channel, discord.DMChannel):
                log.error("a private reply would have gone to a server channel; not sent")
                continue
            for message in outgoing(reply):
                kwargs = message.kwargs() | ({"reference": reference} if reference else {})
                try:
                    await retrying(lambda kwargs=kwargs: channel.send(**kwargs), idempotent=False)
                except (discord.HTTPException, aiohttp.ClientError, TimeoutError) as exc:
                    log.error("could not send a reply to a Discord channel: %s", exc)
                    break

    async def _answer(self, interaction: discord.Interaction, replies: list[Reply]) -> None:
        """Send replies to an interaction: the first as its response (replacing the
        "thinking" placeholder of a deferred command), the rest as follow-ups."""
        response = interaction.response
        placeholder = response.type is discord.InteractionResponseType.deferred_channel_message
        messages = [m for reply in replies for m in outgoing(reply)]
        if not messages:
            await self._say_nothing(interaction)
        for message in messages:
            kwargs = message.kwargs()
            try:
                if not response.is_done():
                    await response.send_message(**kwargs, ephemeral=message.hidden)
                elif placeholder and not message.hidden:
                    placeholder = False
                    files = kwargs.pop("files", [])
                    await interaction.edit_original_response(**kwargs, attachments=files)
                else:
                    if placeholder:  # a public placeholder cannot turn private: drop it
                        placeholder = False
                        await interaction.delete_original_response()
                    await interaction.followup.send(**kwargs, ephemeral=message.hidden)
            except discord.HTTPException as exc:
                log.error("could not answer a Discord interaction: %s", exc)
                break

    @staticmethod
    async def _say_nothing(interaction: discord.Interaction) -> None:
        """Close an interaction that has no answer: Discord would say it failed."""
        try:
            if not interaction.response.is_done():
                await interaction.response.defer(ephemeral=True, thinking=True)
            elif (
                interaction.response.type
                is not discord.InteractionResponseType.deferred_channel_message
            ):
                return
            await interaction.delete_original_response()
        except discord.HTTPException as exc:
            log.warning("could not close a Discord interaction: %s", exc)
