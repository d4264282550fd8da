"""Telegram adapter (python-telegram-bot v22): updates in, Conversation calls, messages out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from telegram import (
    Bot,
    BotCommand,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    Message,
    MessageEntity,
    ReplyParameters,
    Update,
)
from telegram import Chat as TgChat
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackContext,
    CallbackQueryHandler,
    MessageHandler,
    filters,
)

from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, Reply, Upload, User
from bot.replies import COMMAND_DESCRIPTIONS

log = logging.getLogger(__name__)

PLATFORM = "telegram"
CAPTION_LIMIT = 1024
T = TypeVar("T")


def chat_of(chat: TgChat) -> Chat:
    return Chat(PLATFORM, str(chat.id), is_group=chat.type in (ChatType.GROUP, ChatType.SUPERGROUP))


def user_of(update: Update) -> User:
    sender = update.effective_user
    if sender is None:
        return User(PLATFORM, "0", "?")
    return User(
        PLATFORM, str(sender.id), sender.full_name or sender.username or "?", sender.language_code
    )


def upload_of(message: Message | None, bot: Bot) -> Upload | None:
    """The photo in a message (the largest size) or an image sent as a file, not downloaded."""
    if message is None:
        return None
    if message.photo:
        photo = message.photo[-1]
        file_id, size, content_type = photo.file_id, photo.file_size, "image/jpeg"
    elif message.document is not None:
        document = message.document
        file_id, size, content_type = document.file_id, document.file_size, document.mime_type
    else:
        return None

    async def fetch() -> bytes:
        file = await retrying(lambda: bot.get_file(file_id))
        return bytes(await retrying(file.download_as_bytearray))

    return Upload(size=size, content_type=content_type, fetch=fetch)


async def retrying(call: Callable[[], Awaitable[T]], attempts: int = 4) -> T:
    """Retry a Bot API call on timeouts and network errors, with exponential backoff.

    Flood limits (RetryAfter) are python-telegram-bot's AIORateLimiter's job; this
    covers what it leaves: a slow or briefly unreachable server, or a 5xx answer.
    """
    for attempt in range(attempts):
        try:
            return await call()
        except BadRequest:  # a subclass of NetworkError, but our mistake: retrying won't help
            raise
        except (TimedOut, NetworkError) as exc:
            if attempt == attempts - 1:
                raise
            delay = 0.5 * 2**attempt
            log.warning("Telegram call failed (%s); retrying in %.1f s", type(exc).__name__, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


class JobQueueScheduler:
    """The Scheduler protocol on python-telegram-bot's JobQueue."""

    def __init__(self, application: Application) -> None:
        self.application = application

    def call_later(self, delay: float, name: str, callback: Callable[[], Awaitable[None]]) -> None:
        self.cancel(name)

        async def job(context: CallbackContext) -> None:
            await callback()

        assert self.application.job_queue is not None, "install python-telegram-bot[job-queue]"
        # No misfire grace limit: a round that ended while the bot was down is
        # scheduled before the application starts, and must still run, late.
        self.application.job_queue.run_once(
            job, when=max(0.0, delay), name=name, job_kwargs={"misfire_grace_time": None}
        )

    def cancel(self, name: str) -> None:
        if self.application.job_queue is not None:
            for job in self.application.job_queue.get_jobs_by_name(name):
                job.schedule_removal()


class TelegramAdapter:
    """Runs one python-telegram-bot Application in the current event loop."""

    platform = PLATFORM

    def __init__(self, conversation: Conversation, settings: BotSettings) -> None:
        self.conversation = conversation
        self.settings = settings
        self.application = (
            Application.builder()
            .token(settings.telegram_token)
            .base_url(settings.telegram_base_url)
            .base_file_url(settings.telegram_base_file_url)
            .rate_limiter(AIORateLimiter(max_retries=3))
            .concurrent_updates(64)  # /help is answered while photos are worked on
            .connect_timeout(min(10.0, settings.telegram_timeout))
            .read_timeout(settings.telegram_timeout)
            .write_timeout(settings.telegram_timeout)
            .media_write_timeout(settings.telegram_timeout)
            .build()
        )
        self.application.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        self.application.add_handler(
            MessageHandler((filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND, self.on_photo)
        )
        self.application.add_handler(CallbackQueryHandler(self.on_button))
        self.application.add_error_handler(self.on_error)
        self.scheduler = JobQueueScheduler(self.application)
        self._stop = asyncio.Event()

    @property
    def bot(self) -> Bot:
        return self.application.bot

    # --- lifecycle -------------------------------------------------------------------

    async def run(self) -> None:
        """Poll (or serve the webhook) until `stop()`."""
        self._stop.clear()
        async with self.application:
            await self._announce_commands()
            await self.application.start()
            updater = self.application.updater
            assert updater is not None
            if self.settings.telegram_webhook_url:
                await updater.start_webhook(
                    listen="0.0.0.0",
                    port=self.settings.telegram_webhook_port,
                    webhook_url=self.settings.telegram_webhook_url,
                )
            else:
                await updater.start_polling(
                    poll_interval=0.0, timeout=10, drop_pending_updates=False
                )
            log.info("Telegram bot @%s is running", self.bot.username)
            try:
                await self._stop.wait()
            finally:  # also when cancelled (Ctrl-C): stop polling before the application
                await updater.stop()
                await self.application.stop()

    def stop(self) -> None:
        self._stop.set()

    async def _announce_commands(self) -> None:
        commands = [
            BotCommand(name, COMMAND_DESCRIPTIONS.get(name, name))
            for name in self.conversation.commands
            if name != "start"  # Telegram's own greeting button sends it
        ]
        try:
            await self.bot.set_my_commands(commands)
        except TelegramError as exc:  # a convenience only: the bot works without it
            log.warning("could not set the command menu: %s", exc)

    # --- updates in --------------------------------------------------------------------

    def _addressed(self, message: Message) -> bool:
        """Whether a group message is meant for the bot: a mention or a reply to it."""
        replied = message.reply_to_message
        if (
            replied is not None
            and replied.from_user is not None
            and replied.from_user.id == self.bot.id
        ):
            return True
        username = f"@{self.bot.username}".lower()
        for entity, text in message.parse_caption_entities().items():
            if entity.type == MessageEntity.MENTION and text.lower() == username:
                return True
            if (
                entity.type == MessageEntity.TEXT_MENTION
                and entity.user
                and entity.user.id == self.bot.id
            ):
                return True
        return False

    def _command(self, text: str) -> tuple[str, str]:
        """("register", "the rest") from "/register@ThisBot the rest"."""
        head, _, args = text.strip().partition(" ")
        name, _, target = head[1:].partition("@")
        if target and target.lower() != (self.bot.username or "").lower():
            return "", ""  # a command for another bot in the group
        return name.lower(), args

    async def on_command(self, update: Update, context: CallbackContext) -> None:
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return
        name, args = self._command(message.text or message.caption or "")
        if not name:
            return
        upload = upload_of(message, self.bot) or upload_of(message.reply_to_message, self.bot)
        chat = chat_of(update.effective_chat)
        async with self._working(chat, upload is not None):
            replies = await self.conversation.on_command(chat, user_of(update), name, args, upload)
        await self.send(chat, replies, reply_to=message.message_id)

    async def on_photo(self, update: Update, context: CallbackContext) -> None:
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return
        upload = upload_of(message, self.bot)
        if upload is None:
            return
        chat, user = chat_of(update.effective_chat), user_of(update)
        caption = (message.caption or "").strip()
        if caption.startswith("/"):
            name, args = self._command(caption)
            if name:
                async with self._working(chat, True):
                    replies = await self.conversation.on_command(chat, user, name, args, upload)
                await self.send(chat, replies, reply_to=message.message_id)
            return
        addressed = not chat.is_group or self._addressed(message)
        async with self._working(chat, addressed):
            replies = await self.conversation.on_photo(chat, user, upload, addressed)
        await self.send(chat, replies, reply_to=message.message_id)

    async def on_button(self, update: Update, context: CallbackContext) -> None:
        query = update.callback_query
        if query is None or query.message is None or update.effective_chat is None:
            return
        chat = chat_of(update.effective_chat)
        pressed = await self.conversation.on_button(chat, user_of(update), query.data or "")
        with contextlib.suppress(TelegramError):
            await query.answer(pressed.notice)
        if pressed.settled:
            with contextlib.suppress(TelegramError):
                await query.edit_message_reply_markup(reply_markup=None)
        await self.send(chat, list(pressed.replies))

    async def on_error(self, update: object, context: CallbackContext) -> None:
        log.error("Telegram handler failed: %r", context.error, exc_info=context.error)

    @contextlib.asynccontextmanager
    async def _working(self, chat: Chat, photo: bool) -> AsyncIterator[None]:
        """Show "sending a photo" (or "typing") in the chat until the work is done."""
        action = ChatAction.UPLOAD_PHOTO if photo else ChatAction.TYPING

        async def keep_showing() -> None:
            while True:
                with contextlib.suppress(TelegramError):
                    await self.bot.send_chat_action(int(chat.id), action)
                await asyncio.sleep(4.5)  # Telegram shows an action for about 5 s

        shower = asyncio.create_task(keep_showing())
        try:
            yield
        finally:
            shower.cancel()

    # --- messages out ------------------------------------------------------------------

    async def send(self, chat: Chat, replies: list[Reply], reply_to: int | None = None) -> None:
        """Send replies in order; a failure to send one is logged and the rest still go."""
        for reply in replies:
            try:
                await self._send_one(int(chat.id), reply, reply_to)
            except TelegramError as exc:
                log.error("could not send a reply to a Telegram chat: %s", exc)

    async def _send_one(self, chat_id: int, reply: Reply, reply_to: int | None) -> None:
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        markup = None
        if reply.buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.label, callback_data=b.data) for b in reply.buttons]]
            )
        text, pictures = reply.text, list(reply.pictures)
        if pictures and (len(text) > CAPTION_LIMIT or markup is not None):
            await retrying(
                lambda: self.bot.send_message(
                    chat_id, text, reply_parameters=quote, reply_markup=markup
                )
            )
            text, markup = "", None
        if len(pictures) > 1:
            media = [
                InputMediaPhoto(p.data, caption=text if i == 0 else None, filename=p.name)
                for i, p in enumerate(pictures)
            ]
            await retrying(
                lambda: self.bot.send_media_group(chat_id, media, reply_parameters=quote)
            )
        elif pictures:
            await retrying(
                lambda: self.bot.send_photo(
                    chat_id,
                    pictures[0].data,
                    caption=text or None,
                    reply_parameters=quote,
                    filename=pictures[0].name,
                )
            )
        elif reply.document is not None:
            name, data = reply.document
            await retrying(
                lambda: self.bot.send_document(
                    chat_id, data, filename=name, caption=text, reply_parameters=quote
                )
            )
        elif text:
            await retrying(
                lambda: self.bot.send_message(
                    chat_id, text, reply_parameters=quote, reply_markup=markup
                )
            )
