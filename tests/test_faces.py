"""engine.faces on real photos: boxes in the right place, scaling, rotation, several faces."""

from __future__ import annotations

from PIL import Image

from engine import images
from engine.pipeline import Pipeline
from tests.conftest import ASTRONAUT_BOX, HOPPER_BOX, box_close, encode


def test_astronaut_and_hopper_are_found_where_they_are(
    pipeline: Pipeline, astronaut: Image.Image, hopper: Image.Image
) -> None:
    for photo, expected in ((astronaut, ASTRONAUT_BOX), (hopper, HOPPER_BOX)):
        faces = pipeline.detector.detect(photo)
        assert len(faces) == 1
        face = faces[0]
        assert face.score > 0.99
        assert box_close(face.box, expected, tolerance=0.1 * face.width)
        left_eye, right_eye, nose, mouth_left, mouth_right = face.landmarks
        assert left_eye[0] < nose[0] < right_eye[0]
        assert max(left_eye[1], right_eye[1]) < nose[1] < min(mouth_left[1], mouth_right[1])


def test_large_photo_is_scaled_down_and_boxes_map_back(
    pipeline: Pipeline, hopper: Image.Image
) -> None:
    big = hopper.resize((hopper.width * 4, hopper.height * 4))  # 2048x2400, scaled to 640 inside
    assert max(big.size) > pipeline.detector.max_side
    (face,) = pipeline.detector.detect(big)
    expected = tuple(4 * v for v in HOPPER_BOX)
    assert box_close(face.box, expected, tolerance=0.1 * face.width)


def test_exif_rotated_copies_are_detected(pipeline: Pipeline, hopper: Image.Image) -> None:
    for orientation, stored in (
        (6, hopper.transpose(Image.Transpose.ROTATE_90)),
        (8, hopper.transpose(Image.Transpose.ROTATE_270)),
        (3, hopper.transpose(Image.Transpose.ROTATE_180)),
    ):
        exif = Image.Exif()
        exif[0x0112] = orientation
        data = encode(stored, "JPEG", quality=92, exif=exif.tobytes())
        photo = images.decode(data, max_bytes=10**7, max_pixels=10**7)
        assert photo.size == hopper.size
        (face,) = pipeline.detector.detect(photo)
        assert box_close(face.box, HOPPER_BOX, tolerance=0.1 * face.width)


def test_several_faces_are_counted_and_sorted_by_size(
    pipeline: Pipeline, group_photo: Image.Image
) -> None:
    faces = pipeline.detector.detect(group_photo)
    assert len(faces) == 3
    areas = [f.area for f in faces]
    assert areas == sorted(areas, reverse=True)
    assert faces[0].center[0] > 520  # Grace Hopper, drawn largest, in the middle


def test_photo_without_a_face(pipeline: Pipeline, no_face: Image.Image) -> None:
    assert pipeline.detector.detect(no_face) == []


def test_tiny_and_strip_photos_have_no_face(pipeline: Pipeline) -> None:
    assert pipeline.detector.detect(Image.new("RGB", (1, 1))) == []
    assert pipeline.detector.detect(Image.new("RGB", (20000, 10))) == []


def test_minimum_face_size_and_score_are_settings(
    pipeline: Pipeline, astronaut: Image.Image
) -> None:
    from engine.faces import FaceDetector

    strict = FaceDetector(min_face_size=200)
    assert strict.detect(astronaut) == []  # its face is about 90 px wide
    unsure = FaceDetector(min_score=0.9999999)
    assert unsure.detect(astronaut) == []
