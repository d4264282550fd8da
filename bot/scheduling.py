"""The Scheduler protocol on the event loop itself, for platforms without a job queue."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


class LoopScheduler:
    """Runs callbacks after a delay, on the running loop. Callbacks wait for `start()`:
    one due before the platform's client has logged in could not send."""

    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._started = asyncio.Event()

    def call_later(self, delay: float, name: str, callback: Callable[[], Awaitable[None]]) -> None:
        self.cancel(name)

        async def later() -> None:
            await asyncio.sleep(max(0.0, delay))
            await self._started.wait()
            # Due now: a cancel(name) from here on, even from the callback, leaves it be.
            del self._waiting[name]
            try:
                await callback()
            except Exception:
                log.exception("scheduled %s failed", name)

        self._waiting[name] = asyncio.get_running_loop().create_task(later(), name=name)

    def cancel(self, name: str) -> None:
        task = self._waiting.pop(name, None)
        if task is not None:
            task.cancel()

    def start(self) -> None:
        self._started.set()

    def stop(self) -> None:
        self._started.clear()
        for name in list(self._waiting):
            self.cancel(name)
