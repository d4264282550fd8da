"""training.datasets: person folders, selection, safe unpacking, downloads from a local server."""

from __future__ import annotations

import contextlib
import functools
import http.server
import io
import logging
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from training.datasets import (
    DatasetError,
    Sample,
    dataset_root,
    fetch,
    fingerprint,
    read_people,
    scan,
    select,
    unpack,
)

JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 64  # a JPEG signature is all that scan() looks at
PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(folder: Path) -> Iterator[str]:
    """The base URL of an HTTP server on 127.0.0.1 for ``folder``, while the block runs."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def make_folder(root: Path, people: dict[str, int]) -> Path:
    for name, count in people.items():
        (root / name).mkdir(parents=True)
        for i in range(count):
            (root / name / f"{i:02d}.jpg").write_bytes(JPEG + bytes([i]) + name.encode())
    return root


def tar_gz(files: dict[str, bytes], extra: list[tarfile.TarInfo] = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for info in extra:
            tar.addfile(info)
    return buffer.getvalue()


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


# --- folders and selection ------------------------------------------------------


def test_scan_judges_files_by_content_and_sorts_by_person(tmp_path) -> None:
    root = make_folder(tmp_path / "data", {"Ada_Lovelace": 2, "Alan_Turing": 1})
    (root / "Alan_Turing" / "nested").mkdir()
    (root / "Alan_Turing" / "nested" / "photo.txt").write_bytes(PNG)  # a PNG by content
    (root / "Alan_Turing" / "notes.jpg").write_text("not a photo")
    (root / "Alan_Turing" / "._01.jpg").write_bytes(JPEG)  # a macOS resource fork
    (root / "README.txt").write_text("files beside the person folders are ignored")
    found = scan(root)
    assert [(s.label, s.path.name) for s in found.samples] == [
        ("Ada_Lovelace", "00.jpg"),
        ("Ada_Lovelace", "01.jpg"),
        ("Alan_Turing", "00.jpg"),
        ("Alan_Turing", "photo.txt"),
    ]
    assert [p.name for p in found.not_images] == ["notes.jpg"]


def test_scan_refuses_empty_and_missing_folders(tmp_path) -> None:
    with pytest.raises(DatasetError, match="is not a folder"):
        scan(tmp_path / "missing")
    (tmp_path / "empty" / "Nobody").mkdir(parents=True)
    with pytest.raises(DatasetError, match="one sub-folder per person"):
        scan(tmp_path / "empty")


def test_select_by_people_file_count_and_cap(tmp_path, caplog) -> None:
    root = make_folder(tmp_path, {"Ada_Lovelace": 5, "Alan_Turing": 2, "Grace_Hopper": 4})
    samples = scan(root).samples
    people = tmp_path / "people.txt"
    people.write_text(
        "# who to keep\nAda Lovelace\nGrace_Hopper  # folder names work too\nNo One\n"
    )
    with caplog.at_level(logging.WARNING):
        kept = select(samples, people=read_people(people), max_per_person=3)
    assert "1 named people have no folder: No One" in caplog.text
    assert [s.label for s in kept] == ["Ada_Lovelace"] * 3 + ["Grace_Hopper"] * 3
    assert kept == select(samples, people=["Ada_Lovelace", "Grace Hopper"], max_per_person=3)
    other_seed = select(samples, people=["Ada_Lovelace"], max_per_person=3, seed=1)
    assert len(other_seed) == 3 and all(s.label == "Ada_Lovelace" for s in other_seed)
    assert {s.label for s in select(samples, min_images=3)} == {"Ada_Lovelace", "Grace_Hopper"}


def test_fingerprint_depends_on_content_and_labels_not_place(tmp_path) -> None:
    a = make_folder(tmp_path / "a", {"Ada": 2})
    b = make_folder(tmp_path / "b", {"Ada": 2})
    assert fingerprint(scan(a).samples) == fingerprint(scan(b).samples)
    relabelled = [Sample(s.path, "Grace") for s in scan(b).samples]
    assert fingerprint(relabelled) != fingerprint(scan(a).samples)


# --- archives -------------------------------------------------------------------


def test_unpack_refuses_members_that_climb_out(tmp_path) -> None:
    for name, data in {
        "zip.zip": zipped({"ok/a.jpg": JPEG, "../evil.txt": b"x"}),
        "tar.tar.gz": tar_gz({"ok/a.jpg": JPEG, "ok/../../evil.txt": b"x"}),
        "abs.tar.gz": tar_gz({"/tmp/evil.txt": b"x"}),
    }.items():
        archive = tmp_path / name
        archive.write_bytes(data)
        with pytest.raises(DatasetError, match="outside its folder"):
            unpack(archive, tmp_path / "out" / name)
        assert not (tmp_path / "out" / name).exists()
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out" / "evil.txt").exists()
    assert not list((tmp_path / "out").iterdir())  # no half-unpacked scratch folder left


def test_unpack_skips_links_and_refuses_damaged_archives(tmp_path) -> None:
    link = tarfile.TarInfo("people/Ada/link.jpg")
    link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
    archive = tmp_path / "links.tar.gz"
    archive.write_bytes(tar_gz({"people/Ada/a.jpg": JPEG}, [link]))
    unpack(archive, tmp_path / "links")
    assert [p.name for p in (tmp_path / "links" / "people" / "Ada").iterdir()] == ["a.jpg"]

    damaged = tmp_path / "damaged.zip"
    damaged.write_bytes(zipped({"Ada/a.jpg": JPEG})[:-30])
    with pytest.raises(DatasetError, match=r"could not be unpacked|neither a zip nor a tar"):
        unpack(damaged, tmp_path / "damaged")
    text = tmp_path / "text.tar.gz"
    text.write_text("hello")
    with pytest.raises(DatasetError, match="neither a zip nor a tar"):
        unpack(text, tmp_path / "text")


def test_dataset_root_descends_through_wrapping_folders(tmp_path) -> None:
    make_folder(tmp_path / "lfw-deepfunneled" / "lfw-deepfunneled", {"Ada": 1, "Alan": 1})
    (tmp_path / "__MACOSX").mkdir()
    assert dataset_root(tmp_path) == tmp_path / "lfw-deepfunneled" / "lfw-deepfunneled"
    single = make_folder(tmp_path / "single", {"Ada": 2})
    assert dataset_root(single) == single  # one person: stop at the folder of person folders


# --- downloads ------------------------------------------------------------------


def test_fetch_downloads_unpacks_and_reuses(tmp_path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    files = {f"faces/{name}/{i}.jpg": JPEG + bytes([i]) for name in ("Ada", "Alan") for i in (1, 2)}
    (site / "faces.tar.gz").write_bytes(tar_gz(files))
    (site / "faces.zip").write_bytes(zipped(files))
    downloads = tmp_path / "downloads"
    with serving(site) as base:
        for name in ("faces.tar.gz", "faces.zip"):
            root = fetch(f"{base}/{name}", downloads, progress=False)
            assert root.name == "faces" and downloads in root.parents
            assert len(scan(root).samples) == 4
    # The server is gone: the second time, nothing is downloaded.
    again = fetch(f"{base}/faces.tar.gz", downloads, progress=False)
    assert len(scan(again).samples) == 4
    assert not list(downloads.glob("*.part")) and not list(downloads.glob("*.tmp"))


def test_fetch_reports_http_errors_and_bad_urls(tmp_path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "broken.zip").write_bytes(b"PK\x03\x04 this is not really a zip")
    downloads = tmp_path / "downloads"
    with serving(site) as base:
        with pytest.raises(DatasetError, match="HTTP 404"):
            fetch(f"{base}/missing.zip", downloads, progress=False)
        with pytest.raises(DatasetError, match=r"neither a zip nor a tar|could not be unpacked"):
            fetch(f"{base}/broken.zip", downloads, progress=False)
    assert not any(p.name.endswith("broken.zip") for p in downloads.iterdir())  # not reused
    with pytest.raises(DatasetError, match=r"not name a \.zip"):
        fetch(f"{base}/faces.rar", downloads, progress=False)
    with pytest.raises(DatasetError, match="not an http"):
        fetch("file:///etc/passwd.zip", downloads, progress=False)
    with pytest.raises(DatasetError, match="failed: ConnectionError"):
        fetch("http://127.0.0.1:9/faces.zip", downloads, progress=False)
