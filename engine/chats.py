"""What a chat chooses for all its members: the celebrity fields its answers come from."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from engine.celebrities import FIELDS
from engine.storage.base import Storage


def valid_fields(fields: Iterable[str]) -> tuple[str, ...]:
    """``fields`` in FIELDS order, each once; ValueError names any that is not a field."""
    wanted = {f.strip().lower() for f in fields if f.strip()}
    unknown = sorted(wanted - set(FIELDS))
    if unknown:
        raise ValueError(f"not a field: {', '.join(unknown)} (fields: {', '.join(FIELDS)})")
    return tuple(f for f in FIELDS if f in wanted)


class ChatSettings:
    """Per-chat choices kept in the engine's storage; none of them is personal data."""

    def __init__(self, db: Storage, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    async def fields(self, scope: str) -> tuple[str, ...] | None:
        """The fields ``scope`` chose, or None when it chose none."""
        row = await self.db.fetchone("SELECT fields FROM chat_settings WHERE scope = ?", (scope,))
        return None if row is None else valid_fields(row[0].split())

    async def set_fields(self, scope: str, fields: Iterable[str] | None) -> None:
        """Choose ``fields`` for ``scope``; None (or nothing) goes back to the default."""
        chosen = valid_fields(fields or ())
        async with self.db.transaction() as tx:
            if not chosen:
                await tx.execute("DELETE FROM chat_settings WHERE scope = ?", (scope,))
                return
            await tx.execute(
                "INSERT INTO chat_settings (scope, fields, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (scope) DO UPDATE SET fields = excluded.fields,"
                " updated_at = excluded.updated_at",
                (scope, " ".join(chosen), self.clock()),
            )
