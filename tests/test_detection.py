"""Detection on hand-labelled photos: every face found, nothing else, and the same boxes
as facenet-pytorch's own MTCNN loop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks.detection import evaluate, labelled_photos, two_people
from engine import mtcnn
from engine.pipeline import Pipeline
from tests.conftest import DATASETS

GROUPS = DATASETS / "groups"


def test_shipped_photos_give_every_face_and_nothing_else(pipeline: Pipeline) -> None:
    scores = evaluate(pipeline.detector.detect, DATASETS / "absent")  # the shipped photos only
    assert len(scores) >= 15
    for score in scores:
        assert score.matched == score.labelled, score
        assert score.false_positives == 0, score


def test_a_photo_of_two_people_gives_exactly_two_faces(pipeline: Pipeline) -> None:
    photo, _ = two_people()
    assert len(pipeline.detector.detect(photo)) == 2


def test_group_photos_recall(pipeline: Pipeline) -> None:
    if not (GROUPS / "group_1.jpg").exists():
        pytest.skip(f"needs the group photos at {GROUPS} (see ../shared/datasets/README.md)")
    scores = {s.photo: s for s in evaluate(pipeline.detector.detect, DATASETS)}
    crowd, sitting = scores["groups/group_1.jpg"], scores["groups/group_2.jpg"]
    assert crowd.recall >= 0.9, crowd
    assert crowd.false_positives <= 1, crowd
    assert sitting.matched == sitting.labelled == 5, sitting
    assert sitting.false_positives == 0, sitting


def test_batched_stages_give_facenet_pytorchs_boxes(pipeline: Pipeline) -> None:
    from facenet_pytorch.models.utils.detect_face import detect_face

    nets = pipeline.detector._networks()
    shipped = [p for name, p, boxes in labelled_photos(DATASETS / "absent") if boxes]
    assert len(shipped) == 4
    for photo in shipped:
        pixels = np.asarray(photo)
        for min_size in (20, 40):
            with torch.inference_mode():
                old_boxes, old_points = detect_face(
                    pixels[None].copy(), min_size, *nets, [0.6, 0.7, 0.7], 0.709, "cpu"
                )
            ((boxes, points),) = mtcnn.detect(nets, pixels[None], mtcnn.Stages(min_size))
            old_boxes = np.asarray(old_boxes[0], np.float64).reshape(-1, 5)
            old_points = np.asarray(old_points[0], np.float64).reshape(-1, 5, 2)
            order, old_order = np.argsort(boxes[:, 0]), np.argsort(old_boxes[:, 0])
            assert len(boxes) == len(old_boxes) >= 1
            assert np.abs(boxes[order, :4] - old_boxes[old_order, :4]).max() < 1.0
            assert np.abs(points[order] - old_points[old_order]).max() < 1.0


def test_a_batch_gives_each_photos_own_faces(pipeline: Pipeline) -> None:
    photo, _ = two_people()
    nets = pipeline.detector._networks()
    pixels = np.asarray(photo)
    blank = np.full_like(pixels, 128)
    alone, together, empty = mtcnn.detect(nets, np.stack([pixels, pixels[:, ::-1], blank]))
    ((single, _),) = mtcnn.detect(nets, pixels[None])
    assert len(alone[0]) == len(together[0]) == 2 and len(empty[0]) == 0
    assert np.abs(alone[0] - single).max() < 1e-3
