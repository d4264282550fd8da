"""Engine: the async facade the adapters call; model work runs off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from engine.config import Settings
from engine.pipeline import PhotoResult, Pipeline

log = logging.getLogger(__name__)

T = TypeVar("T")


class Engine:
    """One per process, shared by every adapter.

    Every method that touches a model runs it in a single worker thread (one
    worker per device: the models use every core already, and torch and dlib
    release the GIL while they compute), so the event loop keeps serving.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or Settings.from_env()
        self.pipeline = Pipeline(self.settings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookalike-model")

    async def _run(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    async def start(self) -> None:
        """Load the models now, so that the first request does not wait for them."""
        await self._run(self.pipeline.load)
        model = self.pipeline.classifier
        log.info(
            "engine ready: embedder %s, device %s, celebrity model %s",
            self.pipeline.embedder.name,
            self.pipeline.device,
            f"with {len(model.classes)} classes" if model else "missing",
        )

    async def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def model_available(self) -> bool:
        return self.pipeline.classifier is not None

    async def reload_model(self) -> bool:
        """Load the celebrity model from disk now, between requests; True if one is loaded.

        Requests already queued keep their place: the reload runs in the same
        worker, after them. Without this call, a new model is noticed by its file
        modification time within a few seconds.
        """
        return await self._run(lambda: self.pipeline.models.reload() is not None)

    async def lookalike(
        self, image: bytes, top_k: int | None = None, *, render: bool = False
    ) -> PhotoResult:
        """The faces in a photo, each with its top-k celebrities.

        Args:
            image: the uploaded file's bytes (JPEG, PNG, WebP, GIF or BMP).
            top_k: celebrities per face; the ``LOOKALIKE_TOP_K`` setting when None.
            render: also draw the annotated photo and the collage.

        Raises:
            engine.errors.ImageError: the file is not a usable photo.
        """
        return await self._run(self._lookalike, image, top_k, render)

    def _lookalike(self, data: bytes, top_k: int | None, render: bool) -> PhotoResult:
        photo = self.pipeline.decode(data)
        result = self.pipeline.lookalike_many([photo], top_k)[0]
        return self.pipeline.render(photo, result) if render else result
