"""python -m engine PHOTO_OR_DIR...: faces, scores and lookalikes of photos, for an admin."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from tqdm import tqdm

from engine import images
from engine.celebrities import FIELDS
from engine.config import Settings
from engine.errors import LookalikeError
from engine.pipeline import PhotoResult, Pipeline
from engine.process import leave, reader_may_leave

BATCH = 16


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m engine",
        description="Find the faces in photos and the celebrities they look like.",
    )
    parser.add_argument(
        "paths",
        nargs="+",
        type=Path,
        metavar="PHOTO_OR_DIR",
        help="photos, or folders searched recursively for photos",
    )
    parser.add_argument("--top-k", type=int, default=None, help="celebrities per face")
    parser.add_argument(
        "--field",
        action="append",
        choices=FIELDS,
        dest="fields",
        help="only celebrities of this field (repeat for several)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per photo and line")
    parser.add_argument("--embeddings", action="store_true", help="include each face's embedding")
    parser.add_argument(
        "--out",
        type=Path,
        help="write the annotated photo here (a folder when there are several photos)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser.parse_args(argv)


def batches(files: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(files), size):
        yield files[start : start + size]


def process(
    pipeline: Pipeline, files: list[Path], top_k: int | None, fields: Sequence[str] | None = None
):
    """Yield (file, decoded photo or None, result or None, error or None) in file order."""
    for chunk in batches(files, BATCH):
        decoded: list[tuple[Path, object, LookalikeError | None]] = []
        for file in chunk:
            try:
                decoded.append((file, pipeline.decode(file.read_bytes()), None))
            except LookalikeError as exc:
                decoded.append((file, None, exc))
            except OSError as exc:
                decoded.append(
                    (file, None, LookalikeError(f"cannot read the file: {exc.strerror}"))
                )
        photos = [photo for _, photo, _ in decoded if photo is not None]
        wanted = [fields] * len(photos)
        results = iter(pipeline.lookalike_many(photos, top_k, wanted))  # type: ignore[arg-type]
        for file, photo, error in decoded:
            yield file, photo, (next(results) if photo is not None else None), error


def as_json(
    file: Path, result: PhotoResult | None, error: LookalikeError | None, embeddings: bool
) -> str:
    faces = []
    for face in result.faces if result else ():
        item: dict[str, object] = {
            "box": [round(v, 1) for v in face.face.box],
            "score": round(face.face.score, 4),
            "top_k": [
                {
                    "name": p.name,
                    "label": p.label,
                    "field": p.field,
                    "score": p.score,
                    "similarity": round(p.similarity, 4),
                }
                for p in face.predictions
            ],
        }
        if embeddings:
            item["embedding"] = [round(float(v), 6) for v in face.embedding]
        faces.append(item)
    err = {"code": error.code, "message": str(error)} if error else None
    return json.dumps({"file": str(file), "faces": faces, "error": err})


def as_text(
    file: Path, result: PhotoResult | None, error: LookalikeError | None, embeddings: bool
) -> str:
    if error is not None or result is None:
        return f"{file}: {error}"
    lines = [f"{file}: {len(result.faces)} face{'s' if len(result.faces) != 1 else ''}"]
    for number, face in enumerate(result.faces, start=1):
        box = ", ".join(f"{v:.0f}" for v in face.face.box)
        lines.append(f"  face {number}: box ({box}), score {face.face.score:.3f}")
        for rank, p in enumerate(face.predictions, start=1):
            lines.append(
                f"    {rank}. {p.name:<28} {p.score:3d}%  {p.field:<8}"
                f"  similarity {p.similarity:.3f}"
            )
        if embeddings:
            lines.append("    embedding: " + " ".join(f"{v:.4f}" for v in face.embedding))
    return "\n".join(lines)


def annotated_path(out: Path, file: Path, several: bool) -> Path:
    return out / f"{file.stem}.annotated.jpg" if several else out


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = Settings.from_env()
    files = list(images.photo_files(args.paths))
    if not files:
        print("No photos found.", file=sys.stderr)
        return 1
    pipeline = Pipeline(settings)
    pipeline.load()
    if pipeline.classifier is None:
        print(
            f"{pipeline.models.error} Showing faces and embeddings only; "
            "train a model with `python -m training`.",
            file=sys.stderr,
        )
    several = len(files) > 1
    if args.out and several:
        args.out.mkdir(parents=True, exist_ok=True)
    show = as_json if args.json else as_text
    failures = 0
    # None: tqdm draws only on a terminal, never carriage returns into a log (as training).
    quiet = args.quiet or not several
    progress = tqdm(
        total=len(files), unit="photo", disable=True if quiet else None, file=sys.stderr
    )
    with reader_may_leave(), progress:
        for file, photo, result, error in process(pipeline, files, args.top_k, args.fields):
            failures += error is not None
            progress.write(show(file, result, error, args.embeddings), file=sys.stdout)
            if args.out and result is not None:
                rendered = pipeline.render(photo, result)  # type: ignore[arg-type]
                annotated_path(args.out, file, several).write_bytes(rendered.annotated or b"")
            progress.update()
    return 0 if failures < len(files) else 2


if __name__ == "__main__":
    leave(main())
