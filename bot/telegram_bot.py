"""Telegram adapter (python-telegram-bot v22): updates in, Conversation calls, messages out."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar
from urllib.parse import urlsplit

import httpx
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
    ApplicationHandlerStop,
    CallbackContext,
    CallbackQueryHandler,
    MessageHandler,
    TypeHandler,
    Updater,
    filters,
)

from bot import replies as texts
from bot.commands import Photo
from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, Reply, Upload, User
from bot.delivery import chunks, picture_size, split_text
from engine.errors import FileTooLarge, LookalikeError

log = logging.getLogger(__name__)

PLATFORM = "telegram"
T = TypeVar("T")

# The Bot API's limits (https://core.telegram.org/bots/api): what it refuses past them.
TEXT_LIMIT = 4096  # characters in a message
CAPTION_LIMIT = 1024  # characters in a photo's caption
MEDIA_GROUP = (2, 10)  # photos in one media group
DOWNLOAD_LIMIT = 20 * 10**6  # bytes getFile serves to bots
PHOTO_BYTES = 10 * 10**6  # a photo sent as a photo; larger ones go as documents
PHOTO_SIDES = 10_000  # width + height at most
PHOTO_RATIO = 20  # the longer side at most 20 times the shorter


def chat_of(chat: TgChat) -> Chat:
    return Chat(PLATFORM, str(chat.id), is_group=chat.type in (ChatType.GROUP, ChatType.SUPERGROUP))


def user_of(update: Update) -> User:
    """The sender. One who posts as the group (an anonymous admin) or as a channel shares
    Telegram's placeholder account with every other such sender, so each gets an identity
    of its own in this chat instead, marked anonymous."""
    message, chat = update.effective_message, update.effective_chat
    shown_as = message.sender_chat if message is not None else None
    if shown_as is not None and chat is not None:
        name = shown_as.title or shown_as.username or "?"
        return User(PLATFORM, f"chat{shown_as.id}in{chat.id}", name, anonymous=True)
    sender = update.effective_user
    if sender is None:
        return User(PLATFORM, "0", "?", anonymous=True)
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

    sender = message.sender_chat or message.from_user
    return upload_from(bot, file_id, size, content_type, str(sender.id) if sender else None)


def upload_from(
    bot: Bot, file_id: str, size: int | None, content_type: str | None, sender: str | None
) -> Upload:
    """A file by its file_id, which any process of this bot can download."""

    async def fetch() -> bytes:
        if size is not None and size > DOWNLOAD_LIMIT:  # getFile refuses them to bots
            raise FileTooLarge(limit_mb=DOWNLOAD_LIMIT / 1e6)
        file = await retrying(lambda: bot.get_file(file_id), idempotent=True)
        return bytes(await retrying(file.download_as_bytearray, idempotent=True))

    return Upload(size, content_type, fetch, sender, ref=file_id)


def _unsent(exc: TelegramError) -> bool:
    """Whether the request surely never reached Telegram: then resending cannot duplicate it."""
    cause = exc.__cause__
    return isinstance(cause, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)


async def retrying(call: Callable[[], Awaitable[T]], *, idempotent: bool, attempts: int = 4) -> T:
    """Retry a Bot API call on timeouts, network errors and 5xx answers, with backoff.

    A call that changes something (a message sent) is retried only when it surely did
    not reach Telegram, or when Telegram answered that it failed: after a read timeout
    it may have been done, and a second copy would reach the chat. Flood limits
    (RetryAfter) are python-telegram-bot's AIORateLimiter's job.
    """
    for attempt in range(attempts):
        try:
            return await call()
        except BadRequest:  # a subclass of NetworkError, but our mistake: retrying won't help
            raise
        except (TimedOut, NetworkError) as exc:
            answered = exc.__cause__ is None  # an HTTP error status, not a lost connection
            if attempt == attempts - 1 or not (idempotent or answered or _unsent(exc)):
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
        if settings.telegram_webhook_url:  # replicas behind one URL: one answer an update
            self.application.add_handler(TypeHandler(Update, self._claim), group=-1)
        self.application.add_handler(MessageHandler(filters.COMMAND, self.on_command))
        self.application.add_handler(
            MessageHandler((filters.PHOTO | filters.Document.ALL) & ~filters.COMMAND, self.on_photo)
        )
        self.application.add_handler(CallbackQueryHandler(self.on_button))
        self.application.add_error_handler(self.on_error)
        self.scheduler = JobQueueScheduler(self.application)
        self._stop = asyncio.Event()
        # Questions another replica asked may hold a photo, by its file_id.
        conversation.questions.add_source(
            PLATFORM, functools.partial(upload_from, self.application.bot)
        )

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
                await self._start_webhook(updater)
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

    async def _start_webhook(self, updater: Updater) -> None:
        """Serve the webhook at the path of TELEGRAM_WEBHOOK_URL (a load balancer in
        front passes it on), and tell Telegram the URL. Every replica sets the same
        URL, secret and limit, so whichever starts last changes nothing."""
        settings = self.settings
        await updater.start_webhook(
            listen=settings.telegram_webhook_listen,
            port=settings.telegram_webhook_port,
            url_path=urlsplit(settings.telegram_webhook_url).path.lstrip("/"),
            webhook_url=settings.telegram_webhook_url,
            secret_token=settings.telegram_webhook_secret or None,
            max_connections=settings.telegram_webhook_connections,
            bootstrap_retries=3,
        )

    async def _claim(self, update: Update, context: CallbackContext) -> None:
        """Stop an update that another replica (or an earlier delivery) has claimed."""
        try:
            first = await self.conversation.engine.claim(PLATFORM, update.update_id)
        except LookalikeError:  # no database now: answering twice beats not answering
            log.warning("could not claim update %d; answering it anyway", update.update_id)
            return
        if not first:
            log.info("update %d was claimed elsewhere", update.update_id)
            raise ApplicationHandlerStop

    async def _announce_commands(self) -> None:
        """The command menu, from the conversation's table, in each language."""
        table = [c for c in self.conversation.commands.values() if c.listed]
        for lang in texts.LANGUAGES:
            commands = [BotCommand(c.name, c.describe(lang)) for c in table]
            code = None if lang == texts.DEFAULT else lang
            try:
                await self.bot.set_my_commands(commands, language_code=code)
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

    async def _run_command(self, update: Update, message: Message, text: str) -> None:
        name, args = self._command(text)
        if not name or update.effective_chat is None:
            return
        chat, user = chat_of(update.effective_chat), user_of(update)
        command = self.conversation.commands.get(name)
        upload = None
        if command is not None and command.photo is not Photo.NONE:
            upload = upload_of(message, self.bot) or upload_of(message.reply_to_message, self.bot)
        async with self._working(chat, upload is not None):
            answer = await self.conversation.on_command(chat, user, name, args, upload)
        await self.conversation.questions.flush()  # asked before the question is seen
        await self.send(chat, answer, reply_to=message.message_id, user=user)

    async def on_command(self, update: Update, context: CallbackContext) -> None:
        message = update.effective_message
        if message is not None:
            await self._run_command(update, message, message.text or message.caption or "")

    async def on_photo(self, update: Update, context: CallbackContext) -> None:
        message = update.effective_message
        if message is None or update.effective_chat is None:
            return
        upload = upload_of(message, self.bot)
        if upload is None:
            return
        caption = (message.caption or "").strip()
        if caption.startswith("/"):
            await self._run_command(update, message, caption)
            return
        chat, user = chat_of(update.effective_chat), user_of(update)
        addressed = not chat.is_group or self._addressed(message)
        async with self._working(chat, addressed):
            answer = await self.conversation.on_photo(chat, user, upload, addressed)
        await self.conversation.questions.flush()
        await self.send(chat, answer, reply_to=message.message_id, user=user)

    async def on_button(self, update: Update, context: CallbackContext) -> None:
        query = update.callback_query
        if query is None or query.message is None or update.effective_chat is None:
            return
        chat, user = chat_of(update.effective_chat), user_of(update)
        pressed = await self.conversation.on_button(chat, user, query.data or "")
        await self.conversation.questions.flush()
        with contextlib.suppress(TelegramError):
            await query.answer(pressed.notice)
        if pressed.settled:
            with contextlib.suppress(TelegramError):
                await query.edit_message_reply_markup(reply_markup=None)
        await self.send(chat, list(pressed.replies), user=user)

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

    async def send(
        self,
        chat: Chat,
        replies: list[Reply],
        reply_to: int | None = None,
        user: User | None = None,
    ) -> None:
        """Send replies in order; a failure to send one is logged and the rest still go.

        A private reply never goes to a group: it goes to the user's private chat."""
        for reply in replies:
            target, quote = int(chat.id), reply_to
            if reply.private and chat.is_group:
                if user is None or user.anonymous:
                    log.error("a private reply had nobody to go to; not sent to the group")
                    continue
                target, quote = int(user.id), None
            try:
                await self._send_one(target, reply, quote)
            except TelegramError as exc:
                log.error("could not send a reply to a Telegram chat: %s", exc)

    async def _send_one(self, chat_id: int, reply: Reply, reply_to: int | None) -> None:
        """One reply, as the Bot API's limits allow: long text in several messages, a
        caption only when it fits, photos in groups of 2 to 10, and pictures too large
        for a photo as documents."""
        quote = ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None
        markup = None
        if reply.buttons:
            markup = InlineKeyboardMarkup(
                [[InlineKeyboardButton(b.label, callback_data=b.data) for b in reply.buttons]]
            )
        photos = [p for p in reply.pictures if self._fits_as_photo(p.data)]
        files = [(p.name, p.data) for p in reply.pictures if p not in photos]
        if reply.document is not None:
            files.append(reply.document)
        caption = ""
        text = reply.text
        if (photos or files) and len(text) <= CAPTION_LIMIT and markup is None:
            caption, text = text, ""
        pieces = split_text(text, TEXT_LIMIT) if text else []
        for number, piece in enumerate(pieces):
            last = number == len(pieces) - 1
            await self._message(chat_id, piece, quote, markup if last else None)
            quote = None  # only the first message quotes the user's
        for group in self._groups(photos):
            await self._photos(chat_id, group, caption, quote)
            caption, quote = "", None
        for name, data in files:
            await retrying(
                lambda name=name, data=data, caption=caption, quote=quote: self.bot.send_document(
                    chat_id, data, filename=name, caption=caption or None, reply_parameters=quote
                ),
                idempotent=False,
            )
            caption, quote = "", None

    async def _message(
        self,
        chat_id: int,
        text: str,
        quote: ReplyParameters | None,
        markup: InlineKeyboardMarkup | None,
    ) -> None:
        await retrying(
            lambda: self.bot.send_message(
                chat_id, text, reply_parameters=quote, reply_markup=markup
            ),
            idempotent=False,
        )

    @staticmethod
    def _groups(photos: list) -> list[list]:
        """Photos in media groups of 2 to 10, or alone; never a group of one."""
        low, high = MEDIA_GROUP
        groups = chunks(photos, high)
        if len(groups) > 1 and len(groups[-1]) < low:
            groups[-2:] = [groups[-2][:-1], [groups[-2][-1], *groups[-1]]]
        return groups

    async def _photos(
        self, chat_id: int, photos: list, caption: str, quote: ReplyParameters | None
    ) -> None:
        if len(photos) == 1:
            (photo,) = photos
            await retrying(
                lambda: self.bot.send_photo(
                    chat_id,
                    photo.data,
                    caption=caption or None,
                    reply_parameters=quote,
                    filename=photo.name,
                ),
                idempotent=False,
            )
            return
        media = [
            InputMediaPhoto(
                p.data, caption=caption if i == 0 and caption else None, filename=p.name
            )
            for i, p in enumerate(photos)
        ]
        await retrying(
            lambda: self.bot.send_media_group(chat_id, media, reply_parameters=quote),
            idempotent=False,
        )

    @staticmethod
    def _fits_as_photo(data: bytes) -> bool:
        """Whether Telegram takes the picture as a photo (its size and shape)."""
        size = picture_size(data)
        if size is None or len(data) > PHOTO_BYTES:
            return False
        width, height = size
        return width + height <= PHOTO_SIDES and max(size) <= PHOTO_RATIO * min(size)
