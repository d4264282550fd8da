"""Face embedding backends behind one protocol, chosen by name: dlib (default) and facenet."""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from engine import runtime
from engine.config import Settings
from engine.errors import EmbedderUnavailable
from engine.faces import Face
from engine.packages import package_file
from engine.runtime import resolve_device

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


def views(batch: np.ndarray, *, flip: bool, jitter: int) -> np.ndarray:
    """The views of each crop to embed, view-major: (v * n, c, h, w) for an (n, c, h, w) batch.

    The crops come first, then their mirror images (with ``flip``), then ``jitter``
    copies of each of those, each rotated by up to 3 degrees, enlarged by 1% to 4%
    and moved by up to 2%, the ranges of dlib's jitter_image. The jitter is seeded,
    so the same crop always gives the same embedding.
    """
    batch = np.asarray(batch, np.float32)
    base = np.concatenate([batch, batch[..., ::-1]]) if flip else batch
    if jitter <= 0:
        return base
    u = _uniforms(4 * jitter)
    angle = (u[:jitter] * 2 - 1) * np.float32(math.radians(3))
    # dlib crops a square of 96% of the chip, divided by 0.97 to 1: a zoom of 1.01 to 1.04.
    zoom = (np.float32(0.97) + u[jitter : 2 * jitter] * np.float32(0.03)) / np.float32(0.96)
    shift = (u[2 * jitter :].reshape(jitter, 2) * 2 - 1) * np.float32(0.02)
    cos, sin = np.cos(angle) / zoom, np.sin(angle) / zoom
    copies = [
        _warp(base, np.array([[cos[k], -sin[k], shift[k, 0]], [sin[k], cos[k], shift[k, 1]]]))
        for k in range(jitter)
    ]
    return np.concatenate([base, *copies])


def _uniforms(count: int) -> np.ndarray:
    """The ``count`` uniform float32 draws of ``torch.rand`` from a generator seeded 0,
    which the jitter was first drawn with, so that stored embeddings stay valid: torch's
    CPU generator is MT19937 seeded as numpy's RandomState, and makes each float from
    the low 24 bits of one draw (tests/test_embedders.py checks it against torch)."""
    bits = np.random.RandomState(0).randint(0, 2**32, size=count, dtype=np.uint32)
    return (bits & 0xFFFFFF).astype(np.float32) * np.float32(2**-24)


def _warp(batch: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """``batch`` (n, c, h, w) resampled through the affine map ``theta`` (2x3, in the
    -1..1 coordinates of the image's pixel edges), bilinearly, edge pixels repeated
    outside: torch's ``grid_sample(affine_grid(theta), padding_mode="border",
    align_corners=False)``."""
    height, width = batch.shape[2:]
    theta = theta.astype(np.float32)

    def centres(size: int) -> np.ndarray:  # affine_grid's, in float32 as it makes them
        return np.linspace(-1, 1, size, dtype=np.float32) * np.float32((size - 1) / size)

    xs, ys = centres(width)[None, :], centres(height)[:, None]
    source_x = xs * theta[0, 0] + ys * theta[0, 1] + theta[0, 2]
    source_y = xs * theta[1, 0] + ys * theta[1, 1] + theta[1, 2]
    x = np.clip(((source_x + 1) * width - 1) / 2, 0, width - 1)
    y = np.clip(((source_y + 1) * height - 1) / 2, 0, height - 1)
    # grid_sample's own weights: each corner by the area of the opposite rectangle.
    left, top = np.floor(x), np.floor(y)
    right, bottom = left + 1, top + 1
    x0, y0 = left.astype(np.intp), top.astype(np.intp)
    x1, y1 = np.minimum(x0 + 1, width - 1), np.minimum(y0 + 1, height - 1)
    corners = [
        (y0 * width + x0, (right - x) * (bottom - y)),
        (y0 * width + x1, (x - left) * (bottom - y)),
        (y1 * width + x0, (right - x) * (y - top)),
        (y1 * width + x1, (x - left) * (y - top)),
    ]
    pixels = batch.reshape(-1, height * width)
    out, corner = np.zeros_like(pixels), np.empty_like(pixels)
    for index, weight in corners:
        np.take(pixels, index.ravel(), axis=1, out=corner)
        corner *= weight.ravel()
        out += corner
    return out.reshape(batch.shape)


def pool_views(vectors: np.ndarray, count: int) -> np.ndarray:
    """Sum the embeddings of each crop's views (laid out as `views` makes them) and normalise."""
    vectors = np.asarray(vectors, np.float32)
    return normalise(vectors.reshape(-1, count, vectors.shape[-1]).sum(0))


def chips_to_array(chips: Sequence[np.ndarray]) -> np.ndarray:
    """HxWx3 uint8 RGB chips as one (N, 3, H, W) float32 array of pixel values 0..255."""
    batch = np.stack([np.asarray(c) for c in chips])
    return np.ascontiguousarray(batch.transpose(0, 3, 1, 2), np.float32)


class DlibEmbedder:
    """dlib's ResNet face descriptor (128-d; 99.38% on LFW as published by dlib).

    Alignment follows dlib's recipe: its 5-point shape predictor inside the
    detector's box, then a 150x150 chip with padding 0.25. The network itself is
    dlib's, ported to torch (engine.dlib_resnet, its weights read from dlib's file)
    and run in ONNX Runtime on the CPU and torch on a GPU (engine.runtime). That
    gives dlib's descriptors to within 1e-6 but batches, uses every core and the
    GPU, and releases the GIL while it computes.
    """

    name = "dlib"
    dim = 128
    chip_size = 150
    chip_padding = 0.25

    def __init__(self, device: str = "cpu") -> None:
        self.device = str(device)
        self._predictor: object | None = None
        self._net: runtime.Net | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the models and run the network once: the first call is slow."""
        _, net = self._load()
        net(np.zeros((2, 3, self.chip_size, self.chip_size), np.float32))

    def _load(self) -> tuple[object, runtime.Net]:
        with self._lock:
            if self._predictor is None or self._net is None:
                try:
                    import dlib
                except ImportError as exc:
                    raise EmbedderUnavailable(
                        "dlib is not installed (pip install dlib-bin)."
                    ) from exc

                def model_file(name: str) -> Path:
                    return package_file(
                        "face_recognition_models", "models", name, missing=EmbedderUnavailable
                    )

                shape = model_file("shape_predictor_5_face_landmarks.dat")
                net = model_file("dlib_face_recognition_resnet_model_v1.dat")

                def torch_net() -> tuple:
                    from engine.dlib_resnet import load_dlib_resnet

                    try:
                        return (load_dlib_resnet(net),)
                    except ValueError as exc:
                        raise EmbedderUnavailable(
                            f"dlib's network file is unusable: {exc}"
                        ) from exc

                (self._net,) = runtime.networks(("dlib",), self.device, torch_net)
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

    def embed(
        self, crops: Sequence[np.ndarray], *, flip: bool = False, jitter: int = 0
    ) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        _, net = self._load()
        (descriptors,) = net(views(chips_to_array(crops), flip=flip, jitter=jitter))
        return pool_views(descriptors, len(crops))


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

    def __init__(self, weights: Path | None = None, device: str = "cpu") -> None:
        self.weights = weights
        self.device = str(device)
        self._net: runtime.Net | None = None
        self._lock = threading.Lock()

    def load(self) -> None:
        self._load()

    def _load(self) -> runtime.Net:
        with self._lock:
            if self._net is None:
                torch = runtime.load_torch()
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
                self._net = runtime.TorchNet(net, self.device)  # never exported: torch everywhere
            return self._net

    def _weights_file(self) -> Path:
        if self.weights is not None:
            if not self.weights.is_file():
                raise EmbedderUnavailable(
                    f"LOOKALIKE_FACENET_WEIGHTS names a missing file: {self.weights.name}"
                )
            return self.weights
        torch = runtime.load_torch()
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

    def embed(
        self, crops: Sequence[np.ndarray], *, flip: bool = False, jitter: int = 0
    ) -> np.ndarray:
        if not crops:
            return np.zeros((0, self.dim), np.float32)
        net = self._load()
        batch = (chips_to_array(crops) - 127.5) / 128.0
        (vectors,) = net(views(batch, flip=flip, jitter=jitter))
        return pool_views(vectors, len(crops))


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
