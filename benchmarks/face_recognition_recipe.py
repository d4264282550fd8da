"""The plain face_recognition recipe over a folder, for comparison with python -m engine.

Run: .venv/bin/python -m benchmarks.face_recognition_recipe PHOTO_OR_DIR...

What ``face_recognition.face_locations`` and ``face_encodings`` do with their
defaults (face_recognition 1.3.0, api.py), written against dlib directly because
face_recognition's import of face_recognition_models needs pkg_resources, which
current setuptools no longer ships: dlib's HOG detector with one upsampling, the
5-point shape predictor, and the ResNet descriptor with one jitter. One JSON line a
photo: the face boxes and their 128-d descriptors.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import dlib
import numpy as np
from PIL import Image

from engine.images import photo_files
from engine.packages import package_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="+", type=Path, metavar="PHOTO_OR_DIR")
    args = parser.parse_args()
    models = ("face_recognition_models", "models")
    detector = dlib.get_frontal_face_detector()
    shapes = dlib.shape_predictor(
        str(package_file(*models, "shape_predictor_5_face_landmarks.dat"))
    )
    encoder = dlib.face_recognition_model_v1(
        str(package_file(*models, "dlib_face_recognition_resnet_model_v1.dat"))
    )
    for path in photo_files(args.paths):
        pixels = np.array(Image.open(path).convert("RGB"))  # face_recognition.load_image_file
        boxes = detector(pixels, 1)
        faces = [
            {
                "box": [r.left(), r.top(), r.right(), r.bottom()],
                "embedding": np.array(encoder.compute_face_descriptor(pixels, shapes(pixels, r), 1))
                .round(5)
                .tolist(),
            }
            for r in boxes
        ]
        print(json.dumps({"path": str(path), "faces": faces}), flush=True)


if __name__ == "__main__":
    main()
