"""engine.images: formats, orientation, modes and every refusal, on generated files."""

from __future__ import annotations

import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from engine import images
from engine.errors import CorruptImage, FileTooLarge, TooManyPixels, UnsupportedImage
from tests.conftest import encode

LIMITS = {"max_bytes": 5_000_000, "max_pixels": 10_000_000}


def decode(data: bytes, **limits: int) -> Image.Image:
    return images.decode(data, **{**LIMITS, **limits})


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims ``width`` x ``height`` pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", pixels)
        + png_chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_each_format_decodes_to_rgb(astronaut: Image.Image, fmt: str) -> None:
    image = decode(encode(astronaut, fmt))
    assert image.mode == "RGB"
    assert image.size == astronaut.size
    difference = np.abs(np.asarray(image, np.int16) - np.asarray(astronaut, np.int16)).mean()
    assert difference < 12  # lossy formats and GIF's palette change pixels a little


def test_file_is_judged_by_content_not_name(astronaut: Image.Image) -> None:
    # There is no name to judge: a PNG is a PNG whatever the upload said.
    assert images.sniff(encode(astronaut, "PNG")) == "PNG"
    assert images.sniff(encode(astronaut, "WEBP")) == "WEBP"
    assert images.sniff(b"hello, this is text") is None
    with pytest.raises(UnsupportedImage):
        decode(b"Not a photo at all, just some text saved as photo.jpg\n" * 20)


def test_animated_gif_gives_its_first_frame() -> None:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    image = decode(data)
    assert image.size == (64, 48)
    red, _, blue = image.getpixel((10, 10))
    assert red > 200 and blue < 50


@pytest.mark.parametrize(
    ("orientation", "size"), [(1, (40, 20)), (3, (40, 20)), (6, (20, 40)), (8, (20, 40))]
)
def test_exif_orientation_is_applied(orientation: int, size: tuple[int, int]) -> None:
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = encode(Image.new("RGB", (40, 20), "white"), "JPEG", exif=exif.tobytes())
    assert decode(data).size == size


def test_bogus_exif_orientation_is_ignored() -> None:
    exif = Image.Exif()
    exif[0x0112] = 77
    data = encode(Image.new("RGB", (40, 20), "white"), "JPEG", exif=exif.tobytes())
    assert decode(data).size == (40, 20)


def test_transparency_is_flattened_onto_white() -> None:
    clear = Image.new("RGBA", (8, 8), (255, 0, 0, 0))
    assert decode(encode(clear, "PNG")).getpixel((0, 0)) == (255, 255, 255)
    solid = Image.new("RGBA", (8, 8), (255, 0, 0, 255))
    assert decode(encode(solid, "PNG")).getpixel((0, 0)) == (255, 0, 0)
    grey_alpha = Image.new("LA", (8, 8), (0, 0))
    assert decode(encode(grey_alpha, "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_palette_with_transparency() -> None:
    palette = Image.new("P", (8, 8), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0])
    data = encode(palette, "GIF", transparency=0)
    assert decode(data).getpixel((0, 0)) == (255, 255, 255)


def test_cmyk_greyscale_and_bilevel() -> None:
    red = decode(encode(Image.new("CMYK", (8, 8), (0, 255, 255, 0)), "JPEG"))
    r, g, b = red.getpixel((4, 4))
    assert r > 200 and g < 60 and b < 60
    assert decode(encode(Image.new("L", (8, 8), 100), "PNG")).getpixel((0, 0)) == (100, 100, 100)
    assert decode(encode(Image.new("1", (8, 8), 1), "BMP")).getpixel((0, 0)) == (255, 255, 255)


def test_sixteen_bit_greyscale_is_scaled_not_clipped() -> None:
    values = np.full((6, 6), 32896, dtype=np.uint16)  # the middle of the 16-bit range
    image = decode(encode(Image.fromarray(values), "PNG"))
    assert image.getpixel((0, 0)) == (128, 128, 128)


def test_byte_limit_is_checked_first() -> None:
    with pytest.raises(FileTooLarge) as refused:
        decode(b"\xff\xd8\xff" + b"\x00" * 2000, max_bytes=1000)
    assert "MB" in str(refused.value)


def test_decompression_bomb_is_refused_from_its_header() -> None:
    with pytest.raises(TooManyPixels) as refused:
        decode(png_claiming(30000, 30000))
    assert "megapixels" in str(refused.value)


@pytest.mark.parametrize("data", [b"", b"\x00" * 100, b"GIF89a", b"RIFF\x00\x00\x00\x00WEBPVP8 "])
def test_empty_and_junk_bytes(data: bytes) -> None:
    with pytest.raises((UnsupportedImage, CorruptImage)):
        decode(data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "GIF", "BMP"])
def test_truncated_files_are_corrupt(astronaut: Image.Image, fmt: str) -> None:
    data = encode(astronaut, fmt)
    with pytest.raises(CorruptImage) as refused:
        decode(data[: len(data) // 2])
    assert "damaged" in str(refused.value)


def test_corrupt_middle_of_a_png(astronaut: Image.Image) -> None:
    data = bytearray(encode(astronaut, "PNG"))
    data[200:260] = b"\xde\xad" * 30
    with pytest.raises(CorruptImage):
        decode(bytes(data))


def test_one_pixel_and_a_thin_strip_decode() -> None:
    assert decode(encode(Image.new("RGB", (1, 1)), "PNG")).size == (1, 1)
    assert decode(encode(Image.new("RGB", (20000, 10)), "PNG")).size == (20000, 10)


MEMORY_PROBE = """
import asyncio, io, resource, sys
import numpy as np
from PIL import Image
from engine.config import Settings
from engine.engine import Engine
pixels = np.zeros((6300, 6300), np.uint16)
pixels[::50, ::50] = 65535
buffer = io.BytesIO()
Image.fromarray(pixels).save(buffer, "PNG")  # 16-bit greyscale, 40 megapixels, ~80 kB
data = buffer.getvalue()
del pixels, buffer

async def main():
    async with Engine(Settings(model="none", db=sys.argv[1], max_pixels=50_000_000)) as engine:
        await engine.lookalike(data)  # the first call builds the detector's kernels
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        results = await asyncio.gather(*(engine.lookalike(data) for _ in range(10)))
        grown = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base
        print(len(data), results[0].size, grown // 1024)

asyncio.run(main())
"""


@pytest.mark.slow
def test_ten_huge_sixteen_bit_photos_at_once_stay_within_a_memory_bound(tmp_path) -> None:
    """A 77 kB PNG can hold 40 megapixels of 16-bit grey: converting it through float64
    arrays took 1 GB, and ten at once grew the process by 1.4 GB here. Bands of rows, and
    scaling down as it decodes, keep ten of them in flight near 400 MB, most of it the ten
    scaled-down photos of the batch."""
    done = run_module_code(MEMORY_PROBE, str(tmp_path / "m.sqlite3"))
    size, width, grown_mb = done.split()[0], done.split()[1], int(done.split()[-1])
    assert int(size) < 100_000 and width == "(2560,"
    assert grown_mb < 500, f"ten photos took {grown_mb} MB more"


def run_module_code(code: str, *args: str) -> str:
    import subprocess
    import sys

    from tests.conftest import ROOT

    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=True,
    )
    return done.stdout.strip()
