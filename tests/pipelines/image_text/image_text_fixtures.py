"""Image files for the image-text tests: every mode, EXIF orientations and broken files."""

from __future__ import annotations

import json
import struct
import zlib
from io import BytesIO

import numpy as np
from PIL import Image

RED, BLUE = (220, 30, 30), (30, 30, 220)


def encode(image: Image.Image, fmt: str, **params) -> bytes:
    buffer = BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def marked_image(
    width: int, height: int, box: tuple[int, int, int, int], mode: str = "RGB"
) -> Image.Image:
    """A blue ``width`` x ``height`` image with a red ``[x, y, w, h]`` rectangle."""
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:] = BLUE
    x, y, w, h = box
    pixels[y : y + h, x : x + w] = RED
    return Image.fromarray(pixels).convert(mode)


def with_orientation(image: Image.Image, orientation: int, quality: int = 95) -> bytes:
    """``image`` as a JPEG whose EXIF orientation tag is ``orientation`` (pixels unchanged)."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    return encode(image, "JPEG", quality=quality, exif=exif.tobytes())


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def zero_pixel_png() -> bytes:
    """A PNG whose header says 0 x 0 pixels (PIL refuses to write one)."""
    header = struct.pack(">IIBBBBB", 0, 0, 8, 2, 0, 0, 0)
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b""))
        + png_chunk(b"IEND", b"")
    )


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A decompression bomb: a black one-bit greyscale PNG of ``width`` x ``height`` pixels.

    20,000 x 20,000 is a ~50 KB file that PIL would decode into 400 MB (a byte per pixel in
    mode "1"), 1.2 GB as RGB. The rows are compressed in chunks, never held whole."""
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1 bit, greyscale
    row = b"\x00" * (1 + (width + 7) // 8)  # filter byte 0, then the packed pixels
    compressor = zlib.compressobj(9)
    rows_per_chunk = 1000
    parts = []
    for start in range(0, height, rows_per_chunk):
        parts.append(compressor.compress(row * min(rows_per_chunk, height - start)))
    parts.append(compressor.flush())
    return (
        PNG_SIGNATURE
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", b"".join(parts))
        + png_chunk(b"IEND", b"")
    )


def truncated_jpeg(width: int = 48, height: int = 40) -> bytes:
    """A noisy JPEG cut after 60% of its bytes."""
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))
    data = encode(noise, "JPEG", quality=90)
    return data[: int(len(data) * 0.6)]


def rgba_png(size: int = 40) -> bytes:
    """Left half transparent, right half opaque red."""
    pixels = np.zeros((size, size, 4), dtype=np.uint8)
    pixels[:, size // 2 :] = (*RED, 255)
    return encode(Image.fromarray(pixels, "RGBA"), "PNG")


def cmyk_jpeg(size: int = 40) -> bytes:
    """A red image stored as a CMYK JPEG."""
    return encode(marked_image(size, size, (0, 0, size, size)).convert("CMYK"), "JPEG", quality=95)


def grey_jpeg(size: int = 40, level: int = 90) -> bytes:
    return encode(Image.new("L", (size, size), level), "JPEG", quality=95)


def write_coco_json(path, images: list[dict], annotations: list[dict], **extra) -> None:
    """A COCO annotation file (``images`` entries need id, file_name, width, height)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"info": {}, "licenses": [], "images": images, "annotations": annotations, **extra}
    path.write_text(json.dumps(content))
