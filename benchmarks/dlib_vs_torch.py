"""Time dlib's face descriptor against its PyTorch port, per face, and check they agree.

Run from the repository root:

    .venv/bin/python benchmarks/dlib_vs_torch.py [--ablation]

It prints the median time per face of dlib's compute_face_descriptor (one chip, a
list of 8) and of engine.dlib_resnet (batches of 1, 8 and 32, torch at 1 and 2
threads), then the largest difference between the two descriptors on real face
chips: the astronaut, Grace Hopper and, when ../shared/datasets/lfw exists, a few
dozen LFW photos. ``--ablation`` also times each speed-up on its own.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import multiprocessing
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dlib  # noqa: E402
import matplotlib.cbook  # noqa: E402
import numpy as np  # noqa: E402
import skimage.data  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from engine.dlib_resnet import DlibResNet, load_dlib_resnet  # noqa: E402
from engine.embedders import chips_to_array  # noqa: E402
from engine.packages import package_file  # noqa: E402

LFW = ROOT.parent / "shared" / "datasets" / "lfw" / "images"
# Where the faces are, roughly, as (x1, y1, x2, y2).
ASTRONAUT_BOX = (181, 62, 268, 172)
HOPPER_BOX = (164, 106, 348, 344)
LFW_BOX = (70, 70, 180, 180)


def model_file(name: str) -> Path:
    return package_file("face_recognition_models", "models", name)


def cut_chip(predictor: dlib.shape_predictor, image: np.ndarray, box: Sequence[int]) -> np.ndarray:
    shape = predictor(image, dlib.rectangle(*box))
    return dlib.get_face_chip(image, shape, size=150, padding=0.25)


def sample_chips(predictor: dlib.shape_predictor) -> list[np.ndarray]:
    astronaut = skimage.data.astronaut()
    with Image.open(matplotlib.cbook.get_sample_data("grace_hopper.jpg")) as photo:
        hopper = np.asarray(photo.convert("RGB"))
    chips = [cut_chip(predictor, astronaut, ASTRONAUT_BOX), cut_chip(predictor, hopper, HOPPER_BOX)]
    return chips + [np.ascontiguousarray(c[:, ::-1]) for c in chips]


def lfw_chips(predictor: dlib.shape_predictor, count: int) -> list[np.ndarray]:
    """The first photo of ``count`` people spread evenly through LFW's sorted names."""
    people = sorted(p for p in LFW.iterdir() if p.is_dir())
    step = max(1, len(people) // count)
    chips = []
    for person in people[::step][:count]:
        photo = min(person.glob("*.jpg"))
        with Image.open(photo) as image:
            chips.append(cut_chip(predictor, np.asarray(image.convert("RGB")), LFW_BOX))
    return chips


def median_ms_per_face(run: Callable[[], object], faces: int, min_calls: int) -> float:
    """Median wall time of one call, per face, after one warm-up call; at least
    ``min_calls`` calls and, for fast calls, as many as fit in about two seconds."""
    run()
    times: list[float] = []
    started = time.perf_counter()
    while len(times) < min_calls or (time.perf_counter() - started < 2.0 and len(times) < 50):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times) / faces


def dlib_descriptors(net: dlib.face_recognition_model_v1, chips: list[np.ndarray]) -> np.ndarray:
    return np.array([np.array(v) for v in net.compute_face_descriptor(chips)], np.float32)


def torch_descriptors(net: DlibResNet, chips: list[np.ndarray], batch: int = 32) -> np.ndarray:
    with torch.inference_mode():
        parts = [
            net(torch.from_numpy(chips_to_array(chips[i : i + batch])))
            for i in range(0, len(chips), batch)
        ]
    return torch.cat(parts).numpy()


def batch_of(chips: list[np.ndarray], size: int) -> list[np.ndarray]:
    return [chips[i % len(chips)] for i in range(size)]


def time_dlib(net: dlib.face_recognition_model_v1, chips: list[np.ndarray], calls: int) -> None:
    one = median_ms_per_face(lambda: net.compute_face_descriptor(chips[0]), 1, calls)
    eight = batch_of(chips, 8)
    many = median_ms_per_face(lambda: net.compute_face_descriptor(eight), 8, calls)
    # dlib picks its own threads (dlib-bin's CPU build runs on one core).
    print(f"{'dlib compute_face_descriptor':<34}{'own':>8}{1:>7}{one:>10.2f}")
    print(f"{'dlib compute_face_descriptor':<34}{'own':>8}{8:>7}{many:>10.2f}")


def time_torch(net: DlibResNet, chips: list[np.ndarray], calls: int) -> None:
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for size in (1, 8, 32):
            x = torch.from_numpy(chips_to_array(batch_of(chips, size)))

            def run(x: torch.Tensor = x) -> object:
                with torch.inference_mode():
                    return net(x)

            ms = median_ms_per_face(run, size, calls)
            print(f"{'torch port':<34}{threads:>8}{size:>7}{ms:>10.2f}")


def _dlib_worker(chips: list[np.ndarray], repeat: int) -> int:
    net = dlib.face_recognition_model_v1(
        str(model_file("dlib_face_recognition_resnet_model_v1.dat"))
    )
    for _ in range(repeat):
        net.compute_face_descriptor(chips)
    return repeat * len(chips)


def time_dlib_processes(chips: list[np.ndarray], processes: int, repeat: int = 4) -> None:
    """dlib's own descriptor in one process per core: the other way to use every core."""
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
        list(pool.map(_dlib_worker, [chips] * processes, [1] * processes))  # load the models
        start = time.perf_counter()
        faces = sum(pool.map(_dlib_worker, [chips] * processes, [repeat] * processes))
        seconds = time.perf_counter() - start
    print(
        f"{f'dlib, {processes} processes':<34}{'own':>8}{len(chips):>7}"
        f"{seconds / faces * 1000:>10.2f}"
    )


def ablation(path: Path, chips: list[np.ndarray], calls: int) -> None:
    """Each speed-up added in turn. The variants take turns call by call, so that a
    neighbour's load on the machine falls on all of them alike."""

    def variant(*, fold: bool, channels_last: bool) -> DlibResNet:
        net = load_dlib_resnet(path, fold_affine=fold)
        if not channels_last:
            net = net.to(memory_format=torch.contiguous_format)
            net.channels_last = False
        return net

    plain = variant(fold=False, channels_last=False).requires_grad_(True)
    variants = {
        "grad,unfolded,NCHW": (plain, False),
        "+inference_mode": (plain, True),
        "+folded affine": (variant(fold=True, channels_last=False), True),
        "+channels_last": (variant(fold=True, channels_last=True), True),
    }
    print("\nablation: ms/face, each speed-up added in turn (the last is the default)")
    print(f"{'threads':>8}{'batch':>7}" + "".join(f"{name:>19}" for name in variants))
    for threads in (1, 2):
        torch.set_num_threads(threads)
        for size in (1, 8, 32):
            x = torch.from_numpy(chips_to_array(batch_of(chips, size)))
            times: dict[str, list[float]] = {name: [] for name in variants}
            for turn in range(calls + 1):
                for name, (net, inference) in variants.items():
                    with torch.inference_mode(inference):
                        start = time.perf_counter()
                        net(x)
                        if turn:  # the first turn warms up
                            times[name].append(time.perf_counter() - start)
            cells = "".join(f"{1000 * statistics.median(t) / size:>19.2f}" for t in times.values())
            print(f"{threads:>8}{size:>7}{cells}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=7, help="timed calls per row, at least")
    parser.add_argument("--lfw", type=int, default=48, help="LFW photos to compare on")
    parser.add_argument("--ablation", action="store_true", help="also time each speed-up alone")
    args = parser.parse_args()

    path = model_file("dlib_face_recognition_resnet_model_v1.dat")
    predictor = dlib.shape_predictor(str(model_file("shape_predictor_5_face_landmarks.dat")))
    dlib_net = dlib.face_recognition_model_v1(str(path))
    torch_net = load_dlib_resnet(path)
    chips = sample_chips(predictor)

    print(f"torch {torch.__version__}, dlib {dlib.__version__}, {os.cpu_count()} cores")
    print(f"{'engine':<34}{'threads':>8}{'batch':>7}{'ms/face':>10}")
    time_dlib(dlib_net, chips, args.calls)
    time_dlib_processes(chips * 2, os.cpu_count() or 1)
    time_torch(torch_net, chips, args.calls)
    if args.ablation:
        ablation(path, chips, args.calls)

    torch.set_num_threads(2)
    checks = {"astronaut and Grace Hopper (+ mirrored)": chips}
    if LFW.is_dir():
        checks[f"{args.lfw} LFW photos"] = lfw_chips(predictor, args.lfw)
    else:
        print(f"(no LFW at {LFW}: skipping that comparison)")
    for name, sample in checks.items():
        diff = np.abs(torch_descriptors(torch_net, sample) - dlib_descriptors(dlib_net, sample))
        print(f"max abs difference, {name}: {diff.max():.2e} (mean {diff.mean():.1e})")


if __name__ == "__main__":
    main()
