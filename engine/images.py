"""Decode uploaded photos safely: judge them by content, bound their size, return RGB."""

from __future__ import annotations

import io
import logging
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from engine.errors import CorruptImage, FileTooLarge, TooManyPixels, UnsupportedImage

log = logging.getLogger(__name__)

# The formats Pillow may try (its JPEG plugin also opens the MPO files phones write).
FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP")

# Leading bytes of each accepted format, to tell images from other files cheaply.
_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)

_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


def sniff(head: bytes) -> str | None:
    """The image format that the first bytes of a file announce, or None.

    Args:
        head: at least the first 12 bytes of the file.

    Returns:
        "JPEG", "PNG", "GIF", "BMP" or "WEBP"; None for anything else. This only
        reads the signature: `decode` still decides whether the file is usable.
    """
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    for magic, name in _SIGNATURES:
        if head.startswith(magic):
            return name
    return None


def decode(
    data: bytes, *, max_bytes: int, max_pixels: int, max_side: int | None = None
) -> Image.Image:
    """Decode an uploaded file into an upright RGB image.

    Args:
        data: the file's bytes. Its name and claimed type play no part.
        max_bytes: files larger than this are refused before any parsing.
        max_pixels: images with more pixels (width x height) are refused from
            their header, before the pixel data is decoded.
        max_side: photos are scaled down so that neither side is longer, as early
            as possible (JPEGs decode at a reduced scale directly): this bounds the
            memory a photo holds while it waits in a batch. None keeps full size.

    Returns:
        A loaded PIL image in mode RGB, rotated as its EXIF orientation says.
        Animated GIF and WebP give their first frame; transparency is flattened
        onto white; palette, greyscale, CMYK and 16-bit images are converted.

    Raises:
        FileTooLarge, TooManyPixels, UnsupportedImage, CorruptImage.
    """
    if len(data) > max_bytes:
        raise FileTooLarge(limit_mb=max_bytes / 1e6)
    if not data:
        raise UnsupportedImage()
    image = _open(data, max_pixels)
    if max_side and image.format == "JPEG" and max(image.size) > max_side:
        # The decoder's own scaling (1/2, 1/4, 1/8) keeps at least the requested size.
        ratio = max_side / max(image.size)
        image.draft("RGB", (round(image.width * ratio), round(image.height * ratio)))
    try:
        image.load()
    except Exception as exc:  # Pillow's decoders raise many types on bad data.
        log.debug("decoding failed: %r", exc)
        raise CorruptImage() from None
    orientation = _orientation(image)  # after load(): a PNG reads its EXIF at the end
    image = _eight_bit(image)
    if max_side and image.mode in _SCALABLE:  # before the RGB copy, when it can be
        image = shrink(image, max_side)
    image = to_rgb(image)
    if max_side:
        image = shrink(image, max_side)
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    return image


# EXIF orientation to the transposition that makes the photo upright, as
# ImageOps.exif_transpose does; applied here after scaling down, on fewer pixels.
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Modes that scale well as they are (palettes and 1-bit images do not).
_SCALABLE = ("L", "RGB", "RGBA", "LA")
# Pixels converted at a time from 16 bits to 8: a band's temporary arrays stay small.
_BAND_PIXELS = 1 << 20


def _open(data: bytes, max_pixels: int) -> Image.Image:
    Image.init()  # registers the WebP and MPO plugins, which Pillow loads lazily
    with warnings.catch_warnings():
        # We enforce our own pixel limit below; Pillow's warning adds nothing.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data), formats=FORMATS)
        except Image.DecompressionBombError:
            raise TooManyPixels(limit_mp=max_pixels / 1e6) from None
        except UnidentifiedImageError:
            # A file that starts like a photo but will not open is a damaged photo.
            raise (CorruptImage() if sniff(data[:16]) else UnsupportedImage()) from None
        except Exception as exc:
            log.debug("opening failed: %r", exc)
            raise CorruptImage() from None
    width, height = image.size
    if width <= 0 or height <= 0:
        raise CorruptImage()
    if width * height > max_pixels:
        raise TooManyPixels(limit_mp=max_pixels / 1e6)
    return image


def _orientation(image: Image.Image) -> int:
    try:
        return int(image.getexif().get(0x0112, 1))
    except Exception as exc:  # A broken EXIF block is no reason to refuse the photo.
        log.debug("ignoring unreadable EXIF orientation: %r", exc)
        return 1


def shrink(image: Image.Image, max_side: int) -> Image.Image:
    """The image scaled down so that its longer side is at most ``max_side`` (or itself)."""
    longest = max(image.size)
    if longest <= max_side:
        return image
    scale = max_side / longest
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    factor = int(1 / scale)
    if factor >= 2:
        image = image.reduce(factor)  # a box filter by a whole factor first: much cheaper
    if image.size != size:
        image = image.resize(size, Image.Resampling.BILINEAR)
    return image


def _eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit greyscale as 8-bit "L", converted a band of rows at a time."""
    mode = image.mode
    if not (mode in _SIXTEEN_BIT or mode in ("I", "F")):
        return image
    _, high = image.getextrema()
    divisor = 257.0 if mode in _SIXTEEN_BIT or (mode == "I" and high > 255) else 1.0
    width, height = image.size
    out = Image.new("L", image.size)
    rows = max(1, _BAND_PIXELS // width)
    for top in range(0, height, rows):
        band = image.crop((0, top, width, min(height, top + rows)))
        values = np.asarray(band, dtype=np.float32) / np.float32(divisor)
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        out.paste(Image.fromarray(grey, mode="L"), (0, top))
    return out


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, flattening transparency onto white."""
    image = _eight_bit(image)
    mode = image.mode
    if mode == "RGB":
        return image
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        if image.mode == "RGB":
            return image
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        background.alpha_composite(rgba)
        return background.convert("RGB")
    return image.convert("RGB")


def sniff_file(path: Path) -> str | None:
    """``sniff`` of a file's first bytes.

    Raises:
        OSError: the file cannot be read.
    """
    with path.open("rb") as handle:
        return sniff(handle.read(16))


def photo_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The named files, and every image file under the named folders, judged by content."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                try:
                    kind = sniff_file(child)
                except OSError:
                    continue
                if kind:
                    yield child
        else:
            yield path
