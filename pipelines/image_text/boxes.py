"""Box geometry: annotation boxes ``[x, y, w, h]`` checked against their image and carried onto
the resized, centre-cropped output image.

Which frame an annotation's boxes are in: the annotation gives the image's size. When the file
has an EXIF orientation other than 1 and that size is the file's stored (raw) size, the boxes
were drawn on the stored pixels and get the same rotation/flip as the pixels
(:func:`orient_box`); when it is the size after orientation, they are already upright. When it
is neither (e.g. images stored downscaled), the boxes are scaled from the annotated size to the
real one and the decoder warns.

A box may reach ``tolerance`` pixels beyond the image (COCO and VG have boxes one or two pixels
past the edge: 13 of 2,484 objects and 4 of 7,278 regions of ``shared/data/visual_genome_ann``)
and is then clipped to it; beyond that it is rejected (:class:`BoxOutsideImageError`), as is an
empty or malformed one (:class:`BadBoxError`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from crossmodal_ray.pipelines.image_text.errors import BadBoxError, BoxOutsideImageError

# EXIF orientations that swap width and height (transpose, rotate 90 / 270, transverse).
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)


@dataclass(frozen=True)
class Geometry:
    """How the output image was made from the file.

    Attributes:
        raw_width, raw_height: Size of the stored pixels.
        orientation: EXIF orientation (1..8; 1 when absent).
        width, height: Size after EXIF orientation: the original image as a viewer shows it.
        resized_width, resized_height: Size after resizing the shorter side to ``size``.
        crop_left, crop_top: Offset of the centre crop in the resized image.
        size: Side of the square output image.
    """

    raw_width: int
    raw_height: int
    orientation: int
    width: int
    height: int
    resized_width: int
    resized_height: int
    crop_left: int
    crop_top: int
    size: int

    @classmethod
    def plan(cls, raw_width: int, raw_height: int, orientation: int, size: int) -> Geometry:
        """Shorter side to ``size``, then the centred ``size`` x ``size`` square."""
        swap = orientation in SWAPPING_ORIENTATIONS
        width, height = (raw_height, raw_width) if swap else (raw_width, raw_height)
        scale = size / min(width, height)
        resized_width = max(size, round(width * scale))
        resized_height = max(size, round(height * scale))
        return cls(
            raw_width=raw_width,
            raw_height=raw_height,
            orientation=orientation,
            width=width,
            height=height,
            resized_width=resized_width,
            resized_height=resized_height,
            crop_left=(resized_width - size) // 2,
            crop_top=(resized_height - size) // 2,
            size=size,
        )


def parse_box(value: Any) -> list[float] | None:
    """``[x, y, w, h]`` as floats, or None unless ``value`` is four finite numbers."""
    if not isinstance(value, list | tuple) or len(value) != 4:
        return None
    try:
        box = [float(v) for v in value]
    except (TypeError, ValueError):
        return None
    return box if all(math.isfinite(v) for v in box) else None


def check_box(
    box: list[float] | None, width: float, height: float, tolerance: float
) -> list[float]:
    """``box`` clipped to the ``width`` x ``height`` image.

    Raises:
        BadBoxError: missing, not four finite numbers, or empty (w or h <= 0).
        BoxOutsideImageError: reaches more than ``tolerance`` pixels beyond the image.
    """
    if box is None:
        raise BadBoxError("box missing or not four finite numbers")
    x, y, w, h = box
    if w <= 0 or h <= 0:
        raise BadBoxError(f"empty box {_shown(box)} (width or height <= 0)")
    if x < -tolerance or y < -tolerance or x + w > width + tolerance or y + h > height + tolerance:
        raise BoxOutsideImageError(
            f"box {_shown(box)} reaches outside the {width:g}x{height:g} image "
            f"(more than {tolerance:g} px)"
        )
    x0, y0 = max(0.0, x), max(0.0, y)
    x1, y1 = min(float(width), x + w), min(float(height), y + h)
    if x1 <= x0 or y1 <= y0:
        raise BoxOutsideImageError(
            f"box {_shown(box)} has no area inside the {width:g}x{height:g} image"
        )
    return [x0, y0, x1 - x0, y1 - y0]


def _shown(box: list[float]) -> str:
    """The box in a message (formatted only when one is raised: most boxes are fine)."""
    return "[" + ", ".join(f"{v:g}" for v in box) + "]"


def orient_box(box: list[float], orientation: int, width: float, height: float) -> list[float]:
    """A box on the stored ``width`` x ``height`` pixels, moved as ``ImageOps.exif_transpose``
    moves those pixels for EXIF ``orientation``."""
    x, y, w, h = box
    if orientation == 2:  # mirror left-right
        return [width - x - w, y, w, h]
    if orientation == 3:  # rotate 180
        return [width - x - w, height - y - h, w, h]
    if orientation == 4:  # mirror top-bottom
        return [x, height - y - h, w, h]
    if orientation == 5:  # transpose
        return [y, x, h, w]
    if orientation == 6:  # rotate 90 clockwise
        return [height - y - h, x, h, w]
    if orientation == 7:  # transverse
        return [height - y - h, width - x - w, h, w]
    if orientation == 8:  # rotate 90 counter-clockwise
        return [y, width - x - w, h, w]
    return [x, y, w, h]


@dataclass(frozen=True)
class BoxFrame:
    """Maps one image's annotation boxes onto its output image (see the module docstring).

    Attributes:
        geometry: The image's geometry.
        frame_width, frame_height: The size the annotation's boxes refer to.
        raw_frame: The boxes are on the stored pixels: the EXIF orientation applies to them.
        tolerance: Pixels a box may reach beyond the image (then clipped).
    """

    geometry: Geometry
    frame_width: float
    frame_height: float
    raw_frame: bool
    tolerance: float

    @classmethod
    def for_image(
        cls, geometry: Geometry, annotated_size: Any, tolerance: float
    ) -> tuple[BoxFrame, list[str]]:
        """The frame of the boxes, and a warning when the annotated size is not the file's."""
        g = geometry
        size = _size(annotated_size)
        if size is None:
            return cls(g, g.width, g.height, False, tolerance), []
        if g.orientation != 1 and size == (g.raw_width, g.raw_height):
            return cls(g, size[0], size[1], True, tolerance), []
        if size == (g.width, g.height):
            return cls(g, size[0], size[1], False, tolerance), []
        warning = (
            f"the annotation gives the image as {size[0]}x{size[1]}, the file is "
            f"{g.width}x{g.height}: boxes scaled to the file"
        )
        return cls(g, size[0], size[1], False, tolerance), [warning]

    def to_output(self, box: list[float] | None) -> list[float]:
        """The box in the ``size`` x ``size`` output image (clipped to it; may be empty there).

        Raises:
            BadBoxError, BoxOutsideImageError: see :func:`check_box`.
        """
        g = self.geometry
        box = check_box(box, self.frame_width, self.frame_height, self.tolerance)
        frame_width, frame_height = self.frame_width, self.frame_height
        if self.raw_frame:
            box = orient_box(box, g.orientation, frame_width, frame_height)
            if g.orientation in SWAPPING_ORIENTATIONS:
                frame_width, frame_height = frame_height, frame_width
        sx, sy = g.resized_width / frame_width, g.resized_height / frame_height
        x, y, w, h = box
        x0 = min(max(x * sx - g.crop_left, 0.0), g.size)
        y0 = min(max(y * sy - g.crop_top, 0.0), g.size)
        x1 = min(max((x + w) * sx - g.crop_left, 0.0), g.size)
        y1 = min(max((y + h) * sy - g.crop_top, 0.0), g.size)
        return [x0, y0, x1 - x0, y1 - y0]


def _size(value: Any) -> tuple[int, int] | None:
    """``(width, height)`` from an annotation, None unless both are positive integers."""
    if not isinstance(value, list | tuple) or len(value) != 2:
        return None
    try:
        width, height = (int(v) for v in value)
    except (TypeError, ValueError):
        return None
    return (width, height) if width > 0 and height > 0 else None
