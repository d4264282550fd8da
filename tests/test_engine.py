"""Engine: the async facade, on real photos; the event loop keeps running meanwhile."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from PIL import Image

from engine.config import Settings
from engine.engine import Engine
from engine.errors import CorruptImage, LookalikeError, TooManyPixels, UnsupportedImage
from tests.conftest import HOPPER_BOX, box_close, encode
from tests.test_images import png_claiming


@pytest.fixture(scope="module")
def engine(settings: Settings) -> Engine:
    engine = Engine(settings)
    engine.pipeline.load()
    return engine


async def test_lookalike_without_a_model_gives_faces_and_embeddings(
    engine: Engine, hopper_jpg: bytes
) -> None:
    result = await engine.lookalike(hopper_jpg)
    assert not result.model_available
    (face,) = result.faces
    assert face.predictions == ()
    assert face.embedding.shape == (128,)
    assert box_close(face.face.box, HOPPER_BOX, tolerance=20)


async def test_render_gives_an_annotated_jpeg(engine: Engine, group_photo: Image.Image) -> None:
    result = await engine.lookalike(encode(group_photo, "JPEG"), render=True)
    assert len(result.faces) == 3
    assert result.annotated is not None and result.annotated[:3] == b"\xff\xd8\xff"
    assert result.collage is None  # no model, no reference photos


async def test_each_bad_input_gets_its_typed_error(engine: Engine, hopper: Image.Image) -> None:
    jpeg = encode(hopper, "JPEG")
    cases = {
        "truncated": (jpeg[: len(jpeg) // 3], CorruptImage),
        "corrupt": (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 8, CorruptImage),
        "bomb": (png_claiming(30000, 30000), TooManyPixels),
        "text renamed .jpg": (b"Dear diary,\nthis is not a photo.\n", UnsupportedImage),
    }
    for name, (data, error) in cases.items():
        with pytest.raises(LookalikeError) as raised:
            await engine.lookalike(data)
        assert type(raised.value) is error, f"{name}: {type(raised.value).__name__}"


async def test_no_face_several_faces_and_animated_gif(
    engine: Engine, no_face: Image.Image, group_photo: Image.Image, hopper: Image.Image
) -> None:
    assert (await engine.lookalike(encode(no_face, "JPEG"))).faces == ()
    assert len((await engine.lookalike(encode(group_photo, "PNG"))).faces) == 3
    frames = [hopper, Image.new("RGB", hopper.size, "black")]
    gif = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert len((await engine.lookalike(gif)).faces) == 1  # the first frame


async def test_the_event_loop_keeps_ticking_while_a_photo_is_processed(
    engine: Engine, hopper: Image.Image
) -> None:
    big = encode(hopper.resize((1280, 1500)), "JPEG", quality=90)
    for _ in range(3):
        work = asyncio.ensure_future(engine.lookalike(big, render=True))
        turns = 0
        while not work.done():  # the loop keeps taking turns while the worker works
            await asyncio.sleep(0.001)
            turns += 1
        assert len(work.result().faces) == 1
        # Work done on the loop itself would finish before the loop's first turn.
        assert turns > 10, f"the loop took only {turns} turns during a photo"


async def test_a_burst_is_batched_and_each_caller_gets_its_own_answer(
    settings: Settings, pipeline, hopper: Image.Image, astronaut: Image.Image
) -> None:
    engine = Engine(
        dataclasses.replace(settings, batch_size=8, batch_window_ms=50), pipeline=pipeline
    )
    photos = [encode(hopper, "JPEG"), b"not a photo", encode(astronaut, "PNG")] * 3
    results = await asyncio.gather(
        *(engine.lookalike(p, render=i == 0) for i, p in enumerate(photos)), return_exceptions=True
    )
    assert engine._lookalikes.batches < len(photos)  # they went through together
    for photo, result in zip(photos, results, strict=True):
        if photo == b"not a photo":
            assert isinstance(result, UnsupportedImage)
        else:
            assert len(result.faces) == 1
    assert results[0].annotated is not None and results[3].annotated is None
    await engine.close()
