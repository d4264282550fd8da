"""Decode uploaded photos safely: judge them by content, bound their size, return RGB."""

from __future__ import annotations

import io
import logging
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


def decode(data: bytes, *, max_bytes: int, max_pixels: int) -> Image.Image:
    """Decode an uploaded file into an upright RGB image.

    Args:
        data: the file's bytes. Its name and claimed type play no part.
        max_bytes: files larger than this are refused before any parsing.
        max_pixels: images with more pixels (width x height) are refused from
            their header, before the pixel data is decoded.

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
    try:
        image.load()
    except Exception as exc:  # Pillow's decoders raise many types on bad data.
        log.debug("decoding failed: %r", exc)
        raise CorruptImage() from None
    image = _upright(image)
    return to_rgb(image)


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


def _upright(image: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(image) or image
    except Exception as exc:  # A broken EXIF block is no reason to refuse the photo.
        log.debug("ignoring unreadable EXIF orientation: %r", exc)
        return image


def to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB, flattening transparency onto white."""
    mode = image.mode
    if mode == "RGB":
        return image
    if mode in _SIXTEEN_BIT or mode in ("I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if mode in _SIXTEEN_BIT or (mode == "I" and values.max(initial=0) > 255):
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
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
