"""The photo pipeline's bounds: embedder passes of a bounded size give the same embeddings."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import engine.pipeline
from engine.pipeline import THOROUGH, Pipeline


@pytest.fixture(scope="module")
def crowd(astronaut: Image.Image) -> Image.Image:
    """Twelve copies of the astronaut's face on one canvas."""
    canvas = Image.new("RGB", (6 * 200, 2 * 200))
    face = astronaut.crop((130, 10, 330, 210))
    for index in range(12):
        canvas.paste(face, (200 * (index % 6), 200 * (index // 6)))
    return canvas


def test_faces_embedded_in_several_passes_match_one_pass(
    pipeline: Pipeline, crowd: Image.Image, monkeypatch: pytest.MonkeyPatch
) -> None:
    found = pipeline.detect([crowd])
    assert len(found[0]) == 12
    (whole,) = pipeline.embed([crowd], found, THOROUGH)
    monkeypatch.setattr(engine.pipeline, "EMBED_CHUNK", 16)  # two faces of 8 views a pass
    (chunked,) = pipeline.embed([crowd], found, THOROUGH)
    assert [f for f, _ in chunked] == [f for f, _ in whole]
    assert np.allclose(
        np.stack([v for _, v in chunked]), np.stack([v for _, v in whole]), atol=1e-5
    )
