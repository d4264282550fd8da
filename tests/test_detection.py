"""Detection on hand-labelled photos: every face found, nothing else, and the same boxes
as facenet-pytorch's own MTCNN loop."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from benchmarks.cut_faces import cut_off
from benchmarks.detection import evaluate, labelled_photos, two_people
from engine import mtcnn, mtcnn_nets, runtime
from engine.faces import FaceDetector
from engine.pipeline import Pipeline
from tests.conftest import DATASETS, ROOT

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
    """Its loop, with the same networks in torch; ours, as the detector runs them."""
    from facenet_pytorch.models.utils.detect_face import detect_face

    nets, torch_nets = pipeline.detector._networks(), mtcnn_nets.networks()
    shipped = [p for name, p, boxes in labelled_photos(DATASETS / "absent") if boxes]
    assert len(shipped) == 4
    for photo in shipped:
        pixels = np.asarray(photo)
        for min_size in (20, 40):
            with torch.inference_mode():
                old_boxes, old_points = detect_face(
                    pixels[None].copy(), min_size, *torch_nets, [0.6, 0.7, 0.7], 0.709, "cpu"
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


def test_photos_of_several_sizes_at_once_give_what_each_gives_alone(pipeline: Pipeline) -> None:
    """Their passes run at once, one per core (FaceDetector.detect_many)."""
    photo, _ = two_people()
    turned = photo.rotate(90, expand=True)
    photos = [photo, turned, photo.resize((300, 200)), photo, turned.crop((0, 0, 200, 260))]
    alone = [pipeline.detector.detect(p) for p in photos]
    together = pipeline.detector.detect_many(photos)
    assert [len(f) for f in together] == [len(f) for f in alone] and len(together[0]) == 2
    for mine, theirs in zip(together, alone, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert np.allclose(a.box, b.box, atol=1e-3), (a, b)


def test_pyramid_levels_on_threads_give_the_same_faces(pipeline: Pipeline) -> None:
    from concurrent.futures import ThreadPoolExecutor

    photo, _ = two_people()
    nets, pixels = pipeline.detector._networks(), np.asarray(photo)[None]
    ((boxes, points),) = mtcnn.detect(nets, pixels)
    with ThreadPoolExecutor(2) as levels:
        ((threaded, threaded_points),) = mtcnn.detect(nets, pixels, levels=levels)
    assert len(boxes) == 2
    np.testing.assert_array_equal(threaded, boxes)
    np.testing.assert_array_equal(threaded_points, points)


def test_the_networks_are_facenet_pytorchs_with_its_weights() -> None:
    from facenet_pytorch.models.mtcnn import ONet, PNet, RNet

    torch.manual_seed(0)
    ours = mtcnn_nets.networks()
    for net, theirs, size in zip(ours, (PNet(), RNet(), ONet()), (37, 24, 48), strict=True):
        x = torch.randn(3, 3, size, size)
        fast = net.to(memory_format=torch.channels_last)  # as the detector runs them
        with torch.inference_mode():
            outputs = fast(x.to(memory_format=torch.channels_last)), theirs.eval()(x)
            for a, b in zip(*outputs, strict=True):
                assert a.shape == b.shape
                assert torch.allclose(a, b, atol=1e-6)


@pytest.mark.parametrize("count", [0, 1, 300, 3000])  # 3000 boxes: torchvision's other path
def test_batched_nms_keeps_what_torchvisions_keeps(count: int) -> None:
    from torchvision.ops import batched_nms

    random = np.random.default_rng(count)
    corners = random.random((count, 2), np.float32) * 200
    sides = 5 + random.random((count, 2), np.float32) * 40
    boxes = np.concatenate([corners, corners + sides], axis=1)
    scores, groups = random.random(count, np.float32), random.integers(0, 4, count)
    for limit in (0.5, 0.7):
        expected = batched_nms(*map(torch.from_numpy, (boxes, scores, groups)), limit).numpy()
        kept = mtcnn.batched_nms(boxes, scores, groups, limit)
        # The same boxes, best first; torchvision's loop over groups (its path for many
        # boxes) sorts without keeping the order of equal scores, so only the set is its.
        assert sorted(kept) == sorted(expected)
        assert np.all(np.diff(scores[kept]) <= 0)


def test_detecting_and_embedding_import_no_torch() -> None:
    """torch's import alone took 1.3-2.1 s of every start (benchmarks/README.md); on the
    CPU the networks run in ONNX Runtime, exported once (engine/runtime.py)."""
    runtime.onnx_files()  # as the set-up leaves them
    code = (
        "import sys; from PIL import Image; from skimage import data;"
        "from engine.config import Settings; from engine.pipeline import Pipeline;"
        "p = Pipeline(Settings.from_env());"
        "(f,), = p.embed_faces([Image.fromarray(data.astronaut())]);"
        "print(sorted(m for m in ('torch', 'torchvision', 'facenet_pytorch')"
        " if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def test_the_face_recognition_recipe_does_not_import_torch() -> None:
    """It is timed against the engine, which pays torch's import; the recipe must not."""
    code = "import sys, benchmarks.face_recognition_recipe;print('torch' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_the_face_recognition_recipe_finds_and_describes_the_astronaut(tmp_path) -> None:
    """benchmarks/versus_face_recognition.py's other command gives what it claims."""
    from benchmarks.common import astronaut

    astronaut().save(tmp_path / "astronaut.jpg")
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.face_recognition_recipe", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()
    faces = json.loads(line)["faces"]
    assert faces and all(len(f["embedding"]) == 128 for f in faces), line[:300]
    assert any(abs(f["box"][0] - 181) < 20 and abs(f["box"][1] - 62) < 30 for f in faces)


# Crops of the shipped photos where MTCNN's usual stages find no face: the frame cuts it.
CUTS = [
    ("hopper", "right", 0.4),
    ("hopper", "right", 0.45),
    ("hopper", "top", 0.3),
    ("hopper", "bottom", 0.5),
    ("astronaut", "right", 0.35),
    ("astronaut", "right", 0.4),
]


@pytest.mark.parametrize(("name", "side", "fraction"), CUTS)
def test_a_face_the_frame_cuts_is_found(
    pipeline: Pipeline, request: pytest.FixtureRequest, name: str, side: str, fraction: float
) -> None:
    photo = request.getfixturevalue(name)
    usual = FaceDetector(cut_threshold=None)
    (face,) = usual.detect(photo)
    cropped, visible = cut_off(photo, face.box, fraction, side)
    assert usual.detect(cropped) == []
    (found,) = pipeline.detector.detect(cropped)
    x, y = found.center
    assert visible[0] <= x <= visible[2] and visible[1] <= y <= visible[3], (found, visible)


def test_the_second_look_leaves_every_usual_face_as_it_was(pipeline: Pipeline) -> None:
    usual = FaceDetector(cut_threshold=None)
    photos = [photo for _, photo, boxes in labelled_photos(DATASETS) if boxes]
    assert len(photos) >= 4
    for photo in photos:
        before, after = usual.detect(photo), pipeline.detector.detect(photo)
        assert len(after) >= len(before) >= 1
        for face in before:
            assert any(np.allclose(face.box, f.box, atol=1e-3) for f in after), face


def test_a_crowd_too_small_for_the_scaled_photo_is_found_in_a_second_pass(
    pipeline: Pipeline, astronaut: Image.Image
) -> None:
    """24 faces of about 30 px in a 1920x1080 photo: at 640 px they are 10 px, too small
    to find; the photo is detected again at twice the size."""
    face = astronaut.crop((150, 30, 300, 180)).resize((40, 40))
    photo = Image.new("RGB", (1920, 1080), (120, 120, 120))
    corners = [(100 + (i % 8) * 200, 200 + (i // 8) * 250) for i in range(24)]
    for corner in corners:
        photo.paste(face, corner)
    assert pipeline.detector.detect(photo.resize((640, 360), Image.Resampling.BILINEAR)) == []
    assert FaceDetector(again=False).detect(photo) == []
    found = pipeline.detector.detect(photo)
    assert len(found) == 24
    for x, y in corners:
        assert any(x <= f.center[0] <= x + 40 and y <= f.center[1] <= y + 40 for f in found)
