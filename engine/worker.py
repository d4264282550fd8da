"""Micro-batching: requests that arrive together run as one batch in the model worker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Item = TypeVar("Item")
Result = TypeVar("Result")


class Batcher(Generic[Item, Result]):
    """Gathers items for up to ``window`` seconds, or until ``limit`` are waiting, then
    runs ``run_batch`` on them in ``executor`` and hands each caller its own result.

    Args:
        run_batch: takes the items, returns one result or exception per item, in
            order; an exception in the list is raised to that item's caller only.
        executor: where batches run (the engine's single model worker).
        window: how long the first item of a batch waits for company, in seconds.
            Under load no wait is needed: requests queue while a batch runs, and
            the next batch takes them all at once.
        limit: the largest batch; 1 turns batching off.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[Item]], Sequence[Result | BaseException]],
        executor: Executor,
        *,
        window: float = 0.02,
        limit: int = 16,
    ) -> None:
        self.run_batch = run_batch
        self.executor = executor
        self.window = window
        self.limit = max(1, limit)
        self._queue: asyncio.Queue[tuple[Item, asyncio.Future[Result]]] | None = None
        self._consumer: asyncio.Task[None] | None = None
        self.batches = 0
        self.items = 0

    async def submit(self, item: Item) -> Result:
        """Queue ``item`` and wait for its result."""
        loop = asyncio.get_running_loop()
        if self._queue is None or self._consumer is None or self._consumer.done():
            self._queue = asyncio.Queue()
            self._consumer = loop.create_task(self._consume(), name="lookalike-batcher")
        future: asyncio.Future[Result] = loop.create_future()
        await self._queue.put((item, future))
        return await future

    async def close(self) -> None:
        if self._consumer is not None:
            self._consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._consumer

    async def _gather(self) -> list[tuple[Item, asyncio.Future[Result]]]:
        assert self._queue is not None
        batch = [await self._queue.get()]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.window
        while len(batch) < self.limit:
            if not self._queue.empty():
                batch.append(self._queue.get_nowait())
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._queue.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _consume(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self._gather()
            live = [(item, future) for item, future in batch if not future.done()]
            if not live:
                continue
            try:
                results = await loop.run_in_executor(
                    self.executor, self.run_batch, [item for item, _ in live]
                )
            except Exception as exc:  # the batch as a whole failed: every caller hears it
                log.exception("a batch failed")
                results = [exc] * len(live)
            self.batches += 1
            self.items += len(live)
            for (_, future), result in zip(live, results, strict=True):
                if future.done():  # its caller gave up meanwhile
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
