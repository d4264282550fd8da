"""What replicas sharing one database agree on: rate-limit budgets and claimed updates."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from engine.storage.base import Storage

log = logging.getLogger(__name__)

# Old rows are swept from the whole table at most this often, per process.
SWEEP_SECONDS = 60.0


def wait_for(
    charges: Sequence[tuple[float, float]], excess: float, window_s: float, now: float
) -> float:
    """Seconds until the oldest ``charges`` (at, cost) leave the window and free ``excess``."""
    freed = 0.0
    for at, cost in sorted(charges):
        freed += cost
        if freed >= excess - 1e-9:
            return max(0.0, at + window_s - now)
    return window_s  # more than the whole budget: it never fits; say "a window"


class RateLimits:
    """Budgets of cost per key over a sliding window, shared by every process.

    A key is, for example, ``"photos:telegram:42"`` (one a photo) or
    ``"seconds:telegram:42"`` (worker-seconds). Each charge holds the key's lock
    for its transaction, so two replicas charging the same key at once cannot
    both spend the last of its budget. Use one window per key.
    """

    def __init__(self, db: Storage, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._longest = 0.0
        self._swept = 0.0

    async def charge(
        self,
        key: str,
        cost: float,
        window_s: float,
        budget: float,
        *,
        check_only: bool = False,
        force: bool = False,
    ) -> float:
        """Spend ``cost`` from ``key``'s budget of ``budget`` per ``window_s`` seconds.

        Returns 0 when the cost fits (and records it), or the seconds until it would
        fit (and records nothing).

        Args:
            check_only: answer the same, but never record: "may I start?" (cost 0
                asks whether anything is left at all).
            force: record the cost whether or not it fits, for a cost known only
                after the work (the seconds a photo took); returns 0 if the budget
                still holds, else the seconds until it does again.
        """
        self._longest = max(self._longest, window_s)
        async with self.db.transaction() as tx:
            await tx.lock(f"charge:{key}")
            now = self.clock()  # once the lock is held: charges are recorded in time order
            await tx.execute("DELETE FROM charges WHERE key = ? AND at <= ?", (key, now - window_s))
            rows = await tx.fetchall("SELECT at, cost FROM charges WHERE key = ?", (key,))
            charges = [(float(at), float(c)) for at, c in rows]
            spent = sum(c for _, c in charges)
            fits = spent + cost <= budget + 1e-9
            if force or (fits and not check_only):
                await tx.execute(
                    "INSERT INTO charges (key, at, cost) VALUES (?, ?, ?)", (key, now, cost)
                )
            if force:
                excess = spent + cost - budget
                wait = wait_for([*charges, (now, cost)], excess, window_s, now) if excess > 0 else 0
            else:
                wait = 0.0 if fits else wait_for(charges, spent + cost - budget, window_s, now)
        await self._sweep(now)
        return float(wait)

    async def _sweep(self, now: float) -> None:
        """Drop charges of idle keys, which no later charge of theirs would drop."""
        if now - self._swept < SWEEP_SECONDS:
            return
        self._swept = now
        await self.db.execute("DELETE FROM charges WHERE at <= ?", (now - self._longest,))


class Claims:
    """Which process answers an update: the first to claim it, across every replica.

    Claims are kept for ``keep_s`` seconds (a day: Telegram keeps an undelivered
    update for 24 hours), then dropped.
    """

    def __init__(
        self, db: Storage, *, keep_s: float = 86_400.0, clock: Callable[[], float] = time.time
    ) -> None:
        self.db = db
        self.keep_s = keep_s
        self.clock = clock
        self._swept = 0.0

    async def claim(self, platform: str, update_id: int | str) -> bool:
        """True for the one caller that claims ``update_id`` first; False for every other."""
        now = self.clock()
        claimed = await self.db.execute(
            "INSERT INTO claims (platform, update_id, claimed_at) VALUES (?, ?, ?)"
            " ON CONFLICT DO NOTHING",
            (platform, str(update_id), now),
        )
        if now - self._swept >= SWEEP_SECONDS:
            self._swept = now
            await self.db.execute("DELETE FROM claims WHERE claimed_at < ?", (now - self.keep_s,))
        return claimed == 1


class Notes:
    """Short-lived values by key that every process reads, such as the question the bot
    asked a user: that user's answer may reach another replica. Expired notes read as
    absent, and are swept now and then."""

    def __init__(self, db: Storage, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self._swept = 0.0

    async def put(self, key: str, value: str, ttl_s: float) -> None:
        """Keep ``value`` under ``key`` for ``ttl_s`` seconds, replacing what was there."""
        now = self.clock()
        await self.db.execute(
            "INSERT INTO notes (key, value, expires_at) VALUES (?, ?, ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
            " expires_at = excluded.expires_at",
            (key, value, now + ttl_s),
        )
        if now - self._swept >= SWEEP_SECONDS:
            self._swept = now
            await self.db.execute("DELETE FROM notes WHERE expires_at <= ?", (now,))

    async def get(self, key: str) -> tuple[str, float] | None:
        """The value under ``key`` and its seconds left, or None if none is left."""
        now = self.clock()
        row = await self.db.fetchone(
            "SELECT value, expires_at FROM notes WHERE key = ? AND expires_at > ?", (key, now)
        )
        return None if row is None else (str(row[0]), float(row[1]) - now)

    async def take(self, key: str, value: str | None = None) -> bool:
        """Delete the note under ``key`` (only if it holds ``value``, when given): True
        for the one caller that deleted it, so that a note is acted on once."""
        if value is None:
            return await self.db.execute("DELETE FROM notes WHERE key = ?", (key,)) == 1
        deleted = await self.db.execute(
            "DELETE FROM notes WHERE key = ? AND value = ? AND expires_at > ?",
            (key, value, self.clock()),
        )
        return deleted == 1
