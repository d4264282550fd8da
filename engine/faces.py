"""Find faces in photos with MTCNN (facenet-pytorch's weights): boxes, scores and five landmarks."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from engine import mtcnn, runtime

log = logging.getLogger(__name__)

# MTCNN's stage thresholds and pyramid factor, as in the paper and facenet-pytorch.
_THRESHOLDS = (0.6, 0.7, 0.7)
_FACTOR = 0.709
# R-Net's threshold for windows that reach past the photo's edge (mtcnn.Stages): on
# 149 LFW faces with 40% of the face cut off at one side, 119 are found against 83
# at R-Net's usual 0.7, for half a percent more O-Net windows; lower, hands and
# chins start to pass (benchmarks/cut_faces.py).
CUT_THRESHOLD = 0.1
# P-Net looks at 12x12 windows; the pyramid starts at 12/min_size. Below 20 px
# (in the scaled photo) the first levels grow large and detection slows down a lot.
# A pyramid for 20 px faces still finds smaller ones: 26 of the 27 faces, 14 to 19 px
# wide, of a labelled group photo (benchmarks/detection.py), at no extra cost.
_MIN_DETECTOR_FACE = 20


def _torch_nets() -> tuple:
    from engine import mtcnn_nets

    return mtcnn_nets.networks()


@dataclasses.dataclass(frozen=True)
class Face:
    """One face found in a photo, in the photo's own pixel coordinates.

    Attributes:
        box: (x1, y1, x2, y2), the top-left and bottom-right corners, clipped to
            the photo.
        score: the detector's confidence, 0 to 1.
        landmarks: five (x, y) points, in this order: the eye on the left of the
            photo, the other eye, the nose tip, the left and the right mouth corner.
    """

    box: tuple[float, float, float, float]
    score: float
    landmarks: tuple[tuple[float, float], ...]

    @property
    def width(self) -> float:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> float:
        return self.box[3] - self.box[1]

    @property
    def size(self) -> float:
        """The shorter side of the box, in pixels."""
        return min(self.width, self.height)

    @property
    def area(self) -> float:
        return self.width * self.height

    @property
    def center(self) -> tuple[float, float]:
        return ((self.box[0] + self.box[2]) / 2, (self.box[1] + self.box[3]) / 2)


class FaceDetector:
    """MTCNN over a photo scaled down to ``max_side``, with boxes mapped back.

    Args:
        device: where the three MTCNN networks run.
        max_side: photos whose longer side is larger are scaled down to it for
            detection; this bounds the cost of a 12-megapixel upload.
        min_face_size: faces whose shorter box side is smaller, in pixels of the
            original photo, are dropped.
        min_score: faces the detector is less sure of (0 to 1) are dropped.
        cut_threshold: R-Net's threshold for windows that the photo's edge cuts, so
            that a face the frame cuts is found; None for MTCNN's usual stages.
        again: detect a scaled-down photo again at twice ``max_side`` when the
            scaling may have lost faces (``detect_many``), unless ``enough`` faces
            were found: those answered (LOOKALIKE_MAX_FACES, the largest), as a
            second pass would only add smaller ones.

    The networks load on first use, from the weights inside facenet-pytorch.
    """

    def __init__(
        self,
        *,
        device: str = "cpu",
        max_side: int = 640,
        min_face_size: int = 10,
        min_score: float = 0.9,
        cut_threshold: float | None = CUT_THRESHOLD,
        again: bool = True,
        enough: int = 40,
    ) -> None:
        self.device = str(device)
        self.max_side = max_side
        self.min_face_size = min_face_size
        self.min_score = min_score
        self.cut_threshold = cut_threshold
        self.again = again
        self.enough = enough
        self._nets: tuple[runtime.Net, ...] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def _networks(self) -> tuple[runtime.Net, ...]:
        with self._lock:
            if self._nets is None:
                self._nets = runtime.networks(("pnet", "rnet", "onet"), self.device, _torch_nets)
            return self._nets

    def load(self) -> None:
        """Load the networks now and run each once, so that the first photo is not slow."""
        for net, size in zip(self._networks(), (48, 24, 48), strict=True):
            net(np.zeros((2, 3, size, size), np.float32))

    def detect(self, image: Image.Image) -> list[Face]:
        """Every face in an RGB photo, largest first.

        Returns:
            The faces that pass ``min_face_size`` and ``min_score``, sorted by
            box area, largest first. An empty list when there is none.
        """
        return self.detect_many([image])[0]

    def detect_many(self, images: Sequence[Image.Image]) -> list[list[Face]]:
        """``detect`` for several photos; photos of the same size share one MTCNN pass.

        Passes of different sizes run at once, one per core, and a single pass runs
        its pyramid levels so: between the networks MTCNN's own steps use one core,
        so two at once keep both busy (on 2 cores, 25 photos of different sizes:
        1.0-1.2 s against 1.5-1.7 s; one 640x480 photo: 47 against 52 ms;
        benchmarks/README.md).

        A photo scaled down for detection may have lost faces to the scaling: when
        no face is found in it, or one under the smallest size the pyramid looks for
        (found at all because the windows reach a little below it: a crowd, mostly),
        and fewer than ``enough``, it is detected again at twice ``max_side``, and
        that pass's faces are its answer (benchmarks/crowd_recall.py).
        """
        results = self._detect_at(images, self.max_side)
        again = [
            i for i, faces in enumerate(results) if self._may_have_lost_faces(images[i], faces)
        ]
        if again:
            redone = self._detect_at([images[i] for i in again], 2 * self.max_side)
            for i, faces in zip(again, redone, strict=True):
                results[i] = faces
        return results

    def _may_have_lost_faces(self, image: Image.Image, faces: list[Face]) -> bool:
        scale = self.max_side / max(image.size)
        if not self.again or scale >= 1 or len(faces) >= self.enough:
            return False
        return not faces or any(face.size * scale < _MIN_DETECTOR_FACE for face in faces)

    def _detect_at(self, images: Sequence[Image.Image], max_side: int) -> list[list[Face]]:
        scaled = [self._scaled(image, max_side) for image in images]
        results: list[list[Face]] = [[] for _ in images]
        groups: dict[tuple[tuple[int, int], int], list[int]] = {}
        for index, (small, scale) in enumerate(scaled):
            min_size = max(_MIN_DETECTOR_FACE, round(self.min_face_size * scale))
            if min(small.size) >= min_size:  # else no pyramid level fits: no face
                groups.setdefault((small.size, min_size), []).append(index)

        def run(
            group: tuple[tuple[tuple[int, int], int], list[int]],
            levels: ThreadPoolExecutor | None = None,
        ) -> list:
            (_, min_size), indices = group
            return self._run([np.asarray(scaled[i][0]) for i in indices], min_size, levels)

        passes = list(groups.items())
        pool = self._workers() if runtime.threads() > 1 else None
        if pool is None or not passes:
            found = [run(p) for p in passes]
        elif len(passes) == 1:  # one pass: its pyramid levels share the cores
            found = [run(passes[0], pool)]
        else:
            found = list(pool.map(run, passes))
        for (_, indices), boxes_and_points in zip(passes, found, strict=True):
            for i, (boxes, points) in zip(indices, boxes_and_points, strict=True):
                results[i] = self._faces(boxes, points, scaled[i][1], images[i].size)
        return results

    def _workers(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(runtime.threads(), thread_name_prefix="detect")
            return self._pool

    def _scaled(self, image: Image.Image, max_side: int) -> tuple[Image.Image, float]:
        longest = max(image.size)
        if longest <= max_side:
            return image, 1.0
        scale = max_side / longest
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        factor = int(1 / scale)
        if factor >= 2:  # a box filter by a whole factor first: 2 ms where resize takes 8
            image = image.reduce(factor)
        if image.size != size:
            image = image.resize(size, Image.Resampling.BILINEAR)
        return image, scale

    def _run(
        self, batch: list[np.ndarray], min_size: int, levels: ThreadPoolExecutor | None = None
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        # O-Net's threshold is raised to min_score: the same faces pass (NMS only lets
        # a higher score remove a lower one), and only faces kept can hide a second look.
        pnet, rnet, onet = _THRESHOLDS
        thresholds = (pnet, rnet, max(onet, self.min_score))
        stages = mtcnn.Stages(min_size, thresholds, _FACTOR, self.cut_threshold)
        return mtcnn.detect(self._networks(), np.stack(batch), stages, levels)

    def _faces(
        self, boxes: np.ndarray, points: np.ndarray, scale: float, size: tuple[int, int]
    ) -> list[Face]:
        width, height = size
        faces = []
        for row, marks in zip(boxes, points, strict=True):
            x1, y1, x2, y2 = (float(v) / scale for v in row[:4])
            box = (max(0.0, x1), max(0.0, y1), min(float(width), x2), min(float(height), y2))
            face = Face(
                box=box,
                score=float(row[4]),
                landmarks=tuple((float(x) / scale, float(y) / scale) for x, y in marks),
            )
            if face.score >= self.min_score and face.size >= self.min_face_size:
                faces.append(face)
        faces.sort(key=lambda f: f.area, reverse=True)
        return faces
