"""engine.embedders: the dlib backend on real faces, the facenet backend's loading rules."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest
import torch
from PIL import Image

from engine import embedders
from engine.config import Settings
from engine.embedders import views
from engine.errors import EmbedderUnavailable
from engine.pipeline import QUICK, THOROUGH, Pipeline, Views


def embedding(pipeline: Pipeline, photo: Image.Image) -> np.ndarray:
    ((_, vector),) = pipeline.embed_faces([photo])[0]
    return vector


def jpeg(photo: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=quality)
    return Image.open(buffer).convert("RGB")


def test_dlib_embeddings_are_unit_float32(pipeline: Pipeline, astronaut: Image.Image) -> None:
    vector = embedding(pipeline, astronaut)
    assert pipeline.embedder.name == "dlib"
    assert vector.shape == (128,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5


def test_two_people_are_far_apart_and_copies_are_near(
    pipeline: Pipeline, astronaut: Image.Image, hopper: Image.Image
) -> None:
    a, h = embedding(pipeline, astronaut), embedding(pipeline, hopper)
    # dlib's cosine similarities crowd together: strangers score about 0.85-0.9.
    assert float(a @ h) < 0.92
    for photo, own, other in ((astronaut, a, h), (hopper, h, a)):
        copies = {
            "flipped": photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT),
            "halved": photo.resize((photo.width // 2, photo.height // 2)),
            "doubled": photo.resize((photo.width * 2, photo.height * 2)),
            "jpeg q30": jpeg(photo, 30),
        }
        for name, copy in copies.items():
            vector = embedding(pipeline, copy)
            assert float(vector @ own) > 0.97, name
            assert float(vector @ own) > float(vector @ other) + 0.05, name


def test_view_averaging_stays_close_and_is_repeatable(
    pipeline: Pipeline, hopper: Image.Image
) -> None:
    ((_, plain),) = pipeline.embed_faces([hopper], Views(flip=False))[0]
    ((_, quick),) = pipeline.embed_faces([hopper], QUICK)[0]
    ((_, thorough),) = pipeline.embed_faces([hopper], THOROUGH)[0]
    ((_, again),) = pipeline.embed_faces([hopper], THOROUGH)[0]
    assert 0.98 < float(plain @ quick) < 1.0
    assert 0.98 < float(quick @ thorough) < 1.0
    np.testing.assert_array_equal(thorough, again)


def test_views_layout(pipeline: Pipeline) -> None:
    batch = np.random.default_rng(0).uniform(0, 255, (2, 3, 150, 150)).astype(np.float32)
    out = views(batch, flip=True, jitter=3)
    assert out.shape == (16, 3, 150, 150) and out.dtype == np.float32
    np.testing.assert_array_equal(out[:2], batch)
    np.testing.assert_array_equal(out[2:4], batch[..., ::-1])
    assert not np.array_equal(out[4:6], batch)


def torch_views(batch: torch.Tensor, jitter: int) -> torch.Tensor:
    """The views as torch made them when the embedder ran there: flip, then jitter
    through affine_grid and grid_sample."""
    import torch.nn.functional as F

    base = torch.cat([batch, batch.flip(3)])
    generator = torch.Generator().manual_seed(0)
    angle = (torch.rand(jitter, generator=generator) * 2 - 1) * math.radians(3)
    zoom = (0.97 + torch.rand(jitter, generator=generator) * 0.03) / 0.96
    shift = (torch.rand(jitter, 2, generator=generator) * 2 - 1) * 0.02
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    )
    copies = [
        F.grid_sample(
            base,
            F.affine_grid(theta[k].expand(len(base), 2, 3), list(base.shape), align_corners=False),
            padding_mode="border",
            align_corners=False,
        )
        for k in range(jitter)
    ]
    return torch.cat([base, *copies])


@pytest.mark.parametrize("jitter", [1, 3, 6])
def test_views_are_the_ones_torch_made(jitter: int) -> None:
    """The same draws, and the same pixels to float32 rounding, so that embeddings
    stored before the engine left torch stay valid."""
    generator = torch.Generator().manual_seed(0)
    np.testing.assert_array_equal(
        embedders._uniforms(500), torch.rand(500, generator=generator).numpy()
    )
    batch = np.random.default_rng(jitter).uniform(0, 255, (3, 3, 150, 150)).astype(np.float32)
    expected = torch_views(torch.from_numpy(batch), jitter).numpy()
    assert float(np.abs(views(batch, flip=True, jitter=jitter) - expected).max()) < 0.02


def test_empty_batch(pipeline: Pipeline) -> None:
    assert pipeline.embedder.embed([]).shape == (0, 128)


def test_unknown_backend_names_the_choices() -> None:
    with pytest.raises(ValueError, match="dlib, facenet"):
        embedders.create("resnet9000")


def test_facenet_with_a_missing_weights_file_names_the_setting(tmp_path) -> None:
    backend = embedders.create("facenet", Settings(facenet_weights=tmp_path / "missing.pt"))
    with pytest.raises(EmbedderUnavailable, match="LOOKALIKE_FACENET_WEIGHTS"):
        backend.load()


def test_facenet_reads_weights_from_a_file(tmp_path, hopper: Image.Image) -> None:
    # Real VGGFace2 weights cannot be downloaded here; the same architecture with
    # fresh weights exercises the loading and embedding code all the same.
    from facenet_pytorch import InceptionResnetV1

    torch.manual_seed(0)
    weights = tmp_path / "facenet.pt"
    torch.save(InceptionResnetV1().state_dict(), weights)
    settings = Settings(embedder="facenet", facenet_weights=weights, model=tmp_path / "none")
    pipeline = Pipeline(settings)
    ((face, vector),) = pipeline.embed_faces([hopper])[0]
    assert vector.shape == (512,) and vector.dtype == np.float32
    assert abs(float(np.linalg.norm(vector)) - 1) < 1e-5
    crop = pipeline.embedder.align(np.asarray(hopper), face)
    assert crop.shape == (160, 160, 3)


def test_facenet_weights_of_another_network_are_refused(tmp_path) -> None:
    weights = tmp_path / "other.pt"
    torch.save(torch.nn.Linear(3, 3).state_dict(), weights)
    backend = embedders.create("facenet", Settings(facenet_weights=weights))
    with pytest.raises(EmbedderUnavailable, match="LOOKALIKE_FACENET_WEIGHTS"):
        backend.load()
