"""The game's records, on any backend: rounds, entries, finishing, the leaderboard, erasure."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time

from engine.celebrities import display_name
from engine.errors import RoundOver, RoundRunning
from engine.game import (
    Clock,
    Entry,
    EntryResult,
    Leader,
    PlayerKey,
    Round,
    RoundResult,
    podium,
    rank,
)
from engine.pipeline import Likeness
from engine.registry import Person
from engine.storage import Storage
from engine.storage.base import Queries

log = logging.getLogger(__name__)


def _iso(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec="seconds")


_ROUND_COLUMNS = (
    "id, scope, platform, celebrity, started_by, language, started_at, ends_at, ended_at, outcome"
)


class Game:
    """Rounds and scores in the database; the rules of engine.game applied to them.

    Every write is one transaction holding the round's lock, so two photos, a
    timer and a /game stop arriving together, through one process or several
    sharing the database, leave consistent records, and a round is finished
    once, by whichever process gets there first.

    Attributes:
        clock: wall-clock seconds; rounds are stored with their end time.
        min_players: fewer players than this earn no points.
    """

    def __init__(self, db: Storage, *, clock: Clock = time.time, min_players: int = 2) -> None:
        self.db = db
        self.clock = clock
        self.min_players = max(1, min_players)
        # Face tiles of each round's counted photos: memory only (photos are never
        # stored), dropped when the round finishes.
        self._faces: dict[int, dict[PlayerKey, bytes]] = {}

    async def start(self, scope: str, celebrity: str, starter: Person, seconds: float) -> Round:
        """Open a round in ``scope`` for ``seconds``.

        Raises:
            RoundRunning: ``scope`` has a round that has not finished (even if its time is up).
        """
        now = self.clock()
        async with self.db.transaction() as tx:
            row = await tx.fetchone(
                "INSERT INTO game_rounds (scope, platform, celebrity, started_by, language,"
                " started_at, ends_at) VALUES (?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (scope) WHERE ended_at IS NULL DO NOTHING RETURNING id",
                (
                    scope,
                    starter.platform,
                    celebrity,
                    starter.user_id,
                    starter.language,
                    now,
                    now + seconds,
                ),
            )
        if row is None:  # the partial unique index: one unfinished round per scope
            running = await self.current(scope)
            raise RoundRunning(celebrity=running.celebrity_name if running else celebrity)
        round_id = int(row[0])
        log.info("game round %d started in %s: %s for %.0f s", round_id, scope, celebrity, seconds)
        return await self._round(self.db, round_id)

    async def current(self, scope: str) -> Round | None:
        """The round in ``scope`` that has not finished, if any; its time may be up."""
        row = await self.db.fetchone(
            f"SELECT {_ROUND_COLUMNS} FROM game_rounds WHERE scope = ? AND ended_at IS NULL",
            (scope,),
        )
        return Round(*row) if row else None

    @staticmethod
    async def _round(q: Queries, round_id: int) -> Round:
        row = await q.fetchone(
            f"SELECT {_ROUND_COLUMNS} FROM game_rounds WHERE id = ?", (round_id,)
        )
        assert row is not None, f"no game round {round_id}"
        return Round(*row)

    async def running(self, platform: str | None = None) -> list[Round]:
        """Every unfinished round (on ``platform``), to reschedule after a restart."""
        sql = f"SELECT {_ROUND_COLUMNS} FROM game_rounds WHERE ended_at IS NULL"
        params: tuple[object, ...] = ()
        if platform is not None:
            sql, params = sql + " AND platform = ?", (platform,)
        return [Round(*row) for row in await self.db.fetchall(sql + " ORDER BY ends_at", params)]

    async def overdue(self, platform: str | None = None) -> list[Round]:
        """Unfinished rounds whose time is up (on ``platform``): any process sharing the
        database may `finish` them, and the first to do so is the only one that does."""
        sql = f"SELECT {_ROUND_COLUMNS} FROM game_rounds WHERE ended_at IS NULL AND ends_at <= ?"
        params: tuple[object, ...] = (self.clock(),)
        if platform is not None:
            sql, params = sql + " AND platform = ?", (*params, platform)
        return [Round(*row) for row in await self.db.fetchall(sql + " ORDER BY ends_at", params)]

    async def enter(
        self,
        round_id: int,
        player: Person,
        likeness: Likeness,
        score: int,
        *,
        at: float | None = None,
    ) -> EntryResult:
        """Count a photo in a round: the player's best photo is the one that counts.

        Args:
            likeness: the photo's face measured against the round's celebrity.
            score: its resemblance, 0 to 100, as the player is shown it.
            at: when the photo arrived (now when None); photos that arrived
                before the round's time was up count, however long they took.

        Raises:
            RoundOver: the round has finished, or the photo arrived too late.
        """
        at = self.clock() if at is None else at
        key = (player.platform, player.user_id)
        async with self.db.transaction() as tx:
            await tx.lock(f"round:{round_id}")
            row = await tx.fetchone(
                "SELECT ends_at, ended_at FROM game_rounds WHERE id = ?", (round_id,)
            )
            if row is None or row[1] is not None or at >= row[0]:
                raise RoundOver()
            previous = await tx.fetchone(
                "SELECT similarity FROM game_entries"
                " WHERE round_id = ? AND platform = ? AND user_id = ?",
                (round_id, *key),
            )
            best = previous is None or round(likeness.similarity, 4) > round(previous[0], 4)
            if best:
                await tx.execute(
                    "INSERT INTO game_entries (round_id, platform, user_id, display_name,"
                    " similarity, score, photos, entered_at) VALUES (?, ?, ?, ?, ?, ?, 1, ?)"
                    " ON CONFLICT (round_id, platform, user_id) DO UPDATE SET"
                    " display_name = excluded.display_name, similarity = excluded.similarity,"
                    " score = excluded.score, photos = game_entries.photos + 1,"
                    " entered_at = excluded.entered_at",
                    (round_id, *key, player.display_name, likeness.similarity, score, at),
                )
            else:
                await tx.execute(
                    "UPDATE game_entries SET photos = photos + 1"
                    " WHERE round_id = ? AND platform = ? AND user_id = ?",
                    (round_id, *key),
                )
        if best:
            self._faces.setdefault(round_id, {})[key] = likeness.tile
        entries = await self._entries(self.db, round_id)
        mine = next(e for e in entries if e.key == key)
        place = 1 + sum(e.closeness > mine.closeness for e in entries)
        return EntryResult(mine, score, best, place, len(entries))

    @staticmethod
    async def _entries(q: Queries, round_id: int) -> list[Entry]:
        rows = await q.fetchall(
            "SELECT platform, user_id, display_name, similarity, score, photos, entered_at"
            " FROM game_entries WHERE round_id = ?",
            (round_id,),
        )
        return [
            Entry(Person(p, u, n), sim, score, photos, at)
            for p, u, n, sim, score, photos, at in rows
        ]

    async def finish(self, round_id: int, *, stopped: bool = False) -> RoundResult | None:
        """End a round, rank it and award its points; None if it had already finished.

        A round with fewer than ``min_players`` players is still ranked, but
        earns no points and has no winner.
        """
        now = self.clock()
        async with self.db.transaction() as tx:
            await tx.lock(f"round:{round_id}")
            changed = await tx.execute(
                "UPDATE game_rounds SET ended_at = ?, outcome = ?"
                " WHERE id = ? AND ended_at IS NULL",
                (now, "stopped" if stopped else "time", round_id),
            )
            if changed == 0:
                return None
            round_ = await self._round(tx, round_id)
            entries = await self._entries(tx, round_id)
            counted = len(entries) >= self.min_players
            standings = rank(entries, counted)
            await tx.executemany(
                "UPDATE game_entries SET place = ?, points = ?"
                " WHERE round_id = ? AND platform = ? AND user_id = ?",
                [
                    (s.place if counted else None, s.points, round_id, *s.entry.key)
                    for s in standings
                ],
            )
        log.info(
            "game round %d ended (%s): %d players%s",
            round_id,
            round_.outcome,
            len(entries),
            "" if counted else ", too few to count",
        )
        faces = self._faces.pop(round_id, {})
        return RoundResult(round_, standings, counted, self.min_players, faces)

    async def leaderboard(self, scope: str, limit: int = 10) -> list[Leader]:
        """The chat's best players by points over its counted rounds; ties share a place."""
        # Each player under their latest name: the one in their latest counted round.
        rows = await self.db.fetchall(
            "WITH totals AS (SELECT e.platform, e.user_id, MAX(e.round_id) AS latest,"
            " SUM(e.points) AS points, SUM(CASE WHEN e.place = 1 THEN 1 ELSE 0 END) AS wins,"
            " COUNT(*) AS played FROM game_entries e JOIN game_rounds r ON r.id = e.round_id"
            " WHERE r.scope = ? AND e.place IS NOT NULL GROUP BY e.platform, e.user_id)"
            " SELECT t.platform, t.user_id, n.display_name, t.latest, t.points, t.wins, t.played"
            " FROM totals t JOIN game_entries n ON n.round_id = t.latest"
            " AND n.platform = t.platform AND n.user_id = t.user_id"
            " ORDER BY t.points DESC, t.wins DESC, t.played ASC, n.display_name",
            (scope,),
        )
        points = [int(r[4]) for r in rows]
        return [
            Leader(
                1 + sum(p > int(pts) for p in points),
                Person(platform, user, name),
                int(pts),
                int(wins),
                int(played),
            )
            for platform, user, name, _, pts, wins, played in rows[:limit]
        ]

    async def forget(self, platform: str, user_id: str) -> int:
        """Erase a player's entries and scores everywhere; returns how many entries went."""
        async with self.db.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM game_entries WHERE platform = ? AND user_id = ?", (platform, user_id)
            )
            # The rounds they started keep no trace of them: neither who nor their language.
            await tx.execute(
                "UPDATE game_rounds SET started_by = NULL, language = NULL"
                " WHERE platform = ? AND started_by = ?",
                (platform, user_id),
            )
        for faces in self._faces.values():
            faces.pop((platform, user_id), None)
        await self.db.erase()
        return deleted

    async def export(self, platform: str, user_id: str) -> list[dict[str, object]]:
        """A player's entries in every chat, as plain JSON-ready data, for them to read."""
        rows = await self.db.fetchall(
            "SELECT r.scope, r.celebrity, r.started_at, e.display_name, e.score, e.photos,"
            " e.place, e.points FROM game_entries e JOIN game_rounds r ON r.id = e.round_id"
            " WHERE e.platform = ? AND e.user_id = ? ORDER BY r.started_at",
            (platform, user_id),
        )
        keys = ("scope", "celebrity", "played_at", "display_name", "score", "photos", "place")
        return [
            dict(zip(keys, (scope, display_name(label), _iso(at), *rest), strict=True))
            | {"points": points}
            for scope, label, at, *rest, points in rows
        ]

    async def podium(self, result: RoundResult, reference: bytes | None) -> bytes | None:
        """`podium` off the event loop."""
        return await asyncio.to_thread(podium, result, reference)
