"""Face boxes: interpolated to every 25 fps frame, enlarged as TalkNet crops faces, clamped.

Interpolation: AVA annotates boxes at the movie's own frame times (about 20-30 per second);
each coordinate is interpolated linearly between the two annotated instants around a frame time
(held constant outside the annotated span).

Enlargement (TalkNet, Tao et al., ACM MM 2021, the face-crop step of its ``demoTalkNet.py``
with ``cropScale`` cs = 0.4): with the box centre (mx, my) and half-size
bs = max(w, h) / 2 in pixels, the crop is the square::

    left   = mx - bs * (1 + cs)        right  = mx + bs * (1 + cs)
    top    = my - bs                   bottom = my + bs * (1 + 2 * cs)

of side 2 * bs * (1 + cs): centred horizontally on the face, starting at the top of a square
face box and reaching 2 * cs * bs further down than up, so the face sits in the upper part and
the mouth and chin are well inside. cs = 0 gives the tight square around the box centre. TalkNet
also smooths detector boxes with a median filter; AVA boxes are annotated, so none is applied.

Clamping: TalkNet pads the frame with grey (110) so the crop can leave it; the issue asks for
boxes clamped to the frame, the default here (``out_of_frame="clamp"``: the crop window is cut
to the frame, and the part left is resized to the square output). ``out_of_frame="pad"``
reproduces TalkNet's grey padding, which keeps the face's aspect ratio at the frame border.
"""

from __future__ import annotations

import numpy as np

OUT_OF_FRAME_MODES: tuple[str, ...] = ("clamp", "pad")
# TalkNet's padding grey level.
PAD_VALUE = 110


def interpolate_boxes(times: np.ndarray, boxes: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Boxes ``[len(query), 4]`` at the ``query`` times, linear between annotated ``times``.

    Args:
        times: Annotated instants, sorted ascending, ``[n]``.
        boxes: Their boxes ``[n, 4]`` (any units).
        query: Times to interpolate at.
    """
    times = np.asarray(times, dtype=np.float64)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    query = np.asarray(query, dtype=np.float64)
    return np.stack([np.interp(query, times, boxes[:, c]) for c in range(4)], axis=1)


def to_pixels(boxes: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalised ``[m, 4]`` (x1, y1, x2, y2) boxes in pixel units."""
    return np.asarray(boxes, dtype=np.float64) * np.array([width, height, width, height])


def talknet_crop_windows(boxes_px: np.ndarray, crop_scale: float = 0.4) -> np.ndarray:
    """TalkNet's square crop window ``[m, 4]`` (left, top, right, bottom) of each pixel box."""
    boxes_px = np.asarray(boxes_px, dtype=np.float64).reshape(-1, 4)
    mx = (boxes_px[:, 0] + boxes_px[:, 2]) / 2
    my = (boxes_px[:, 1] + boxes_px[:, 3]) / 2
    bs = np.maximum(boxes_px[:, 2] - boxes_px[:, 0], boxes_px[:, 3] - boxes_px[:, 1]) / 2
    half_width = bs * (1 + crop_scale)
    return np.stack([mx - half_width, my - bs, mx + half_width, my + bs * (1 + 2 * crop_scale)], 1)


def pixel_windows(windows: np.ndarray) -> np.ndarray:
    """Windows rounded to whole pixels, at least one pixel wide and high (int64 ``[m, 4]``)."""
    w = np.rint(np.asarray(windows, dtype=np.float64)).astype(np.int64).reshape(-1, 4)
    w[:, 2] = np.maximum(w[:, 2], w[:, 0] + 1)
    w[:, 3] = np.maximum(w[:, 3], w[:, 1] + 1)
    return w


def clamp_windows(windows: np.ndarray, width: int, height: int) -> np.ndarray:
    """Pixel windows cut to the frame, each still at least one pixel (int64 ``[m, 4]``).

    A window entirely outside the frame (a box annotated at the very border) keeps the one
    row or column of the frame nearest to it.
    """
    w = pixel_windows(windows)
    w[:, 0] = np.clip(w[:, 0], 0, width - 1)
    w[:, 1] = np.clip(w[:, 1], 0, height - 1)
    w[:, 2] = np.clip(w[:, 2], w[:, 0] + 1, width)
    w[:, 3] = np.clip(w[:, 3], w[:, 1] + 1, height)
    return w
