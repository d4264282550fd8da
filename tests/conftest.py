"""Shared fixtures: real face photos from the dependencies, real models, shared datasets."""

from __future__ import annotations

import dataclasses
import io
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import matplotlib.cbook
import numpy as np
import pytest
import pytest_asyncio
import skimage.data
from PIL import Image

from engine.config import Settings
from engine.pipeline import Pipeline

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("LOOKALIKE_DATASETS", ROOT.parent / "shared" / "datasets"))
LFW = DATASETS / "lfw"
FIVE = DATASETS / "five-celebrities"

# Where the faces are, measured by hand on the photos: (x1, y1, x2, y2).
ASTRONAUT_BOX = (181, 62, 268, 172)
HOPPER_BOX = (164, 106, 348, 344)


def encode(image: Image.Image, fmt: str = "PNG", **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def astronaut() -> Image.Image:
    return Image.fromarray(skimage.data.astronaut())


@pytest.fixture(scope="session")
def hopper() -> Image.Image:
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as image:
        return image.convert("RGB")


@pytest.fixture(scope="session")
def no_face() -> Image.Image:
    return Image.fromarray(skimage.data.coffee())


@pytest.fixture(scope="session")
def astronaut_png(astronaut: Image.Image) -> bytes:
    return encode(astronaut)


@pytest.fixture(scope="session")
def hopper_jpg(hopper: Image.Image) -> bytes:
    return encode(hopper, "JPEG", quality=92)


@pytest.fixture(scope="session")
def group_photo(astronaut: Image.Image, hopper: Image.Image) -> Image.Image:
    """Three faces on one canvas: the astronaut, Grace Hopper, and the astronaut mirrored."""
    canvas = Image.new("RGB", (1200, 620), (90, 120, 150))
    canvas.paste(astronaut, (0, 50))
    canvas.paste(hopper.resize((400, 469)), (520, 0))
    canvas.paste(
        astronaut.transpose(Image.Transpose.FLIP_LEFT_RIGHT).resize((300, 300)), (900, 300)
    )
    return canvas


# --- storage on both backends ---------------------------------------------------------

BACKENDS = ("sqlite", "postgresql")
_databases = itertools.count()


@pytest.fixture(scope="session")
def pg_server():
    """One private PostgreSQL 16 server with pgvector for the whole run (pgserver), in a
    temporary folder, listening on a socket there only: runs at once never collide.

    Not under pytest's own temporary folder: as root, pgserver runs the server as
    another user, and every pytest run makes that folder private to root again."""
    import pgserver

    folder = Path(tempfile.mkdtemp(prefix="lookalike-test-pg-"))
    try:
        server = pgserver.get_server(folder, cleanup_mode="stop")
        # A throwaway server: nothing it holds must survive a crash of the machine.
        server.psql(
            "ALTER SYSTEM SET fsync = off; ALTER SYSTEM SET synchronous_commit = off;"
            " ALTER SYSTEM SET full_page_writes = off; SELECT pg_reload_conf();"
        )
        try:
            yield server
        finally:
            server.cleanup()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def new_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> str:
    """The URL of an empty database on ``backend``: a new file, or a new PostgreSQL database."""
    if backend == "sqlite":
        return str(folder / f"db{next(_databases)}.sqlite3")
    server = request.getfixturevalue("pg_server")
    name = f"test_{next(_databases)}"
    server.psql(f"CREATE DATABASE {name};")
    return server.get_uri(name)


@pytest.fixture(scope="session")
def pg_scratch(request: pytest.FixtureRequest) -> str:
    """One PostgreSQL database that the function-scoped tests take turns on: a database
    per test would be a few hundred files each, slow to make and to delete."""
    return new_database(request, "postgresql", Path())


@pytest.fixture(params=BACKENDS)
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database for one test, once on each backend."""
    if request.param == "sqlite":
        return new_database(request, "sqlite", tmp_path)
    url = request.getfixturevalue("pg_scratch")
    name = url.split("?")[0].rsplit("/", 1)[1]
    # Emptied by dropping every table, and the extension, with the schema: the next
    # open migrates it from nothing, as on a new database.
    request.getfixturevalue("pg_server").psql(
        f"\\c {name}\nDROP SCHEMA public CASCADE; CREATE SCHEMA public;"
    )
    return url


@pytest.fixture
async def replicas(storage_url: str):
    """Three storages on one database, as three processes would have."""
    from engine.storage import connect

    opened = [connect(storage_url) for _ in range(3)]
    for db in opened:
        await db.open()
    yield opened
    for db in opened:
        await db.close()


@pytest.fixture(scope="module", params=BACKENDS)
def module_storage_url(request: pytest.FixtureRequest, tmp_path_factory) -> str:
    """A fresh database for one test module, once on each backend."""
    return new_database(request, request.param, tmp_path_factory.mktemp("db"))


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Engine settings with no celebrity model (tests that need one make their own)."""
    return Settings(
        model=tmp_path_factory.mktemp("models") / "none",
        threads=0,
        # Not the repository's run/references: tests see only the thumbnails they make.
        references=tmp_path_factory.mktemp("references"),
    )


@pytest.fixture(scope="session")
def pipeline(settings: Settings) -> Pipeline:
    pipe = Pipeline(settings)
    pipe.load()
    return pipe


@pytest.fixture
def lfw() -> Path:
    if not (LFW / "images").is_dir():
        pytest.skip(f"needs the LFW images at {LFW} (see ../shared/datasets/README.md)")
    return LFW


@pytest.fixture
def five_celebrities() -> Path:
    if not FIVE.is_dir():
        pytest.skip(f"needs the five-celebrities photos at {FIVE}")
    return FIVE


def run_module(
    module: str, *args: object, timeout: float = 300, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m module args...`` from the repository root, as an admin runs it."""
    return subprocess.run(
        [sys.executable, "-m", module, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        check=False,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
    )


def box_close(box: tuple[float, ...], expected: tuple[float, ...], tolerance: float) -> bool:
    return bool(np.all(np.abs(np.subtract(box, expected)) <= tolerance))


@pytest.fixture(scope="session")
def toy_model(tmp_path_factory: pytest.TempPathFactory, pipeline: Pipeline, astronaut, hopper):
    """A real celebrity model of three people known to the tests, with a reference gallery:
    each person's one template is their own embedding."""
    from engine.celebrities import Celebrities, people_of

    camera = Image.fromarray(np.stack([skimage.data.camera()] * 3, axis=-1))
    photos = {"Eileen_Collins": astronaut, "Grace_Hopper": hopper, "The_Cameraman": camera}
    centroids = np.stack([pipeline.embed_faces([p])[0][0][1] for p in photos.values()])
    stem = tmp_path_factory.mktemp("toy_model") / "toy"
    people = people_of(photos)
    Celebrities(people, centroids, np.arange(len(people)), "dlib", centroids.shape[1]).save(stem)
    gallery = stem.with_name("toy.gallery")
    gallery.mkdir()
    for name, photo in photos.items():
        (face,) = pipeline.detector.detect(photo)
        photo.crop(tuple(round(v) for v in face.box)).save(gallery / f"{name}.jpg")
    return stem


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def toy_engine(tmp_path_factory: pytest.TempPathFactory, pipeline: Pipeline, toy_model):
    """A started Engine with the toy model and a fresh database, for one test module."""
    from engine.engine import Engine

    settings = dataclasses.replace(
        pipeline.settings, model=toy_model, db=tmp_path_factory.mktemp("db") / "bot.sqlite3"
    )
    engine = Engine(settings)
    await engine.start()
    yield engine
    await engine.close()
