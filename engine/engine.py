"""Engine: the async facade the adapters call; model work runs off the event loop."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

import numpy as np

from engine import calibration
from engine.config import Settings
from engine.errors import StorageUnavailable
from engine.faces import Face
from engine.game_store import Game
from engine.pipeline import THOROUGH, Likeness, PhotoResult, Pipeline
from engine.registry import ForgetResult, Match, Person, RegisterResult, Registry, Unknown
from engine.storage import DatabaseError, connect
from engine.storage.shared import Claims, RateLimits
from engine.worker import Batcher

log = logging.getLogger(__name__)

T = TypeVar("T")

# Similarities to a class centroid between these give 0% to 100% resemblance,
# unless the model records its own scale (``similarity_scale`` in NAME.json):
# the default model's held-out photos are 0.859 from other people's centroids
# and 0.978 from their own (medians).
DEFAULT_SCALE = (0.86, 0.98)


class Engine:
    """One per process, shared by every adapter.

    Every method that touches a model runs it in a single worker thread (one
    worker per device: torch already uses every core for one batch, and
    releases the GIL while it computes), so the event loop keeps serving.
    Lookalike photos that arrive together share one batch.
    """

    def __init__(
        self, settings: Settings | None = None, *, pipeline: Pipeline | None = None
    ) -> None:
        self.settings = settings or Settings.from_env()
        # A pipeline may be shared by engines with the same model settings (tests do).
        self.pipeline = pipeline or Pipeline(self.settings)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookalike-model")
        # Photos that arrive together are decoded, detected, embedded, classified
        # and drawn as one batch in that worker (benchmarks/throughput.py).
        self._lookalikes: Batcher[tuple[bytes, int | None, bool], PhotoResult] = Batcher(
            self.pipeline.lookalike_batch,
            self._executor,
            window=self.settings.batch_window_ms / 1000,
            limit=self.settings.batch_size,
        )
        # The storage LOOKALIKE_DB names; nothing below knows which backend it is.
        self.db = connect(self.settings.db, timeout=self.settings.db_timeout)
        embedder = self.pipeline.embedder
        self.registry = Registry(
            self.db,
            embedder=embedder.name,
            dim=embedder.dim,
            policy=calibration.policy(self.settings, embedder.name),
            limit=self.settings.register_limit,
        )
        # The group game's rounds and scores, on the same storage. Its owner may set
        # its ``clock`` and ``min_players``.
        self.games = Game(self.db)
        self._limits = RateLimits(self.db)
        self._claims = Claims(self.db)

    async def _run(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    async def start(self) -> None:
        """Open the database, expire stale registrations, and load the models now."""
        async with self._storage():
            await self.db.open()
            await self.registry.expire(self.settings.retention_days)
        await self._run(self.pipeline.load)
        model = self.pipeline.classifier
        log.info(
            "engine ready: embedder %s, device %s, celebrity model %s",
            self.pipeline.embedder.name,
            self.pipeline.device,
            f"with {len(model.classes)} classes" if model else "missing",
        )

    async def close(self) -> None:
        await self._lookalikes.close()
        self._executor.shutdown(wait=True, cancel_futures=True)
        await self.registry.close()
        await self.db.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def model_available(self) -> bool:
        return self.pipeline.classifier is not None

    def resemblance(self, similarity: float) -> int:
        """A face's similarity to a celebrity as a 0-100 resemblance score.

        100 means as close as the celebrity's own photos usually are to their
        average; 0 is as close as other people's usually are. A stranger's best
        match among the default model's 158 people scores 41 to 72 (5th to 95th
        percentile, 300 LFW strangers).
        """
        model = self.pipeline.classifier
        scale = model.info.get("similarity_scale") if model else None
        low, high = (float(scale["low"]), float(scale["high"])) if scale else DEFAULT_SCALE
        return round(100 * min(1.0, max(0.0, (similarity - low) / max(high - low, 1e-6))))

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
        return await self._lookalikes.submit((image, top_k, render))

    async def similarity_to(self, image: bytes, celebrity: str) -> Likeness:
        """The largest face in ``image`` and its cosine similarity to the centroid of
        ``celebrity`` (a class label or display name), with a face tile for collages.

        Raises:
            engine.errors.ImageError, NoFaceFound, ModelUnavailable (no model, or
            none with that celebrity).
        """
        return await self._run(self.pipeline.likeness, image, celebrity)

    # --- the registry ------------------------------------------------------------

    @asynccontextmanager
    async def _storage(self) -> AsyncIterator[None]:
        """Turn database failures (locked, read-only, full, damaged) into one friendly error."""
        try:
            yield
        except (*self.db.errors, DatabaseError) as exc:
            log.error("database unavailable: %s", exc)
            raise StorageUnavailable() from exc

    async def register(self, scope: str, person: Person, image: bytes) -> RegisterResult:
        """Store the face in ``image`` for ``person`` in ``scope``. The caller has their consent.

        Only the embedding is kept, never the photo.

        Raises:
            engine.errors.ImageError, NoFaceFound, TooManyFaces, FaceTooSmall,
            FaceTooBlurry, DuplicateFace, RegistrationLimit, StorageUnavailable.
        """
        face, vector = await self._run(self._enrol, image)
        async with self._storage():
            return await self.registry.add(scope, person, vector, face)

    def _enrol(self, data: bytes) -> tuple[Face, np.ndarray]:
        return self.pipeline.enrol(self.pipeline.decode(data))

    async def whoami(self, scope: str, image: bytes) -> tuple[Match | Unknown, ...]:
        """Each face in ``image``, recognised among the people registered in ``scope`` only."""
        found = await self._run(self._faces_for_matching, image)
        if not found:
            return ()
        faces = [face for face, _ in found]
        vectors = np.stack([vector for _, vector in found])
        async with self._storage():
            return tuple(await self.registry.match(scope, faces, vectors))

    def _faces_for_matching(self, data: bytes) -> list[tuple[Face, np.ndarray]]:
        return self.pipeline.embed_faces([self.pipeline.decode(data)], THOROUGH)[0]

    async def forget(self, person: Person, scope: str | None = None) -> ForgetResult:
        """Erase the person's registrations in ``scope``, or everything about them when None."""
        async with self._storage():
            return await self.registry.forget(person.platform, person.user_id, scope)

    async def export(self, person: Person) -> dict[str, object]:
        """Everything the bot holds about ``person``, for them to read."""
        async with self._storage():
            return await self.registry.export(person.platform, person.user_id)

    async def expire(self) -> int:
        """Delete registrations unused for LOOKALIKE_RETENTION_DAYS; returns how many."""
        async with self._storage():
            return await self.registry.expire(self.settings.retention_days)

    async def language(self, person: Person) -> str | None:
        async with self._storage():
            return await self.registry.language(person.platform, person.user_id)

    async def set_language(self, person: Person, language: str) -> None:
        async with self._storage():
            await self.registry.set_language(person, language)

    async def stats(self) -> dict[str, int]:
        async with self._storage():
            return await self.registry.stats()

    async def has_registrations(self, scope: str) -> bool:
        """Whether anyone is registered in ``scope``: one indexed lookup, no model work,
        true across every process sharing the database."""
        async with self._storage():
            return await self.registry.anyone(scope)

    # --- what replicas sharing the database agree on ---------------------------------

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
        """Spend ``cost`` of ``key``'s ``budget`` per sliding ``window_s`` seconds, atomically
        across every process sharing the database.

        Returns 0 when it fits (and records it), else the seconds until it would
        (recording nothing). ``check_only`` answers without recording; ``force``
        records a cost known only after the work, and returns the seconds until
        the budget holds again (0 if it still does). See engine.storage.shared.
        """
        async with self._storage():
            return await self._limits.charge(
                key, cost, window_s, budget, check_only=check_only, force=force
            )

    async def claim(self, platform: str, update_id: int | str) -> bool:
        """True for the one process that claims ``update_id`` first, False for every other:
        an update delivered to several replicas is answered once. Claims last a day."""
        async with self._storage():
            return await self._claims.claim(platform, update_id)
