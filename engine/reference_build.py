"""python -m engine.reference_build: a reference thumbnail per person, from the data at hand.

Sources, in order, the first that has a person giving their thumbnail: the folder
``LOOKALIKE_REFERENCE_DATA`` names, ``../shared/datasets`` beside the repository,
datasets that training downloaded into ``run/downloads``, and, only when none of
those has anyone, the archive at ``LOOKALIKE_REFERENCE_URL``; ``--data`` names other
folders instead. With nothing reachable it writes an empty index and exits 0: the
pictures then show drawn cards.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import logging
import os
import sys
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np
import requests
from PIL import Image

from engine.config import Settings
from engine.references import FOLDER, SIDE, file_name

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "datasets"
DOWNLOADS = Path("run/downloads")
INDEX = "index.json"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
CANDIDATES = 8  # photos per person compared to choose the most typical
LFW_SIDE = 250
# LFW deep-funneled photos are 250 px with the face centred, about 110 px wide and a
# little above the middle: this box keeps the hair and chin.
LFW_BOX = (45, 35, 205, 195)

Loader = Callable[[], bytes]


@dataclasses.dataclass(frozen=True)
class Built:
    """What a build wrote: ``people`` thumbnails, from ``sources``, in ``seconds``."""

    people: int
    sources: tuple[str, ...]
    seconds: float


# --- finding people ---------------------------------------------------------------


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _is_dataset(folder: Path) -> bool:
    """Whether the folder holds one sub-folder of face crops per person.

    Crops made by one aligner share one square size (LFW's 250 px, Pins' 160);
    raw photos need a detector to crop, so their datasets are left to training. A
    sample of the first people's first photos decides.
    """
    sample = []
    for sub in sorted(p for p in folder.iterdir() if p.is_dir())[:5]:
        sample += _images(sub)[:3]
    sizes = set()
    for path in sample:
        try:
            with Image.open(path) as photo:
                sizes.add(photo.size)
        except OSError:
            return False
    return len(sizes) == 1 and len({*next(iter(sizes))}) == 1


def datasets(root: Path, depth: int = 3) -> list[Path]:
    """The folders of person folders under ``root`` (itself included), tight crops first."""
    if not root.is_dir():
        return []
    if _is_dataset(root):
        return [root]
    if depth == 0:
        return []
    found = [d for sub in sorted(root.iterdir()) if sub.is_dir() for d in datasets(sub, depth - 1)]
    # Crops that fill the frame (Pins) are recent photos at full size; LFW's are older.
    return sorted(found, key=lambda d: _first_size(d) == (LFW_SIDE, LFW_SIDE))


def _first_size(dataset: Path) -> tuple[int, int] | None:
    for sub in sorted(p for p in dataset.iterdir() if p.is_dir()):
        for path in _images(sub)[:1]:
            with Image.open(path) as photo:
                return photo.size
    return None


def people_in_folder(dataset: Path) -> Iterator[tuple[str, list[Loader]]]:
    for sub in sorted(p for p in dataset.iterdir() if p.is_dir()):
        photos = _images(sub)
        if photos:
            yield sub.name, [p.read_bytes for p in photos]


def people_in_zip(archive: zipfile.ZipFile) -> Iterator[tuple[str, list[Loader]]]:
    """Person folders inside a zip: members PERSON/PHOTO, at any depth."""
    groups: dict[str, list[str]] = {}
    for name in sorted(archive.namelist()):
        parts = name.split("/")
        if len(parts) >= 2 and parts[-1].lower().endswith(IMAGE_SUFFIXES):
            groups.setdefault(parts[-2], []).append(name)
    for label, members in groups.items():
        yield label, [lambda m=m: archive.read(m) for m in members]


# --- one thumbnail ----------------------------------------------------------------


def crop(photo: Image.Image) -> Image.Image | None:
    """The face part of a dataset photo, or None for a photo that is not a face crop."""
    if photo.size == (LFW_SIDE, LFW_SIDE):
        return photo.crop(LFW_BOX)
    if photo.width == photo.height:
        return photo
    return None


def _open(load: Loader, small: bool) -> Image.Image | None:
    try:
        photo = Image.open(io.BytesIO(load()))
        if small:
            photo.draft("L", (64, 64))  # JPEGs decode at 1/4 or 1/8: the choice needs no more
        return crop(photo.convert("L" if small else "RGB"))
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        log.debug("skipped a photo: %s", exc)
        return None


def _black_corner(face: Image.Image) -> bool:
    """Whether the crop has LFW's black border: along one of its edges, from a corner,
    a sixth of the side or more is flat black, where the photo it was cut from ended."""
    pixels = np.asarray(face.convert("L"), dtype=np.float32)
    run = max(2, pixels.shape[0] // 6)
    for edge in (
        pixels[:2].mean(0),
        pixels[-2:].mean(0),
        pixels[:, :2].mean(1),
        pixels[:, -2:].mean(1),
    ):
        black = edge < 6
        if black[:run].all() or black[-run:].all():
            return True
    return False


def _without_black_corners(face: Image.Image) -> Image.Image | None:
    """The crop, zoomed in about its centre by at most a quarter until no corner is
    flat black; None where even that leaves one."""
    for keep in (1.0, 0.9, 0.8, 0.75):
        margin = round(face.width * (1 - keep) / 2)
        zoomed = face.crop((margin, margin, face.width - margin, face.height - margin))
        if not _black_corner(zoomed):
            return zoomed
    return None


def choose(photos: Sequence[Loader]) -> Image.Image | None:
    """The most typical of a person's first photos: the nearest, in small greyscale
    pixels, to their mean. Cheap, and it passes over profiles, odd light and a
    second face better than taking the first photo. A crop with a flat black corner
    (LFW's border) is zoomed in, or passed over for the next most typical, or kept
    where every candidate has one."""
    candidates = []
    for load in photos[:CANDIDATES]:
        small = _open(load, small=True)
        if small is not None:
            pixels = np.asarray(small.resize((24, 24)), dtype=np.float32).ravel()
            pixels -= pixels.mean()
            candidates.append((load, pixels / (np.linalg.norm(pixels) + 1e-6)))
    if not candidates:
        return None
    vectors = np.stack([v for _, v in candidates])
    first = None
    for best in np.argsort(-(vectors @ vectors.mean(axis=0)), kind="stable"):
        face = _open(candidates[best][0], small=False)
        if face is None:
            continue
        if first is None:
            first = face
        clean = _without_black_corners(face)
        if clean is not None:
            return clean.resize((SIDE, SIDE), Image.Resampling.LANCZOS)
    return None if first is None else first.resize((SIDE, SIDE), Image.Resampling.LANCZOS)


def _save(tile: Image.Image, path: Path) -> None:
    partial = path.with_name(path.name + ".tmp")
    tile.save(partial, "JPEG", quality=90)
    os.replace(partial, path)  # a running bot never reads half a file


# --- the build --------------------------------------------------------------------


def build(sources: Sequence[Iterator[tuple[str, list[Loader]]]], out: Path) -> int:
    """Write out/LABEL.jpg for each person, the first source that has them winning.

    Returns how many thumbnails were written.
    """
    out.mkdir(parents=True, exist_ok=True)
    done: set[str] = set()
    for people in sources:
        for label, photos in people:
            if label in done:
                continue
            tile = choose(photos)
            if tile is not None:
                _save(tile, out / file_name(label))
                done.add(label)
    return len(done)


def download(url: str, downloads: Path, timeout: float = 10) -> Path | None:
    """The archive at ``url``, kept in ``downloads``; None, and a log line, when out of reach."""
    target = downloads / Path(url.split("?")[0]).name
    if target.is_file():
        return target
    partial = target.with_name(target.name + ".part")
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            downloads.mkdir(parents=True, exist_ok=True)
            with partial.open("wb") as part:
                for chunk in response.iter_content(1 << 20):
                    part.write(chunk)
        os.replace(partial, target)
        return target
    except (requests.RequestException, OSError) as exc:
        partial.unlink(missing_ok=True)
        log.warning("no download of %s: %s", url, type(exc).__name__)
        return None


def _write_index(out: Path, built: Built) -> None:
    record = {
        **dataclasses.asdict(built),
        "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    partial = out / (INDEX + ".tmp")
    partial.write_text(json.dumps(record, indent=1) + "\n")
    os.replace(partial, out / INDEX)


def default_roots(settings: Settings) -> list[Path]:
    """Where the set-up looks for photos: the setting's folder, ../shared/datasets beside
    the repository, and what training downloaded."""
    return [*([settings.reference_data] if settings.reference_data else []), SHARED, DOWNLOADS]


def run(out: Path, roots: Sequence[Path], url: str = "", downloads: Path = DOWNLOADS) -> Built:
    """Build the thumbnails from the datasets under ``roots`` or, when those have none,
    from the zip at ``url``; then write out/index.json, even when nothing was found."""
    started = time.perf_counter()
    found = [d for root in dict.fromkeys(roots) for d in datasets(Path(root))]
    sources = [people_in_folder(d) for d in found]
    names = [str(d) for d in found]
    archive = None
    if not found and url:
        path = download(url, downloads)
        try:
            archive = zipfile.ZipFile(path) if path is not None else None
        except (zipfile.BadZipFile, OSError) as exc:
            log.warning("%s is not a usable zip: %s", path, exc)
        if archive is not None:
            sources.append(people_in_zip(archive))
            names.append(url)
    try:
        people = build(sources, out)
    finally:
        if archive is not None:
            archive.close()
    built = Built(people, tuple(names), round(time.perf_counter() - started, 1))
    _write_index(out, built)
    return built


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m engine.reference_build", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data",
        type=Path,
        action="append",
        default=[],
        help="a folder of person folders (or of such datasets), searched instead of the usual "
        "places; repeatable, the first that has a person wins",
    )
    parser.add_argument(
        "--url",
        help="a .zip of person folders, downloaded when no folder has anyone "
        "(default: LOOKALIKE_REFERENCE_URL)",
    )
    parser.add_argument(
        "--out", type=Path, help="where the thumbnails go (default: LOOKALIKE_REFERENCES)"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the summary line")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING if args.quiet else logging.INFO, format="%(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"reference photos: {exc}", file=sys.stderr)
        return 0  # the set-up goes on; the pictures show cards
    out = args.out or settings.references or FOLDER
    url = settings.reference_url if args.url is None else args.url
    built = run(out, args.data or default_roots(settings), url)
    if built.sources:
        where = ", ".join(built.sources)
        print(f"reference photos: {built.people} in {out} from {where} ({built.seconds} s)")
    else:
        print("reference photos: no data reachable, so the pictures show name cards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
