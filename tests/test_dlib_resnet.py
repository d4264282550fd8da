"""engine.dlib_resnet: the PyTorch port gives dlib's own descriptors on real face chips."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
import torch
from PIL import Image

from engine.dlib_resnet import DlibResNet, load_dlib_resnet
from engine.embedders import chips_to_array
from engine.packages import package_file
from tests.conftest import ASTRONAUT_BOX, HOPPER_BOX

# Max abs difference per component (descriptors have length ~1.5): what the README claims.
# Measured: 3.0e-7 on these chips (3.9e-7 unfolded), 5.1e-7 at most over 48 LFW faces.
TOLERANCE = 1e-6


def model_file(name: str) -> Path:
    return package_file("face_recognition_models", "models", name)


NETWORK = model_file("dlib_face_recognition_resnet_model_v1.dat")


@pytest.fixture(scope="module")
def dlib_net() -> dlib.face_recognition_model_v1:
    return dlib.face_recognition_model_v1(str(NETWORK))


@pytest.fixture(scope="module")
def torch_net() -> DlibResNet:
    return load_dlib_resnet(NETWORK)


@pytest.fixture(scope="module")
def chips(astronaut: Image.Image, hopper: Image.Image) -> list[np.ndarray]:
    """Aligned 150x150 chips, as dlib's own recipe cuts them: the astronaut, Grace
    Hopper, and each mirrored."""
    predictor = dlib.shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat")))
    out = []
    for photo, box in ((astronaut, ASTRONAUT_BOX), (hopper, HOPPER_BOX)):
        image = np.asarray(photo)
        shape = predictor(image, dlib.rectangle(*box))
        chip = dlib.get_face_chip(image, shape, size=150, padding=0.25)
        out += [chip, np.ascontiguousarray(chip[:, ::-1])]
    return out


def dlib_descriptors(net: dlib.face_recognition_model_v1, chips: list[np.ndarray]) -> np.ndarray:
    return np.array([np.array(v) for v in net.compute_face_descriptor(chips)], np.float32)


def torch_descriptors(net: DlibResNet, chips: list[np.ndarray]) -> np.ndarray:
    with torch.inference_mode():
        return net(torch.from_numpy(chips_to_array(chips))).numpy()


def test_a_batch_matches_dlib(
    dlib_net: dlib.face_recognition_model_v1, torch_net: DlibResNet, chips: list[np.ndarray]
) -> None:
    expected = dlib_descriptors(dlib_net, chips)
    found = torch_descriptors(torch_net, chips)
    assert found.shape == (4, 128) and found.dtype == np.float32
    assert float(np.abs(found - expected).max()) < TOLERANCE
    # Raw descriptors, not unit vectors: the port must not normalise either.
    assert np.all(np.abs(np.linalg.norm(found, axis=1) - 1.45) < 0.2)


def test_the_chips_are_distinct_faces(torch_net: DlibResNet, chips: list[np.ndarray]) -> None:
    # Guards the test above against passing on degenerate input (all chips alike).
    found = torch_descriptors(torch_net, chips)
    astronaut, hopper = found[0], found[2]
    assert np.linalg.norm(astronaut - hopper) > 0.6  # dlib's same-person threshold
    assert np.linalg.norm(astronaut - found[1]) < 0.6  # mirrored, still the same person


def test_each_chip_alone_matches_its_row_in_a_batch(
    torch_net: DlibResNet, chips: list[np.ndarray]
) -> None:
    batch = torch_descriptors(torch_net, chips)
    for index, chip in enumerate(chips):
        alone = torch_descriptors(torch_net, [chip])[0]
        assert float(np.abs(alone - batch[index]).max()) < 1e-5


def test_unfolded_affine_layers_match_dlib_too(
    dlib_net: dlib.face_recognition_model_v1, chips: list[np.ndarray]
) -> None:
    unfolded = load_dlib_resnet(NETWORK, fold_affine=False)
    expected = dlib_descriptors(dlib_net, chips)
    assert float(np.abs(torch_descriptors(unfolded, chips) - expected).max()) < TOLERANCE


def test_loaded_for_inference_on_the_cpu(torch_net: DlibResNet) -> None:
    assert not torch_net.training
    assert {p.device.type for p in torch_net.parameters()} == {"cpu"}


def test_other_input_shapes_are_refused(torch_net: DlibResNet) -> None:
    with pytest.raises(ValueError, match="150"):
        torch_net(torch.zeros(1, 3, 160, 160))
    with pytest.raises(ValueError):
        torch_net(torch.zeros(3, 150, 150))


@pytest.mark.parametrize(
    "name", ["shape_predictor_5_face_landmarks.dat", "mmod_human_face_detector.dat"]
)
def test_other_dlib_files_raise_value_error(name: str) -> None:
    with pytest.raises(ValueError, match=name):
        load_dlib_resnet(model_file(name))


def test_damaged_files_raise_value_error(tmp_path: Path) -> None:
    data = NETWORK.read_bytes()
    cases = {
        "empty.dat": b"",
        "truncated.dat": data[: len(data) // 2],
        "extended.dat": data + b"\x00",
        "text.dat": b"not a network at all\n" * 10,
    }
    for name, content in cases.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(ValueError, match=name):
            load_dlib_resnet(path)


def test_a_network_shaped_differently_raises_value_error(tmp_path: Path) -> None:
    # The same file with its max pooling 2x2 instead of 3x3: readable, but another network.
    data = NETWORK.read_bytes()
    pooling = b"max_pool_2\x01\x03\x01\x03"
    assert data.count(pooling) == 1
    path = tmp_path / "other.dat"
    path.write_bytes(data.replace(pooling, b"max_pool_2\x01\x02\x01\x02"))
    with pytest.raises(ValueError, match=r"other\.dat .*max_pool"):
        load_dlib_resnet(path)
