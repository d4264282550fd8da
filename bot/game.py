"""The group lookalike game on every platform: /game, /leaderboard, entries and round ends."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import math
import random
import time
from collections.abc import AsyncIterator, Callable

from bot import replies
from bot.commands import Argument, Command, Photo, Request
from bot.config import BotSettings
from bot.conversation import Conversation
from bot.core import Chat, Picture, Reply, Scheduler, Sender, User
from bot.fields import parse as parse_fields
from bot.replies import t
from engine.errors import NoFaceFound
from engine.game import Round, RoundResult, choose_celebrity

log = logging.getLogger(__name__)

STOP_WORDS = ("stop", "parar")
GAME_ARGUMENT = Argument(
    "name",
    {
        "en": "A celebrity or a field (sport, music…) for a new round, or stop to end it",
        "es": "Un famoso o un campo (deporte, música…) para una ronda nueva, o stop para pararla",
    },
)
# A round's end waits at most this long for photos that arrived in time but are
# still being looked at: a burst just before the end should not lose its entries.
SETTLE_SECONDS = 30.0
# Ranking lines in an announcement; the rest are summed up in one line.
SHOWN = 10


class GameController:
    """The game as a Plugin: its commands, photo hook and forget hook join the shared
    Conversation, and each adapter lends it a way to speak and a Scheduler for round ends.

    Rounds live in SQLite (engine.game) with their end as a wall-clock time, so
    `attach` can reschedule them after a restart, and end at once, announcing
    them, those whose end passed while the bot was down.
    """

    def __init__(
        self,
        conversation: Conversation,
        settings: BotSettings,
        *,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.conversation = conversation
        self.engine = conversation.engine
        self.settings = settings
        self.clock = clock or time.time
        self.rng = rng or random.Random()
        self.game = self.engine.games(clock=self.clock, min_players=settings.game_min_players)
        self._outlets: dict[str, tuple[Sender, Scheduler]] = {}
        self._inflight: collections.Counter[int] = collections.Counter()
        self._settled = asyncio.Condition()
        conversation.add_command(
            Command(
                "game",
                self.command,
                {
                    "en": "Start a lookalike round in this chat, or enter one with a photo",
                    "es": "Empieza una ronda de parecidos en este chat, o entra con una foto",
                },
                photo=Photo.OPTIONAL,
                argument=GAME_ARGUMENT,
            )
        )
        conversation.add_command(
            Command(
                "leaderboard",
                self.leaderboard,
                {"en": "This chat's game scores", "es": "Los puntos del juego en este chat"},
            )
        )
        conversation.add_photo_hook(self.on_photo)
        conversation.add_forget_hook(self.forget)
        conversation.add_export_hook("game", self.export)

    # --- Plugin --------------------------------------------------------------------

    async def attach(self, platform: str, send: Sender, scheduler: Scheduler) -> None:
        """Take the platform's sender and scheduler, and resume its unfinished rounds."""
        self._outlets[platform] = (send, scheduler)
        for round_ in await self.game.running(platform):
            left = round_.remaining(self.clock())
            log.info(
                "game round %d in %s resumed: %s",
                round_.id,
                round_.scope,
                f"ends in {left:.0f} s" if left else "its time passed while I was down",
            )
            # Through the scheduler even when overdue: the adapter can send only once it runs.
            self._schedule(round_)

    async def sweep(self) -> int:
        """End the rounds on attached platforms whose end passed GAME_TAKEOVER_SECONDS ago
        unannounced: the process whose timer should have ended them is gone. The
        database lets one process end a round; the rounds ended here are counted."""
        ended = 0
        late = self.clock() - self.settings.game_takeover_seconds
        for platform in list(self._outlets):
            for round_ in await self.game.overdue(platform):
                if round_.ends_at <= late:
                    log.info("game round %d in %s taken over", round_.id, round_.scope)
                    self._cancel(round_)
                    ended += await self._end_and_send(round_.id)
        return ended

    def _schedule(self, round_: Round) -> None:
        _, scheduler = self._outlets[round_.platform]
        delay = round_.remaining(self.clock())
        scheduler.call_later(delay, self._job(round_), functools.partial(self._timer, round_.id))

    def _cancel(self, round_: Round) -> None:
        outlet = self._outlets.get(round_.platform)
        if outlet is not None:
            outlet[1].cancel(self._job(round_))

    @staticmethod
    def _job(round_: Round) -> str:
        return f"game-round-{round_.id}"

    @staticmethod
    def _chat(round_: Round) -> Chat:
        platform, _, chat_id = round_.scope.partition(":")  # Chat.scope is "platform:id"
        return Chat(platform, chat_id, is_group=True)

    def name(self, round_: Round) -> str:
        """The round's celebrity as the model's roster spells it ("José María Aznar")."""
        celebrity = self.engine.celebrity(round_.celebrity)
        return celebrity.name if celebrity is not None else round_.celebrity_name

    # --- commands --------------------------------------------------------------------

    async def command(self, request: Request) -> list[Reply]:
        """/game [NAME] starts a round, /game stop ends it; with a photo, /game also enters it."""
        if not request.chat.is_group:
            return [Reply(request.t("game_groups_only"))]
        if request.args.lower() in STOP_WORDS:
            return await self._stop(request)
        arrived = self.clock()
        round_ = await self._ongoing(request.chat)
        replies: list[Reply] = []
        if round_ is None:
            round_, replies = await self._start(request)
        elif request.upload is None:
            seconds = math.ceil(round_.remaining(self.clock()))
            status = request.t("game_status", celebrity=self.name(round_), seconds=seconds)
            return [Reply(status)]
        if request.upload is not None:  # a failed entry must not hide that the round started
            entry = self._enter(request, round_, arrived)
            replies += await self.conversation.safely(request, entry)
        return replies

    async def _start(self, request: Request) -> tuple[Round, list[Reply]]:
        wanted, fields = request.args, ()
        named, unknown, every = parse_fields(wanted)
        if not wanted:  # at random, from the chat's fields
            fields = await self.engine.chat_fields(request.chat.scope)
        elif (named or every) and not unknown:  # /game sport
            wanted, fields = "", named
        celebrity = choose_celebrity(self.engine.celebrities(), wanted, self.rng, fields).label
        seconds = self.settings.game_round_seconds
        round_ = await self.game.start(
            request.chat.scope, celebrity, request.user.person(request.lang), seconds
        )
        self._schedule(round_)
        text = request.t(
            "game_start",
            celebrity=self.name(round_),
            seconds=seconds,
            min_players=self.game.min_players,
        )
        photo = await self.engine.reference_photo(celebrity)
        pictures = (Picture("celebrity.jpg", photo),) if photo else ()
        return round_, [Reply(text, pictures)]

    async def _stop(self, request: Request) -> list[Reply]:
        round_ = await self.game.current(request.chat.scope)
        if round_ is None:
            return [Reply(request.t("error.game_no_round"))]
        user = request.user
        allowed = user.id == round_.started_by or self.settings.is_admin(user.platform, user.id)
        if not allowed:
            return [Reply(request.t("game_stop_denied"))]
        self._cancel(round_)
        return await self._end(round_.id, stopped=True)

    async def leaderboard(self, request: Request) -> list[Reply]:
        leaders = await self.game.leaderboard(request.chat.scope)
        if not leaders:
            return [Reply(request.t("leaderboard_empty"))]
        lines = [request.t("leaderboard_title")] + [
            request.t(
                "leaderboard_line",
                place=row.place,
                name=row.player.display_name,
                points=request.t("leaderboard_points", n=row.points),
                won=request.t("leaderboard_won", wins=row.wins, n=row.rounds),
            )
            for row in leaders
        ]
        return [Reply("\n".join(lines))]

    async def forget(self, user: User) -> int:
        """/forget: the user's game entries and scores, everywhere."""
        return await self.game.forget(user.platform, user.id)

    async def export(self, user: User) -> dict[str, object]:
        """The user's game records, for /mydata (see the report: Conversation needs a hook)."""
        return {"game_entries": await self.game.export(user.platform, user.id)}

    # --- entries -----------------------------------------------------------------------

    async def on_photo(self, request: Request) -> list[Reply] | None:
        """While a round is on in a group, every photo there is an entry, mention or not."""
        if not request.chat.is_group:
            return None
        arrived = self.clock()
        round_ = await self.game.current(request.chat.scope)
        if round_ is None:
            return None
        if not round_.remaining(arrived):
            await self._end_and_send(round_.id)  # its timer is late or was lost
            return [Reply(request.t("error.game_over"))]
        return await self._enter(request, round_, arrived)

    async def _ongoing(self, chat: Chat) -> Round | None:
        """The chat's round while its time runs; one whose time is up is ended now."""
        round_ = await self.game.current(chat.scope)
        if round_ is not None and not round_.remaining(self.clock()):
            await self._end_and_send(round_.id)
            return None
        return round_

    async def _enter(self, request: Request, round_: Round, arrived: float) -> list[Reply]:
        if refused := await self.conversation.admit(request):
            return refused
        assert request.upload is not None
        user = request.user
        async with self._entering(round_.id):
            data = await self.conversation.download(request.upload)
            try:
                found = await self.engine.similarity_to(data, round_.celebrity)
            except NoFaceFound:
                return [Reply(request.t("game_no_face", name=user.name))]
            await self.conversation.spent(request, found.work_s)
            # Against one celebrity most faces score low on the lookalike scale; where a
            # player stands among people in general is the game's number (and its order).
            score = found.percentile
            result = await self.game.enter(round_.id, user.person(), found, score, at=arrived)
        if result.entry.photos == 1:
            key = "game_entry"
        else:
            key = "game_entry_better" if result.best else "game_entry_worse"
        text = request.t(
            key,
            name=user.name,
            score=score,
            best=result.entry.score,
            place=result.place,
            players=result.players,
            celebrity=self.name(round_),
        )
        return [Reply(text)]

    @contextlib.asynccontextmanager
    async def _entering(self, round_id: int) -> AsyncIterator[None]:
        """Count a photo as being looked at, so that the round's end waits for it."""
        self._inflight[round_id] += 1
        try:
            yield
        finally:
            self._inflight[round_id] -= 1
            if self._inflight[round_id] <= 0:
                del self._inflight[round_id]
            async with self._settled:
                self._settled.notify_all()

    async def _settle(self, round_id: int) -> None:
        if not self._inflight[round_id]:
            return
        async with self._settled:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._settled.wait_for(lambda: not self._inflight[round_id]), SETTLE_SECONDS
                )

    # --- round ends ----------------------------------------------------------------------

    async def _timer(self, round_id: int) -> None:
        try:
            await self._end_and_send(round_id)
        except Exception:  # a timer has nobody to answer: log, and the next /game retries
            log.exception("game round %d could not be ended", round_id)

    async def _end_and_send(self, round_id: int) -> bool:
        result = await self._finish(round_id)
        if result is not None:
            send, _ = self._outlets[result.round.platform]
            await send(self._chat(result.round), await self._announce(result))
        return result is not None

    async def _end(self, round_id: int, *, stopped: bool = False) -> list[Reply]:
        result = await self._finish(round_id, stopped=stopped)
        return await self._announce(result) if result is not None else []

    async def _finish(self, round_id: int, *, stopped: bool = False) -> RoundResult | None:
        await self._settle(round_id)
        return await self.game.finish(round_id, stopped=stopped)

    async def _announce(self, result: RoundResult) -> list[Reply]:
        """The ranking, the winner and the collage, in the language of whoever started it."""
        round_, lang = result.round, result.round.language or "en"
        lines = [t(lang, "game_results_late")] if result.late else []
        title = "game_results_stopped" if round_.outcome == "stopped" else "game_results"
        lines.append(t(lang, title, celebrity=self.name(round_)))
        line = "game_line" if result.counted else "game_line_uncounted"
        for standing in result.standings[:SHOWN]:
            entry = standing.entry
            lines.append(
                t(
                    lang,
                    line,
                    place=standing.place,
                    name=entry.player.display_name,
                    score=entry.score,
                    points=standing.points,
                )
            )
        if len(result.standings) > SHOWN:
            lines.append(t(lang, "game_more", n=len(result.standings) - SHOWN))
        lines.append(self._verdict(result, lang))
        if result.standings:
            lines.append(t(lang, "game_scale", celebrity=self.name(round_)))
        reference = await self.engine.reference_photo(round_.celebrity)
        collage = await self.game.podium(result, reference)
        pictures = (Picture("round.jpg", collage),) if collage else ()
        return [Reply("\n".join(lines), pictures)]

    @staticmethod
    def _verdict(result: RoundResult, lang: str) -> str:
        if not result.standings:
            return t(lang, "game_nobody")
        if not result.counted:
            return t(lang, "game_too_few", n=result.min_players)
        names = [s.entry.player.display_name for s in result.winners]
        if len(names) == 1:
            return t(lang, "game_winner", name=names[0])
        return t(lang, "game_winners", names=replies.join(lang, names))
