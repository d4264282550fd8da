"""The synchronous photo pipeline: decode, detect, align, embed, predict, render."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Collection, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from engine import embedders, images, references, render
from engine.celebrities import Celebrities, Celebrity, ModelWatcher, Prediction
from engine.config import Settings
from engine.errors import (
    FaceTooBlurry,
    FaceTooSmall,
    LookalikeError,
    ModelUnavailable,
    NoFaceFound,
    TooManyFaces,
)
from engine.faces import Face, FaceDetector
from engine.runtime import configure_cache, configure_threads, resolve_device

log = logging.getLogger(__name__)

# Face images per embedder pass: 128 150-px chips take about 0.5 GB of activations in
# dlib's network, and larger passes are no faster on a CPU.
EMBED_CHUNK = 128

# One lookalike request: (file bytes, top-k or None, render, the fields its answers are
# restricted to or None).
LookalikeRequest = tuple[bytes, int | None, bool, Collection[str] | None]


@dataclasses.dataclass(frozen=True)
class Views:
    """Which views of a face to embed and average (see engine.embedders.views)."""

    flip: bool = True
    jitter: int = 0


# Lookalike answers favour speed: the face and its mirror image, one batched pass.
QUICK = Views(flip=True, jitter=0)
# Enrolment, recognition, training and calibration favour steadiness: 8 views.
# On LFW View 1 this takes DevTest verification from 98.9% to 99.1% (README).
THOROUGH = Views(flip=True, jitter=3)


def sharpness(crop: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned face crop's grey levels: low means blurred.

    Measured on dlib's 150 px chips: LFW's faces are above 12.7 in 99% of cases,
    and a Gaussian blur of radius 2 brings a sharp face down to about 6.
    """
    grey = np.asarray(crop, np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    laplacian = (
        grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    )
    return float(laplacian.var())


@dataclasses.dataclass(frozen=True)
class FaceResult:
    """A face, the celebrities it resembles (empty without a model), and its embedding."""

    face: Face
    predictions: tuple[Prediction, ...]
    embedding: np.ndarray = dataclasses.field(repr=False, compare=False)


@dataclasses.dataclass(frozen=True)
class PhotoResult:
    """Everything found in one photo.

    Attributes:
        size: the photo's (width, height) after EXIF rotation.
        faces: one result per face, largest face first.
        model_available: False when no celebrity model is loaded; predictions are then empty.
        annotated: the photo with numbered boxes, as JPEG, when rendering was asked for.
        collage: face beside celebrity for each face, as JPEG, when rendering was
            asked for and the model has reference photos.
        total_faces: the faces found, of which the ``LOOKALIKE_MAX_FACES`` largest are
            in ``faces``.
        work_s: the model worker's time this photo took, in seconds (its share of a
            batch's time): what per-user limits count.
    """

    size: tuple[int, int]
    faces: tuple[FaceResult, ...]
    model_available: bool
    total_faces: int = 0
    work_s: float = 0.0
    annotated: bytes | None = dataclasses.field(default=None, repr=False)
    collage: bytes | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Likeness:
    """A photo's largest face measured against one celebrity.

    Attributes:
        face: the face that was scored (the largest in the photo).
        similarity: the aggregated cosine similarity between its embedding and the
            celebrity's templates, -1 to 1 (what ranks players).
        tile: the face, cropped square (256 px) as JPEG, for the round's collage.
        score: the similarity as the 0-100 resemblance shown to people, the same
            scale as a lookalike's.
        work_s: the model worker's time it took, in seconds.
        percentile: 0 to 100, the share of strangers' faces measured on LFW that are
            less similar to this celebrity ("closer to them than 83% of faces").
    """

    face: Face
    similarity: float
    tile: bytes = dataclasses.field(repr=False)
    score: int = 0
    work_s: float = 0.0
    percentile: int = 0


class Pipeline:
    """The models and the steps between them. Not thread-safe: one caller at a time.

    Models load on first use, or all at once with ``load()``.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.device = resolve_device(settings.device)
        configure_threads(settings.threads)
        configure_cache(settings.cache)
        self.detector = FaceDetector(
            device=self.device,
            max_side=settings.detect_max_side,
            min_face_size=settings.min_face_size,
            min_score=settings.min_face_score,
            enough=settings.max_faces,
        )
        self.embedder = embedders.create(settings.embedder, settings)
        self.models = ModelWatcher(
            settings.model, embedder=self.embedder.name, dim=self.embedder.dim
        )

    def load(self) -> None:
        """Load every model now, so that the first photo is not slow."""
        self.detector.load()
        self.embedder.load()
        self.models.current()

    @property
    def classifier(self) -> Celebrities | None:
        """The celebrity gallery now loaded, or None."""
        return self.models.current()

    def decode(self, data: bytes) -> Image.Image:
        return images.decode(
            data,
            max_bytes=self.settings.max_upload_bytes,
            max_pixels=self.settings.max_pixels,
            max_side=self.settings.work_max_side,
        )

    def detect(self, photos: Sequence[Image.Image]) -> list[list[Face]]:
        """Every face of every photo, largest first."""
        return self.detector.detect_many(photos)

    def embed(
        self,
        photos: Sequence[Image.Image],
        found: Sequence[Sequence[Face]],
        views: Views = QUICK,
    ) -> list[list[tuple[Face, np.ndarray]]]:
        """The embedding of each face in ``found`` (per photo), the first
        ``LOOKALIKE_MAX_FACES`` of each photo only, in chunks that bound the memory of
        one embedder pass."""
        found = [list(faces[: self.settings.max_faces]) for faces in found]
        crops = []
        for photo, faces in zip(photos, found, strict=True):
            if faces:
                pixels = np.asarray(photo)
                crops.extend(self.embedder.align(pixels, face) for face in faces)
        per_pass = max(1, EMBED_CHUNK // ((1 + views.flip) * (1 + views.jitter)))
        chunks = [
            self.embedder.embed(crops[i : i + per_pass], flip=views.flip, jitter=views.jitter)
            for i in range(0, len(crops), per_pass)
        ]
        vectors = iter(np.concatenate(chunks) if chunks else ())
        return [[(face, next(vectors)) for face in faces] for faces in found]

    def embed_faces(
        self, photos: Sequence[Image.Image], views: Views = QUICK
    ) -> list[list[tuple[Face, np.ndarray]]]:
        """Every face of every photo (the ``LOOKALIKE_MAX_FACES`` largest) with its embedding."""
        return self.embed(photos, self.detect(photos), views)

    def enrol(self, photo: Image.Image) -> tuple[Face, np.ndarray]:
        """The one face of a registration photo and its thorough embedding.

        Faces less than half the size of the largest are background and ignored.

        Raises:
            NoFaceFound, TooManyFaces, FaceTooSmall, FaceTooBlurry.
        """
        faces = self.detector.detect(photo)
        if not faces:
            raise NoFaceFound()
        main = [
            f for f in faces if f.area >= faces[0].area / 4
        ]  # half the side: a quarter of the area
        if len(main) > 1:
            raise TooManyFaces(count=len(main))
        face = faces[0]
        if face.size < self.settings.register_min_face:
            raise FaceTooSmall()
        crop = self.embedder.align(np.asarray(photo), face)
        if sharpness(crop) < self.settings.min_sharpness:
            raise FaceTooBlurry()
        (vector,) = self.embedder.embed([crop], flip=THOROUGH.flip, jitter=THOROUGH.jitter)
        return face, vector

    def lookalike_many(
        self,
        photos: Sequence[Image.Image],
        top_k: int | None = None,
        fields: Sequence[Collection[str] | None] | None = None,
    ) -> list[PhotoResult]:
        """Faces, embeddings and top-k celebrities for each photo.

        Args:
            fields: per photo, the fields its answers are restricted to (None: all).

        The k celebrities are the gallery's most similar people, most similar first.
        """
        top_k = top_k or self.settings.top_k
        found = self.detect(photos)
        per_photo = self.embed(photos, found)
        model = self.classifier
        wanted = list(fields) if fields is not None else [None] * len(photos)
        results = []
        for photo, faces, every, only in zip(photos, per_photo, found, wanted, strict=True):
            predictions: list[tuple[Prediction, ...]] = [() for _ in faces]
            if model is not None and faces:
                vectors = np.stack([e for _, e in faces])
                predictions = model.predict(vectors, top_k, fields=only)
            results.append(
                PhotoResult(
                    size=photo.size,
                    faces=tuple(
                        FaceResult(face, p, e)
                        for (face, e), p in zip(faces, predictions, strict=True)
                    ),
                    model_available=model is not None,
                    total_faces=len(every),
                )
            )
        return results

    def lookalike_batch(
        self, requests: Sequence[LookalikeRequest]
    ) -> list[PhotoResult | LookalikeError]:
        """Several lookalike requests, (file bytes, top-k, render, fields), as one batch.

        Detection groups photos of the same size and every face of every photo
        goes through the embedder in one pass. A file that is not a usable photo
        gives its error in its place; the others are unaffected.
        """
        started = time.perf_counter()
        results: list[PhotoResult | LookalikeError | None] = []
        photos: list[Image.Image] = []
        wanted: list[Collection[str] | None] = []
        for data, _, _, fields in requests:
            try:
                photos.append(self.decode(data))
                wanted.append(fields)
                results.append(None)  # filled in below
            except LookalikeError as exc:
                results.append(exc)
        top_k = max((k or self.settings.top_k) for _, k, _, _ in requests)
        found = iter(self.lookalike_many(photos, top_k, wanted))
        pictures = iter(photos)
        for index, (_, k, draw, _) in enumerate(requests):
            if results[index] is not None:
                continue
            result, photo = next(found), next(pictures)
            if (k or self.settings.top_k) < top_k:
                faces = tuple(
                    dataclasses.replace(f, predictions=f.predictions[: k or self.settings.top_k])
                    for f in result.faces
                )
                result = dataclasses.replace(result, faces=faces)
            results[index] = self.render(photo, result) if draw else result
        return share_work(results, time.perf_counter() - started)

    def render(self, photo: Image.Image, result: PhotoResult) -> PhotoResult:
        """The result with its annotated photo and, when a model answered, the collage of
        each face beside its best celebrity's reference photo (or name card)."""
        annotated = render.to_jpeg(render.annotate(photo, [f.face for f in result.faces]))
        collage = None
        if self.classifier is not None and result.faces:
            rows = []
            for number, face in enumerate(result.faces, start=1):
                best = face.predictions[0] if face.predictions else None
                picture = self.reference(best.label if best else "?")
                caption = f"{number}. {best.name} {best.score}%" if best else str(number)
                rows.append((render.face_crop(photo, face.face), picture, caption))
            collage = render.to_jpeg(render.collage(rows))
        return dataclasses.replace(result, annotated=annotated, collage=collage)

    def known(self, name: str) -> Celebrity | None:
        """The current model's celebrity with this label or display name, if any."""
        model = self.classifier
        index = model.index_of(name) if model is not None else None
        return model.people[index] if model is not None and index is not None else None

    def celebrity(self, name: str) -> Celebrity:
        """The model's celebrity with this label or display name; one made from the name
        itself when the model has none (it was replaced, or there is no model)."""
        known = self.known(name)
        if known is not None:
            return known
        return Celebrity(name.replace(" ", "_"), name.replace("_", " "), field="")

    @property
    def reference_folders(self) -> tuple[Path | None, ...]:
        # A model trained with its own gallery of thumbnails comes first.
        model = self.classifier
        return (model.gallery if model is not None else None, self.settings.references)

    def reference(self, name: str) -> Image.Image:
        """The celebrity's reference photo (label or display name), else a drawn card."""
        known = self.celebrity(name)
        return references.picture(known.label, known.name, known.field, self.reference_folders)

    def reference_jpeg(self, name: str) -> bytes:
        """`reference` as JPEG bytes (the thumbnail's own file where there is one)."""
        known = self.celebrity(name)
        return references.reference_jpeg(
            known.label, known.name, known.field, self.reference_folders
        )

    def likeness(self, data: bytes, celebrity: str) -> Likeness:
        """The largest face in the photo ``data`` measured against ``celebrity``.

        Raises:
            engine.errors.ImageError: not a usable photo.
            NoFaceFound: no face in it.
            ModelUnavailable: no celebrity model, or none with that person (it was replaced).
        """
        model = self.classifier
        if model is None:
            raise ModelUnavailable()
        index = model.index_of(celebrity)
        if index is None:
            raise ModelUnavailable(f"The celebrity model has no {celebrity!r}.")
        photo = self.decode(data)
        faces = self.embed_faces([photo], QUICK)[0]
        if not faces:
            raise NoFaceFound()
        face, vector = max(faces, key=lambda found: found[0].area)
        similarity = model.similarity_to(vector, index)
        tile = render.to_jpeg(render.face_crop(photo, face))
        return Likeness(
            face,
            similarity,
            tile,
            model.score(similarity),
            percentile=model.percentile(similarity, index),
        )


def share_work(
    results: Sequence[PhotoResult | LookalikeError | None], seconds: float
) -> list[PhotoResult | LookalikeError]:
    """Each result with its share of a batch's ``seconds``, by its faces (a refused
    file counts as one face: it was decoded, or tried)."""
    weights = [1 + len(r.faces) if isinstance(r, PhotoResult) else 1 for r in results]
    total = sum(weights) or 1
    return [
        dataclasses.replace(r, work_s=seconds * w / total) if isinstance(r, PhotoResult) else r
        for r, w in zip(results, weights, strict=True)
    ]  # type: ignore[misc]  # every None was replaced by the caller
