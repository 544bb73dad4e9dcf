"""Image decoding with PIL: any file -> upright RGB, shorter side resized to S, centre-cropped to
S x S, then JPEG bytes or uint8 [S, S, 3] pixels.

    open (identify, header only; zero-pixel check; pixel count <= --max-image-pixels)
    -> JPEG draft (DCT-domain downscale to >= S x S)
    -> load (truncated / corrupt data fails here) -> ImageOps.exif_transpose
    -> RGB: CMYK / greyscale / palette / 16-bit converted, alpha composited on white
    -> resize + centre crop in one step (bicubic, antialiased) -> JPEG (quality q) or uint8

Failures raise one class per reason (``errors.py``): :class:`NotAnImageError` (a text file
named ``.jpg``), :class:`CorruptImageError` (truncated or broken data),
:class:`ZeroPixelImageError` (width or height 0; PIL refuses to identify a 0 x 0 PNG, so the
header is read here to say so), :class:`ImageTooLargeError` (more pixels than
``--max-image-pixels``: the decompression-bomb guard of ``pixel_limit.py``, which also keeps
PIL's own process-wide guard from answering first).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from io import BytesIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from crossmodal_ray.pipelines.image_text.boxes import Geometry
from crossmodal_ray.pipelines.image_text.errors import (
    CorruptImageError,
    NotAnImageError,
    ZeroPixelImageError,
)
from crossmodal_ray.pipelines.image_text.pixel_limit import (
    DEFAULT_MAX_IMAGE_PIXELS,
    check_pixel_count,
    pil_check_deferred,
)
from crossmodal_ray.pipelines.image_text.schema import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_IMAGE_STORAGE,
    DEFAULT_JPEG_QUALITY,
    IMAGE_STORAGES,
)

EXIF_ORIENTATION_TAG = 0x0112
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Magic bytes of formats PIL reads: a file starting like one of these is a corrupt image, any
# other unidentifiable file is not an image at all.
IMAGE_MAGIC = {
    b"\xff\xd8\xff": "JPEG",
    PNG_SIGNATURE: "PNG",
    b"GIF87a": "GIF",
    b"GIF89a": "GIF",
    b"BM": "BMP",
    b"II*\x00": "TIFF",
    b"MM\x00*": "TIFF",
    b"RIFF": "WEBP",
}
WHITE = (255, 255, 255, 255)


@dataclass(frozen=True)
class ImageConfig:
    """What the decoder makes of every image.

    Attributes:
        size: Side S of the square output image.
        storage: ``jpeg`` (re-encoded bytes) or ``uint8`` (decoded [S, S, 3] pixels).
        jpeg_quality: Quality of the re-encoded JPEG (``jpeg`` storage).
        max_pixels: An image whose header gives more pixels (width x height) is rejected
            before decoding (decompression-bomb guard, ``pixel_limit.py``).
    """

    size: int = DEFAULT_IMAGE_SIZE
    storage: str = DEFAULT_IMAGE_STORAGE
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.max_pixels < 1:
            raise ValueError(f"max image pixels must be >= 1, got {self.max_pixels}")
        if self.size < 8:
            raise ValueError(f"image size must be >= 8 pixels, got {self.size}")
        if self.storage not in IMAGE_STORAGES:
            raise ValueError(f"unknown image storage {self.storage!r}; expected {IMAGE_STORAGES}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"JPEG quality must be 1..100, got {self.jpeg_quality}")


@dataclass
class DecodedImage:
    """An output image: JPEG bytes or uint8 [S, S, 3] pixels, and how it was made."""

    image: bytes | np.ndarray
    geometry: Geometry
    file_format: str
    file_mode: str


def _header_size(data: bytes) -> tuple[int, int] | None:
    """Width and height from a PNG or GIF header (for files PIL refuses to open)."""
    if data.startswith(PNG_SIGNATURE) and data[12:16] == b"IHDR" and len(data) >= 24:
        return struct.unpack(">II", data[16:24])
    if data[:6] in (b"GIF87a", b"GIF89a") and len(data) >= 10:
        return struct.unpack("<HH", data[6:10])
    return None


def _magic_format(data: bytes) -> str | None:
    return next((name for magic, name in IMAGE_MAGIC.items() if data.startswith(magic)), None)


def open_image(data: bytes, max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS) -> Image.Image:
    """The file as a lazily loaded PIL image with at least one pixel and at most
    ``max_pixels`` (only the header is read: nothing is decoded yet).

    Raises:
        NotAnImageError: empty, or not a format PIL identifies.
        CorruptImageError: starts like an image but its header cannot be read.
        ZeroPixelImageError: a width or height of 0.
        ImageTooLargeError: more than ``max_pixels`` pixels (decompression-bomb guard).
    """
    if not data:
        raise NotAnImageError("empty file (0 bytes)")
    try:
        with pil_check_deferred():  # this function's check below decides, not PIL's
            image = Image.open(BytesIO(data))
    except UnidentifiedImageError:
        size = _header_size(data)
        if size is not None and 0 in size:
            raise ZeroPixelImageError(
                f"zero-pixel image: its header gives {size[0]}x{size[1]} pixels"
            ) from None
        kind = _magic_format(data)
        if kind is not None:
            raise CorruptImageError(f"corrupt {kind} image: PIL cannot read its header") from None
        raise NotAnImageError(
            f"not an image file: PIL identifies no image format (it starts with {data[:12]!r})"
        ) from None
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        raise CorruptImageError(f"corrupt image: {exc}") from None
    if image.width == 0 or image.height == 0:
        raise ZeroPixelImageError(f"zero-pixel image: {image.width}x{image.height} pixels")
    check_pixel_count(image.width, image.height, max_pixels)
    return image


def exif_orientation(image: Image.Image) -> int:
    """The EXIF orientation 1..8 (1 when absent or unreadable)."""
    try:
        value = int(image.getexif().get(EXIF_ORIENTATION_TAG, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block only loses the orientation
        return 1
    return value if 1 <= value <= 8 else 1


def to_rgb(image: Image.Image) -> Image.Image:
    """RGB: alpha (RGBA, LA, palette or greyscale with transparency) composited on white;
    16/32-bit greyscale scaled to 8 bits; CMYK, greyscale, palette, YCbCr ... converted."""
    mode = image.mode
    if mode == "RGB" and "transparency" not in image.info:
        return image
    if mode.startswith("I") or mode == "F":
        values = np.asarray(image, dtype=np.float64)
        if mode.startswith("I;16") or values.max(initial=0) > 255:
            values = values / 257.0
        grey = np.clip(np.rint(values), 0, 255).astype(np.uint8)
        return Image.fromarray(grey).convert("RGB")
    has_alpha = mode in ("RGBA", "RGBa", "LA", "La", "PA") or "transparency" in image.info
    if has_alpha:
        rgba = image.convert("RGBA")
        return Image.alpha_composite(Image.new("RGBA", rgba.size, WHITE), rgba).convert("RGB")
    return image.convert("RGB")


def resize_and_crop(image: Image.Image, geometry: Geometry) -> Image.Image:
    """The centred S x S square of the image resized to ``geometry``'s size, in one resampling
    (``image`` may be a JPEG draft: smaller than ``geometry.width`` x ``geometry.height``)."""
    g = geometry
    fx, fy = image.width / g.resized_width, image.height / g.resized_height
    source_box = (
        g.crop_left * fx,
        g.crop_top * fy,
        (g.crop_left + g.size) * fx,
        (g.crop_top + g.size) * fy,
    )
    return image.resize((g.size, g.size), Image.Resampling.BICUBIC, box=source_box)


def decode_image(data: bytes, config: ImageConfig) -> DecodedImage:
    """One file's bytes -> the output image (see the module docstring).

    Raises:
        NotAnImageError, CorruptImageError, ZeroPixelImageError, ImageTooLargeError: see
            :func:`open_image`.
    """
    # PIL's own bomb check stays off for the whole decode (a GIF's or TIFF's loading checks
    # again): the size was checked against ``config.max_pixels`` when the header was read.
    with pil_check_deferred():
        return _decode_checked(data, config)


def _decode_checked(data: bytes, config: ImageConfig) -> DecodedImage:
    image = open_image(data, config.max_pixels)
    file_format, file_mode = image.format or "", image.mode
    orientation = exif_orientation(image)
    geometry = Geometry.plan(image.width, image.height, orientation, config.size)
    if file_format == "JPEG":
        image.draft(None, (config.size, config.size))
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, struct.error) as exc:
        kind = file_format or "image"
        raise CorruptImageError(f"truncated or corrupt {kind} data: {exc}") from None
    if orientation != 1:
        image = ImageOps.exif_transpose(image)
    out = resize_and_crop(to_rgb(image), geometry)
    if config.storage == "uint8":
        return DecodedImage(np.asarray(out, dtype=np.uint8), geometry, file_format, file_mode)
    buffer = BytesIO()
    out.save(buffer, format="JPEG", quality=config.jpeg_quality)
    return DecodedImage(buffer.getvalue(), geometry, file_format, file_mode)


def jpeg_to_uint8(data: bytes) -> np.ndarray:
    """Stored JPEG bytes (``jpeg`` storage) -> uint8 [S, S, 3] pixels, as a reader does."""
    with Image.open(BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"), dtype=np.uint8)


class ImageDecoder:
    """Decoding state (built by ``open_decoder``): the config, and PIL's format plugins loaded
    up front rather than on the first image.

    The common formats (BMP, GIF, JPEG, PPM, PNG: ``Image.preinit``) are registered before the
    rest, as PIL's own lazy loading does: ``Image.open`` tries the formats in registration order,
    and after ``Image.init`` alone JPEG came 25th, behind AVIF, BLP, ... IPTC (probing those
    doubled ``Image.open`` of a JPEG: 41 us instead of 20).
    """

    def __init__(self, config: ImageConfig) -> None:
        Image.preinit()
        Image.init()
        self.config = config

    def __call__(self, data: bytes) -> DecodedImage:
        return decode_image(data, self.config)
