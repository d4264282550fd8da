"""Hostile files through the image path: every one ends in a result or a typed error, quickly."""

from __future__ import annotations

import contextlib
import io
import random
import resource
import struct
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from engine import images
from engine.errors import ImageError
from engine.pipeline import Pipeline
from tests.conftest import encode

LIMITS = {"max_bytes": 20_000_000, "max_pixels": 40_000_000}
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")
# Per file: decoding is bounded by the pixel limit, so even the worst case is quick.
SECONDS_PER_FILE = 2.0


def png_claiming(width: int, height: int, body: bytes = b"") -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def gif_claiming(width: int, height: int) -> bytes:
    return b"GIF89a" + struct.pack("<HH", width, height) + b"\x00\x00\x00" + b"\x3b"


def bmp_claiming(width: int, height: int) -> bytes:
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + 16, 0, 0, 54) + info + b"\x00" * 16


def archive(kind: str, payload: bytes) -> bytes:
    buffer = io.BytesIO()
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as z:
            z.writestr("photo.jpg", payload)
    else:
        with tarfile.open(fileobj=buffer, mode="w:gz") as t:
            info = tarfile.TarInfo("photo.jpg")
            info.size = len(payload)
            t.addfile(info, io.BytesIO(payload))
    return buffer.getvalue()


def corpus(base: Image.Image) -> Iterator[tuple[str, bytes]]:
    """Several hundred malformed or extreme files, generated with a fixed seed."""
    rng = random.Random(7)
    small = base.resize((96, 96))
    for fmt in FORMATS:
        good = encode(small, fmt)
        for cut in (1, 2, 4, 8, 16, 32, 64, 128, len(good) // 4, len(good) // 2, len(good) - 1):
            yield f"{fmt} truncated at {cut}", good[:cut]
        for n in range(30):
            data = bytearray(good)
            for _ in range(rng.randint(1, 40)):
                data[rng.randrange(len(data))] = rng.randrange(256)
            yield f"{fmt} with flipped bytes #{n}", bytes(data)
        for n in range(6):
            cut = rng.randrange(8, len(good))
            yield (
                f"{fmt} with a hole #{n}",
                good[:cut] + bytes(rng.randrange(1, 64)) + good[cut + 64 :],
            )
        yield f"{fmt} header then zeros", good[:32] + bytes(4000)
        yield f"{fmt} twice", good + good
    for name, head in (
        ("jpeg", b"\xff\xd8\xff\xe0"),
        ("png", b"\x89PNG\r\n\x1a\n"),
        ("gif", b"GIF89a"),
        ("webp", b"RIFF\x10\x00\x00\x00WEBPVP8 "),
        ("bmp", b"BM"),
    ):
        for n in range(8):
            yield f"{name} header then noise #{n}", head + rng.randbytes(rng.randint(0, 3000))
    for size in (0, 1, 2, 3, 16, 1024):
        yield f"{size} zero bytes", bytes(size)
        yield f"{size} random bytes", rng.randbytes(size)
    for width, height in (
        (30000, 30000),
        (100000, 1),
        (1, 100000),
        (65535, 65535),
        (0, 10),
        (10, 0),
        (2**31 - 1, 2**31 - 1),
    ):
        yield f"PNG claiming {width}x{height}", png_claiming(width, height)
        yield f"GIF claiming {width}x{height}", gif_claiming(min(width, 65535), min(height, 65535))
        yield f"BMP claiming {width}x{height}", bmp_claiming(width, height)
    yield "PNG bomb of zeros", png_claiming(8000, 8000, zlib.compress(bytes(8000 * 3 + 1) * 100))
    for kind in ("zip", "tar.gz"):
        yield f"{kind} archive of a photo", archive(kind, encode(small, "JPEG"))
    for orientation in (0, 2, 4, 5, 7, 9, 255, 65535):
        exif = Image.Exif()
        exif[0x0112] = orientation
        yield f"EXIF orientation {orientation}", encode(small, "JPEG", exif=exif.tobytes())
    yield "EXIF block of garbage", encode(small, "JPEG", exif=b"Exif\x00\x00" + rng.randbytes(200))
    yield "1x1", encode(Image.new("RGB", (1, 1)), "PNG")
    yield "20000x10 strip", encode(Image.new("RGB", (20000, 10), "white"), "PNG")
    yield "10x20000 strip", encode(Image.new("L", (10, 20000), 128), "PNG")
    yield "text", b"<html><body>not a photo</body></html>" * 10
    yield "a PDF", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
    yield "an SVG", b'<svg xmlns="http://www.w3.org/2000/svg" width="99999" height="99999"/>'


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.slow
def test_every_malformed_file_ends_in_a_result_or_a_typed_error(
    astronaut: Image.Image, pipeline: Pipeline
) -> None:
    outcomes = {"decoded": 0, "refused": 0}
    memory_before = peak_rss_mb()
    files = list(corpus(astronaut))
    assert len(files) >= 300
    for name, data in files:
        start = time.perf_counter()
        try:
            photo = images.decode(data, **LIMITS)
        except ImageError:
            outcomes["refused"] += 1
        else:
            assert photo.mode == "RGB", name
            pipeline.detector.detect(photo)  # what decodes must also survive detection
            outcomes["decoded"] += 1
        assert time.perf_counter() - start < SECONDS_PER_FILE, f"{name} took too long"
    assert outcomes["refused"] > 150 and outcomes["decoded"] > 20, outcomes
    # A decompression bomb must never be decoded: memory stays far below its 192 MB.
    assert peak_rss_mb() - memory_before < 150


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096))
def test_any_bytes_decode_or_raise_an_image_error(data: bytes) -> None:
    try:
        photo = images.decode(data, **LIMITS)
    except ImageError as exc:
        assert exc.code and str(exc)
    else:
        assert photo.mode == "RGB" and photo.width > 0 and photo.height > 0


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    mode=st.sampled_from(["RGB", "RGBA", "L", "LA", "P", "1", "CMYK", "I;16"]),
    fmt=st.sampled_from(["PNG", "JPEG", "WEBP", "GIF", "BMP"]),
    cut=st.floats(0.0, 1.0),
)
def test_real_images_of_any_mode_decode_whole_and_fail_cleanly_cut(
    width: int, height: int, mode: str, fmt: str, cut: float
) -> None:
    image = Image.new(mode, (width, height))
    try:
        data = encode(image, fmt)
    except (OSError, ValueError, KeyError):
        return  # Pillow cannot write this mode in this format: nothing to test
    decoded = images.decode(data, **LIMITS)
    assert decoded.mode == "RGB" and decoded.size == (width, height)
    with contextlib.suppress(ImageError):
        images.decode(data[: int(len(data) * cut)], **LIMITS)
