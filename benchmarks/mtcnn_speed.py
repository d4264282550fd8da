"""MTCNN's detection time: facenet-pytorch's loop against engine.mtcnn, and pyramid sizes.

facenet-pytorch's loop runs the networks in torch; engine.mtcnn runs them as the
detector does (ONNX Runtime on the CPU, engine/runtime.py).

Run: .venv/bin/python -m benchmarks.mtcnn_speed [--pairs 20]

CPU time of the process on one thread (on shared cores, wall time measures the
neighbours), the two alternating in one process, per photo: the 1280x960 photo
of benchmarks/latency.py as the detector sees it (640x480), and group_1.jpg
where ../shared/datasets is. Prints the medians and the median of the per-pair
ratios.
"""

from __future__ import annotations

import argparse
import io
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from PIL import Image

from benchmarks.common import photo_1280x960
from benchmarks.detection import DATASETS
from engine import mtcnn, mtcnn_nets, runtime
from engine.faces import FaceDetector


def cpu_ms(function: Callable[[], object]) -> float:
    start = time.process_time()
    function()
    return (time.process_time() - start) * 1000


def paired(a: Callable[[], object], b: Callable[[], object], pairs: int) -> tuple[float, ...]:
    """(median ms of a, of b, median of a / b per pair), after two calls of each."""
    for function in (a, b, a, b):
        function()
    times = [(cpu_ms(a), cpu_ms(b)) for _ in range(pairs)]
    return (
        statistics.median(t[0] for t in times),
        statistics.median(t[1] for t in times),
        statistics.median(t[0] / t[1] for t in times),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    args = parser.parse_args()
    from facenet_pytorch.models.utils.detect_face import detect_face

    runtime.configure_threads(1)  # torch's and ONNX Runtime's
    torch_nets, nets = mtcnn_nets.networks(), FaceDetector()._networks()
    with Image.open(io.BytesIO(photo_1280x960())) as photo:
        photos = {"640x480, one face": np.asarray(photo.convert("RGB").resize((640, 480)))}
    crowd = DATASETS / "groups" / "group_1.jpg"
    if crowd.exists():
        with Image.open(crowd) as photo:
            photos["group_1, 27 faces"] = np.asarray(photo.convert("RGB"))

    def old(pixels: np.ndarray) -> None:
        with torch.inference_mode():
            detect_face(pixels[None].copy(), 20, *torch_nets, [0.6, 0.7, 0.7], 0.709, "cpu")

    print(f"CPU ms on one thread, {args.pairs} pairs; medians and the median ratio")
    for name, pixels in photos.items():
        a, b, ratio = paired(
            lambda p=pixels: old(p), lambda p=pixels: mtcnn.detect(nets, p[None]), args.pairs
        )
        print(f"  {name:<18} facenet-pytorch {a:6.1f}  engine.mtcnn {b:6.1f}  old/new {ratio:.2f}x")
        a, b, ratio = paired(
            lambda p=pixels: mtcnn.detect(nets, p[None], mtcnn.Stages(12)),
            lambda p=pixels: mtcnn.detect(nets, p[None], mtcnn.Stages(20)),
            args.pairs,
        )
        print(f"  {name:<18} pyramid from 12 px {a:6.1f}  from 20 px {b:6.1f}  {ratio:.2f}x")


if __name__ == "__main__":
    main()
