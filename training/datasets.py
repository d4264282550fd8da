"""Training data: a folder of people's photos, on disk or from an archive, and its selection."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import random
import shutil
import tarfile
import tempfile
import urllib.parse
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import requests
from tqdm import tqdm

from engine import images
from engine.celebrities import display_name

log = logging.getLogger(__name__)

LFW_URL = "https://umass-vis-lfw.github.io/lfw-deepfunneled.zip"
DATASETS = {"lfw": LFW_URL}
# Folders that archivers add and that never hold a person.
_JUNK = {"__MACOSX", ".DS_Store"}
_CHUNK = 1 << 20


class DatasetError(Exception):
    """A problem with the training data that the person running the command can fix."""


@dataclasses.dataclass(frozen=True)
class Sample:
    """One photo and the person it shows (the name of its folder); ``tight`` when it is
    a tight face crop, padded before detection."""

    path: Path
    label: str
    tight: bool = False


@dataclasses.dataclass(frozen=True)
class Scan:
    """What a dataset folder holds.

    Attributes:
        root: the folder with one sub-folder per person.
        samples: every image file, judged by content, sorted by label then path.
        not_images: files that are not images, skipped.
    """

    root: Path
    samples: tuple[Sample, ...]
    not_images: tuple[Path, ...]


# --- folders ------------------------------------------------------------------


def scan(root: Path, *, tight: bool = False) -> Scan:
    """The photos under ``root``: one sub-folder per person, searched recursively.

    ``tight`` marks them as tight face crops.

    Raises:
        DatasetError: ``root`` is not a folder, or has no person folders with photos.
    """
    if not root.is_dir():
        raise DatasetError(f"{root} is not a folder")
    samples: list[Sample] = []
    not_images: list[Path] = []
    people = sorted(p for p in root.iterdir() if p.is_dir() and p.name not in _JUNK)
    for person in people:
        for path in sorted(p for p in person.rglob("*") if p.is_file()):
            if path.name.startswith("._"):
                continue  # macOS resource forks
            if _is_image(path):
                samples.append(Sample(path, person.name, tight))
            else:
                not_images.append(path)
    if not samples:
        raise DatasetError(
            f"no photos in {root}: it needs one sub-folder per person, holding that person's photos"
        )
    return Scan(root, tuple(samples), tuple(not_images))


def _is_image(path: Path) -> bool:
    try:
        return images.sniff_file(path) is not None
    except OSError:
        return True  # let the embedding step report it as unreadable


def by_label(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    groups: dict[str, list[Sample]] = {}
    for sample in samples:
        groups.setdefault(sample.label, []).append(sample)
    return groups


def read_people(path: Path) -> list[str]:
    """Names from a file, one a line, as folder names or display names; # starts a comment."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read the people file {path}: {exc}") from None
    names = [line.split("#", 1)[0].strip() for line in lines]
    return [name for name in names if name]


def select(
    samples: Sequence[Sample],
    *,
    people: Sequence[str] | None = None,
    min_images: int = 1,
    max_per_person: int | None = None,
    seed: int = 0,
) -> list[Sample]:
    """The samples of the chosen people.

    Args:
        people: keep only these (folder or display names); names with no folder
            are logged as warnings.
        min_images: drop people with fewer image files than this.
        max_per_person: keep at most this many photos a person, chosen at random
            with ``seed`` (the same each run).
    """
    groups = by_label(samples)
    if people is not None:
        wanted = {display_name(name).casefold(): name for name in people}
        found = {label for label in groups if display_name(label).casefold() in wanted}
        missing = sorted(set(wanted) - {display_name(label).casefold() for label in found})
        if missing:
            names = _few([wanted[key] for key in missing])
            log.warning("%d named people have no folder: %s", len(missing), names)
        groups = {label: groups[label] for label in sorted(found)}
    few = [label for label, group in groups.items() if len(group) < min_images]
    if few:
        log.info("%d people have fewer than %d photos and are left out", len(few), min_images)
    chosen: list[Sample] = []
    for label, group in groups.items():
        if len(group) < min_images:
            continue
        if max_per_person is not None and len(group) > max_per_person:
            picked = random.Random(f"{seed}/{label}").sample(group, max_per_person)
            group = sorted(picked, key=lambda s: s.path)
        chosen.extend(group)
    return chosen


def split(labels: Sequence[str], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified (train, validation) row indices: ``fraction`` of each person held out.

    Every person with two photos or more has at least one on each side; a person
    with one photo is in training only.
    """
    rows: dict[str, list[int]] = {}
    for row, label in enumerate(labels):
        rows.setdefault(label, []).append(row)
    train, val = [], []
    for label, group in sorted(rows.items()):
        group = list(group)
        random.Random(f"{seed}/{label}").shuffle(group)
        held = min(max(1, round(len(group) * fraction)), len(group) - 1)
        val += group[:held]
        train += group[held:]
    return sorted(train), sorted(val)


def _few(items: Sequence[str], limit: int = 5) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def fingerprint(samples: Iterable[Sample]) -> str:
    """A hash of the labelled photos' contents: equal for the same data, wherever it lies."""
    digest = hashlib.sha256()
    rows = []
    for sample in samples:
        try:
            content = hashlib.sha256(sample.path.read_bytes()).hexdigest()
        except OSError:
            content = "unreadable"
        rows.append(f"{sample.label}\t{content}\n")
    for row in sorted(rows):
        digest.update(row.encode())
    return digest.hexdigest()


# --- downloads ----------------------------------------------------------------


def fetch(url: str, downloads: Path, *, progress: bool = True) -> Path:
    """The dataset folder inside the archive at ``url``, downloading and unpacking it once.

    The archive is kept in ``downloads`` and unpacked beside it; a later call with
    the same URL reuses the unpacked folder without touching the network.

    Raises:
        DatasetError: the download failed, or the archive is damaged or unsafe.
    """
    name = _archive_name(url)
    stem = downloads / _strip_archive_suffix(name)
    if stem.is_dir():
        log.info("reusing %s", stem)
        return dataset_root(stem)
    archive = downloads / name
    if not archive.is_file():
        download(url, archive, progress=progress)
    try:
        unpack(archive, stem)
    except DatasetError:
        archive.unlink(missing_ok=True)  # a damaged download must not be reused
        raise
    return dataset_root(stem)


def _archive_name(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in ("http", "https"):
        raise DatasetError(f"{url} is not an http or https URL")
    base = PurePosixPath(urllib.parse.unquote(parsed.path)).name
    if not base.endswith((".zip", ".tar.gz", ".tgz", ".tar")):
        raise DatasetError(f"{url} does not name a .zip, .tar.gz or .tar archive")
    # The same file name from two places must not share a cache entry.
    tag = hashlib.sha256(url.encode()).hexdigest()[:8]
    return f"{tag}-{base}" if url != LFW_URL else base


def _strip_archive_suffix(name: str) -> str:
    for suffix in (".tar.gz", ".tgz", ".zip", ".tar"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def download(url: str, target: Path, *, progress: bool = True, timeout: float = 30) -> None:
    """Stream ``url`` into ``target`` through a partial file, with a progress bar on stderr."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    try:
        with requests.get(url, stream=True, timeout=timeout) as response:
            response.raise_for_status()
            total = int(response.headers.get("content-length") or 0) or None
            bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                desc=target.name,
                disable=None if progress else True,  # a bar on a terminal only
            )
            with bar, partial.open("wb") as out:
                for chunk in response.iter_content(_CHUNK):
                    out.write(chunk)
                    bar.update(len(chunk))
    except requests.RequestException as exc:
        partial.unlink(missing_ok=True)
        raise DatasetError(f"download of {url} failed: {_reason(exc)}") from None
    os.replace(partial, target)


def _reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code} {exc.response.reason}"
    return type(exc).__name__


def unpack(archive: Path, target: Path) -> None:
    """Unpack a zip or tar archive into ``target``, all or nothing.

    Only regular files and folders are written; a member whose path is absolute
    or climbs out with ``..`` makes the whole archive refused. Links, devices and
    other special members are skipped.

    Raises:
        DatasetError: the archive is damaged, of an unknown kind, or unsafe.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=target.name + ".", suffix=".tmp"))
    try:
        for name, source in _members(archive):
            path = safe_path(scratch, name)
            if source is None:
                path.mkdir(parents=True, exist_ok=True)
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            with source, path.open("wb") as out:
                shutil.copyfileobj(source, out, _CHUNK)
        os.replace(scratch, target)
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, OSError) as exc:
        raise DatasetError(f"{archive.name} could not be unpacked: {exc}") from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _members(archive: Path) -> Iterator[tuple[str, BinaryIO | None]]:
    """(member name, its content or None for a folder) for each file and folder."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zipped:
            for info in zipped.infolist():
                mode = info.external_attr >> 16
                if (mode & 0o170000) == 0o120000:
                    continue  # a symbolic link stored by Info-ZIP
                yield info.filename, (None if info.is_dir() else zipped.open(info))
        return
    if not tarfile.is_tarfile(archive):
        raise DatasetError(f"{archive.name} is neither a zip nor a tar archive")
    with tarfile.open(archive, "r:*") as tarred:
        for member in tarred:
            if member.isdir():
                yield member.name, None
            elif member.isfile():
                yield member.name, tarred.extractfile(member)


def safe_path(root: Path, name: str) -> Path:
    """``root / name`` for an archive member, refusing names that would leave ``root``."""
    member = PurePosixPath(name.replace("\\", "/"))
    if member.is_absolute() or ".." in member.parts or (member.parts and ":" in member.parts[0]):
        raise DatasetError(f"refusing an archive member that points outside its folder: {name!r}")
    path = root.joinpath(*member.parts)
    if not path.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"refusing an archive member that points outside its folder: {name!r}")
    return path


def dataset_root(folder: Path) -> Path:
    """The folder of person folders inside an unpacked archive.

    Archives usually wrap the dataset in one folder (lfw-deepfunneled/Name/...);
    descend while there is exactly one folder, and it holds folders rather than photos.
    """
    while True:
        entries = [p for p in folder.iterdir() if p.name not in _JUNK]
        dirs = [p for p in entries if p.is_dir()]
        files = [p for p in entries if p.is_file()]
        if len(dirs) != 1 or files or not any(p.is_dir() for p in dirs[0].iterdir()):
            return folder
        folder = dirs[0]
