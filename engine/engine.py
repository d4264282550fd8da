"""Engine: the async facade the adapters call; model work runs off the event loop."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from collections.abc import AsyncIterator, Callable, Collection, Iterable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import TypeVar

import numpy as np

from engine import calibration
from engine.celebrities import Celebrity
from engine.chats import ChatSettings, valid_fields
from engine.config import Settings
from engine.errors import StorageUnavailable
from engine.faces import Face
from engine.game_store import Game
from engine.pipeline import THOROUGH, Likeness, LookalikeRequest, PhotoResult, Pipeline
from engine.registry import ForgetResult, Match, Person, RegisterResult, Registry, Unknown
from engine.storage import DatabaseError, connect
from engine.storage.shared import Claims, Notes, RateLimits
from engine.worker import Batcher

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclasses.dataclass(frozen=True)
class Recognition:
    """Who is in a photo, among the people registered in one scope.

    Attributes:
        faces: one result per face, largest first (the ``LOOKALIKE_MAX_FACES`` largest).
        total_faces: how many faces the photo has.
        anyone: whether anyone is registered in the scope; when nobody is, the photo
            was not even looked at, and ``faces`` is empty.
        work_s: the model worker's time it took, in seconds.
    """

    faces: tuple[Match | Unknown, ...]
    total_faces: int
    anyone: bool
    work_s: float = 0.0


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
        self._lookalikes: Batcher[LookalikeRequest, PhotoResult] = Batcher(
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
        self._limits = RateLimits(self.db)
        self._chats = ChatSettings(self.db)
        # A mistyped LOOKALIKE_FIELDS stops the start-up, naming the fields there are.
        self._default_fields = valid_fields(self.settings.fields)
        self._claims = Claims(self.db)
        self._notes = Notes(self.db)

    async def _run(self, function: Callable[..., T], *args: object, **kwargs: object) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor, functools.partial(function, *args, **kwargs)
        )

    async def _timed(self, function: Callable[..., T], *args: object) -> tuple[T, float]:
        """``function(*args)`` in the worker, and the seconds it took there (queueing aside)."""

        def timed() -> tuple[T, float]:
            started = time.perf_counter()
            return function(*args), time.perf_counter() - started

        return await self._run(timed)

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
            f"with {len(model.classes)} people" if model else "missing",
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

    def celebrities(self) -> tuple[Celebrity, ...]:
        """The people of the current celebrity gallery (label, display name, field,
        well_known); empty without one."""
        model = self.pipeline.classifier
        return model.celebrities if model is not None else ()

    def celebrity(self, name: str) -> Celebrity | None:
        """The current gallery's celebrity with this label or display name, if any."""
        return self.pipeline.known(name)

    async def reference_photo(self, celebrity: str) -> bytes | None:
        """A JPEG of the celebrity (label or display name): their reference face, or, where
        none was built, a card with their name and field. None only if it cannot be drawn."""
        try:
            return await self._run(self.pipeline.reference_jpeg, celebrity)
        except Exception as exc:  # a reply without it is still an answer
            log.warning("no reference picture for %s: %s", celebrity, exc)
            return None

    def games(self, *, clock: Callable[[], float], min_players: int) -> Game:
        """The game's records, in this engine's database."""
        return Game(self.db, clock=clock, min_players=min_players)

    async def reload_model(self) -> bool:
        """Load the celebrity model from disk now, between requests; True if one is loaded.

        Requests already queued keep their place: the reload runs in the same
        worker, after them. Without this call, a new model is noticed by its file
        modification time within a few seconds.
        """
        return await self._run(lambda: self.pipeline.models.reload() is not None)

    async def lookalike(
        self,
        image: bytes,
        top_k: int | None = None,
        *,
        render: bool = False,
        fields: Collection[str] | None = None,
    ) -> PhotoResult:
        """The faces in a photo, each with its top-k celebrities.

        Args:
            image: the uploaded file's bytes (JPEG, PNG, WebP, GIF or BMP).
            top_k: celebrities per face; the ``LOOKALIKE_TOP_K`` setting when None.
            render: also draw the annotated photo and the collage.
            fields: only celebrities of these fields (`engine.celebrities.FIELDS`)
                answer; None for everyone. Names that are not fields match nobody.

        Raises:
            engine.errors.ImageError: the file is not a usable photo.
        """
        wanted = frozenset(fields) if fields is not None else None
        return await self._lookalikes.submit((image, top_k, render, wanted))

    async def similarity_to(self, image: bytes, celebrity: str) -> Likeness:
        """The largest face in ``image`` measured against ``celebrity`` (a label or display
        name): its similarity, its 0-100 score on the lookalike scale, its percentile
        among strangers' faces, and a face tile for collages.

        Raises:
            engine.errors.ImageError, NoFaceFound, ModelUnavailable (no model, or
            none with that celebrity).
        """
        likeness, seconds = await self._timed(self.pipeline.likeness, image, celebrity)
        return dataclasses.replace(likeness, work_s=seconds)

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
        (face, vector), seconds = await self._timed(self._enrol, image)
        async with self._storage():
            result = await self.registry.add(scope, person, vector, face)
        return dataclasses.replace(result, work_s=seconds)

    def _enrol(self, data: bytes) -> tuple[Face, np.ndarray]:
        return self.pipeline.enrol(self.pipeline.decode(data))

    async def whoami(self, scope: str, image: bytes) -> Recognition:
        """Each face in ``image``, recognised among the people registered in ``scope`` only.

        Nobody registered there: nothing is decoded or detected.
        """
        if not await self.has_registrations(scope):  # one indexed row, not the gallery
            return Recognition((), 0, False)
        (faces, total), seconds = await self._timed(self._faces_for_matching, image)
        if not faces:
            return Recognition((), total, True, seconds)
        vectors = np.stack([vector for _, vector in faces])
        async with self._storage():
            found = await self.registry.match(scope, [face for face, _ in faces], vectors)
        return Recognition(tuple(found), total, True, seconds)

    def _faces_for_matching(self, data: bytes) -> tuple[list[tuple[Face, np.ndarray]], int]:
        photos = [self.pipeline.decode(data)]
        found = self.pipeline.detect(photos)
        return self.pipeline.embed(photos, found, THOROUGH)[0], len(found[0])

    async def photos_registered(self, scope: str, person: Person) -> int:
        """How many photos ``person`` has registered in ``scope`` (0: not registered there)."""
        async with self._storage():
            return await self.registry.photos(scope, person.platform, person.user_id)

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
        """Counts of people, registrations, scopes and embeddings, and ``celebrities``:
        how many people the celebrity model knows (absent without a model)."""
        async with self._storage():
            counts = await self.registry.stats()
        model = self.pipeline.classifier
        if model is not None:
            counts["celebrities"] = len(model.classes)
        return counts

    async def chat_fields(self, scope: str) -> tuple[str, ...]:
        """The celebrity fields answers in ``scope`` come from: its own choice, else the
        LOOKALIKE_FIELDS default; empty means every field."""
        async with self._storage():
            chosen = await self._chats.fields(scope)
        return chosen if chosen is not None else self._default_fields

    async def set_chat_fields(self, scope: str, fields: Iterable[str] | None) -> None:
        """Choose ``scope``'s fields (see `chat_fields`); None goes back to the default.

        Raises:
            ValueError: one of ``fields`` is not in `engine.celebrities.FIELDS`.
        """
        async with self._storage():
            await self._chats.set_fields(scope, fields)

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

    async def put_note(self, key: str, value: str, ttl_s: float) -> None:
        """Keep a short-lived ``value`` under ``key`` for ``ttl_s`` seconds, for every
        process sharing the database (the questions the bot asks live here)."""
        async with self._storage():
            await self._notes.put(key, value, ttl_s)

    async def get_note(self, key: str) -> tuple[str, float] | None:
        """The note under ``key`` and its seconds left; None when there is none."""
        async with self._storage():
            return await self._notes.get(key)

    async def take_note(self, key: str, value: str | None = None) -> bool:
        """Delete the note under ``key`` (if it still holds ``value``): True for the one
        process that did, so that an answer to a question is acted on once."""
        async with self._storage():
            return await self._notes.take(key, value)
