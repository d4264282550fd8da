"""Face embedding backends behind one protocol, chosen by name: dlib (default) and facenet."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
import torch.nn.functional as F

from engine.config import Settings
from engine.device import resolve_device
from engine.errors import EmbedderUnavailable
from engine.faces import Face
from engine.packages import package_file

log = logging.getLogger(__name__)


class Embedder(Protocol):
    """Turns aligned face crops into L2-normalised float32 vectors.

    Attributes:
        name: the backend's registry name, recorded in every model and registration.
        dim: the length of each embedding.
    """

    name: str
    dim: int

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        """The aligned crop this backend embeds, from an HxWx3 uint8 RGB photo."""
        ...

    def embed(
        self, crops: Sequence[np.ndarray], *, flip: bool = False, jitter: int = 0
    ) -> np.ndarray:
        """An (n, dim) float32 array of unit vectors, one row per crop.

        With ``flip``, each crop is also embedded mirrored; with ``jitter``, that
        many slightly moved copies of each view too. The views' embeddings are
        averaged, which costs a pass per view and makes the embedding steadier.
        """
        ...

    def load(self) -> None:
        """Load the weights now rather than on first use."""
        ...


def normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length, as float32 (zero rows stay zero)."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def views(batch: torch.Tensor, *, flip: bool, jitter: int) -> torch.Tensor:
    """The views of each crop to embed, view-major: (v * n, c, h, w) for an (n, c, h, w) batch.

    The crops come first, then their mirror images (with ``flip``), then ``jitter``
    copies of each of those, each rotated by up to 3 degrees, enlarged by 1% to 4%
    and moved by up to 2%, the ranges of dlib's jitter_image. The jitter is seeded,
    so the same crop always gives the same embedding.
    """
    base = torch.cat([batch, batch.flip(3)]) if flip else batch
    if jitter <= 0:
        return base
    generator = torch.Generator().manual_seed(0)
    angle = (torch.rand(jitter, generator=generator) * 2 - 1) * math.radians(3)
    # dlib crops a square of 96% of the chip, divided by 0.97 to 1: a zoom of 1.01 to 1.04.
    zoom = (0.97 + torch.rand(jitter, generator=generator) * 0.03) / 0.96
    shift = (torch.rand(jitter, 2, generator=generator) * 2 - 1) * 0.02
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos, -sin, shift[:, 0]], 1), torch.stack([sin, cos, shift[:, 1]], 1)], 1
    ).to(batch.device, batch.dtype)
    copies = []
    for k in range(jitter):
        grid = F.affine_grid(
            theta[k].expand(len(base), 2, 3), list(base.shape), align_corners=False
        )
        copies.append(F.grid_sample(base, grid, padding_mode="border", align_corners=False))
    return torch.cat([base, *copies])


def pool_views(vectors: torch.Tensor, count: int) -> np.ndarray:
    """Sum the embeddings of each crop's views (laid out as `views` makes them) and normalise."""
    summed = vectors.reshape(-1, count, vectors.shape[-1]).sum(0)
    return normalise(summed.float().cpu().numpy())


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-d; 99.38% on LFW as published by dlib).

    Alignment follows dlib's recipe: its 5-point shape predictor inside the
    detector's box, then a 150x150 chip with padding 0.25. The network itself
    runs in torch (engine.dlib_resnet, its weights read from dlib's file), which
    gives dlib's descriptors to within 1e-6 but batches, uses every core and the
    GPU, and releases the GIL while it computes.
    """

    name = "dlib"
    dim = 128
    chip_size = 150
    chip_padding = 0.25

    def __init__(self, device: torch.device | str = "cpu") -> None:
        self.device = torch.device(device)
        self._predictor: object | None = None
        self._net: torch.nn.Module | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the models and run the network once: torch's first call is slow."""
        _, net = self._load()
        with torch.inference_mode():
            net(torch.zeros(2, 3, self.chip_size, self.chip_size, device=self.device))

    def _load(self) -> tuple[object, torch.nn.Module]:
        with self._lock:
            if self._predictor is None or self._net is None:
                try:
                    import dlib
                except ImportError as exc:
                    raise EmbedderUnavailable(
                        "dlib is not installed (pip install dlib-bin)."
                    ) from exc
                from engine.dlib_resnet import load_dlib_resnet

                def model_file(name: str) -> Path:
                    return package_file(
                        "face_recognition_models", "models", name, missing=EmbedderUnavailable
                    )

                shape = model_file("shape_predictor_5_face_landmarks.dat")
                net = model_file("dlib_face_recognition_resnet_model_v1.dat")
                try:
                    self._net = load_dlib_resnet(net).to(self.device)
                except ValueError as exc:
                    raise EmbedderUnavailable(f"dlib's network file is unusable: {exc}") from exc
                self._predictor = dlib.shape_predictor(str(shape))
            return self._predictor, self._net

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        import dlib

        predictor, _ = self._load()
        shape = predictor(image, dlib.rectangle(*self.predictor_box(face)))  # type: ignore[operator]
        return dlib.get_face_chip(image, shape, size=self.chip_size, padding=self.chip_padding)

    # dlib's shape predictor was trained inside the boxes of dlib's HOG detector,
    # which are wider, shorter and lower than MTCNN's. Mean HOG box edges relative
    # to the MTCNN box's centre, in units of its width and height, measured on 595
    # LFW photos (see benchmarks/README.md): they lower the equal error rate on LFW
    # View 1 DevTrain from 1.07% to 0.87% (with flip).
    _HOG_EDGES = (-0.586, -0.381, 0.540, 0.463)

    def predictor_box(self, face: Face) -> tuple[int, int, int, int]:
        """The box to give dlib's shape predictor for an MTCNN face."""
        cx, cy = face.center
        left, top, right, bottom = self._HOG_EDGES
        return (
            round(cx + left * face.width),
            round(cy + top * face.height),
            round(cx + right * face.width),
            round(cy + bottom * face.height),
        )

    @torch.inference_mode()
    def embed(
        self, crops: Sequence[np.ndarray], *, flip: bool = False, jitter: int = 0
    ) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        from engine.dlib_resnet import chips_to_tensor

        _, net = self._load()
        batch = views(chips_to_tensor(crops).to(self.device), flip=flip, jitter=jitter)
        return pool_views(net(batch), len(crops))


FACENET_URL = (
    "https://github.com/timesler/facenet-pytorch/releases/download/v2.2.9/"
    "20180402-114759-vggface2.pt"
)


class FacenetEmbedder:
    """facenet-pytorch's InceptionResnetV1 with VGGFace2 weights (512-d).

    The weights are read from ``weights`` when given. Otherwise they are taken
    from torch's cache, and downloaded into it when online.
    """

    name = "facenet"
    dim = 512
    chip_size = 160
    chip_margin = 14

    def __init__(self, weights: Path | None = None, device: torch.device | str = "cpu") -> None:
        self.weights = weights
        self.device = torch.device(device)
        self._net: torch.nn.Module | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        self._load()

    def _load(self) -> torch.nn.Module:
        with self._lock:
            if self._net is None:
                from facenet_pytorch import InceptionResnetV1

                net = InceptionResnetV1(pretrained=None, classify=False)
                state = torch.load(self._weights_file(), map_location="cpu", weights_only=True)
                state = {k: v for k, v in state.items() if not k.startswith("logits.")}
                try:
                    net.load_state_dict(state)
                except RuntimeError as exc:
                    raise EmbedderUnavailable(
                        "LOOKALIKE_FACENET_WEIGHTS does not hold InceptionResnetV1 weights."
                    ) from exc
                self._net = net.to(self.device).eval()
            return self._net

    def _weights_file(self) -> Path:
        if self.weights is not None:
            if not self.weights.is_file():
                raise EmbedderUnavailable(
                    f"LOOKALIKE_FACENET_WEIGHTS names a missing file: {self.weights.name}"
                )
            return self.weights
        cached = Path(torch.hub.get_dir()).parent / "checkpoints" / FACENET_URL.rsplit("/", 1)[1]
        if not cached.is_file():
            cached.parent.mkdir(parents=True, exist_ok=True)
            try:
                torch.hub.download_url_to_file(FACENET_URL, str(cached), progress=False)
            except Exception as exc:
                raise EmbedderUnavailable(
                    "The facenet weights could not be downloaded. Set LOOKALIKE_FACENET_WEIGHTS "
                    "to a local copy of 20180402-114759-vggface2.pt."
                ) from exc
        return cached

    def align(self, image: np.ndarray, face: Face) -> np.ndarray:
        # facenet-pytorch's recipe: the box plus a margin, resized to a square.
        from PIL import Image

        x1, y1, x2, y2 = face.box
        size = self.chip_size
        mx = self.chip_margin * (x2 - x1) / (size - self.chip_margin) / 2
        my = self.chip_margin * (y2 - y1) / (size - self.chip_margin) / 2
        height, width = image.shape[:2]
        box = (
            int(max(x1 - mx, 0)),
            int(max(y1 - my, 0)),
            int(min(x2 + mx, width)),
            int(min(y2 + my, height)),
        )
        crop = Image.fromarray(image).crop(box).resize((size, size), Image.Resampling.BILINEAR)
        return np.asarray(crop)

    @torch.inference_mode()
    def embed(
        self, crops: Sequence[np.ndarray], *, flip: bool = False, jitter: int = 0
    ) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        net = self._load()
        batch = torch.as_tensor(np.stack(crops), device=self.device).permute(0, 3, 1, 2).float()
        batch = views((batch - 127.5) / 128.0, flip=flip, jitter=jitter)
        return pool_views(net(batch), len(crops))


_BACKENDS: dict[str, Callable[[Settings], Embedder]] = {
    "dlib": lambda settings: DlibEmbedder(resolve_device(settings.device)),
    "facenet": lambda settings: FacenetEmbedder(
        settings.facenet_weights, resolve_device(settings.device)
    ),
}


def names() -> list[str]:
    """The registered backend names."""
    return sorted(_BACKENDS)


def create(name: str, settings: Settings | None = None) -> Embedder:
    """The backend registered as ``name``, not loaded yet.

    Raises:
        ValueError: for a name that is not registered.
    """
    try:
        factory = _BACKENDS[name]
    except KeyError:
        raise ValueError(
            f"LOOKALIKE_EMBEDDER={name!r} is unknown; choose one of {', '.join(names())}"
        ) from None
    return factory(settings or Settings())
