"""Drawn faces: a head sprite per track (hair, head, eyes, brows, nose, neck and shoulders) and
a mouth drawn on it every frame with the frame's opening.

Everything is an ellipse rendered with 4x4 supersampled coverage, so a mouth opening by a
fraction of a pixel darkens the mouth region by a matching amount: the mouth's darkness is a
smooth function of the opening, the signal the visual stream of an active speaker detector
must read (TalkNet crops the face and watches the lips over time). A closed mouth is a lip-
coloured line; opening it shows the dark inside.

Geometry in units of the head's semi-axes ``a`` (half width) and ``b`` (half height):
eyes at ``-0.1 b``, nose at ``0.18 b``, mouth at ``0.52 b`` with a half-height of up to
``0.2 b`` when fully open.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.av.cast import Appearance

SUPERSAMPLE = 4
MOUTH_Y = 0.52  # mouth centre below the head centre, in b
MOUTH_OPEN = 0.2  # half-height of a fully open mouth, in b
LIP = 0.06  # lip thickness around the opening, in b
MOUTH_INSIDE = (45.0, 14.0, 20.0)
# Hair ellipses (centre y, half width, half height) in units of (b, a, b), drawn behind the head.
HAIR_SHAPES = {"cap": (-0.22, 1.07, 0.95), "short": (-0.35, 1.0, 0.78), "long": (0.0, 1.2, 1.15)}
SHOULDER_DEPTH = 1.9  # the sprite reaches this many b below the chin


@dataclass(frozen=True)
class FaceGeometry:
    """Where a face's parts lie relative to the head centre, in pixels."""

    a: float  # head half width
    b: float  # head half height
    box: tuple[float, float, float, float]  # tight head box (left, top, right, bottom) offsets
    mouth_y: float
    mouth_half_width: float
    mouth_open: float  # half-height of the fully open mouth


def face_geometry(appearance: Appearance, head_width: float) -> FaceGeometry:
    """The geometry of ``appearance`` drawn with a head ``head_width`` px wide."""
    a = head_width / 2.0
    b = a * appearance.aspect
    hair_y, hair_a, hair_b = HAIR_SHAPES[appearance.hair_style]
    side = max(a, hair_a * a)
    top = min(-b, (hair_y - hair_b) * b)
    return FaceGeometry(
        a=a,
        b=b,
        box=(-side, top, side, b),
        mouth_y=MOUTH_Y * b,
        mouth_half_width=appearance.mouth_width * a,
        mouth_open=MOUTH_OPEN * b,
    )


def ellipse_coverage(
    height: int, width: int, cx: float, cy: float, rx: float, ry: float
) -> np.ndarray:
    """[height, width] share of each pixel (pixel (i, j) spans [j, j+1) x [i, i+1)) inside the
    ellipse centred at (cx, cy) with half-axes (rx, ry)."""
    if rx <= 0.0 or ry <= 0.0:
        return np.zeros((height, width), np.float32)
    offsets = (np.arange(SUPERSAMPLE, dtype=np.float32) + 0.5) / SUPERSAMPLE
    xs = ((np.arange(width, dtype=np.float32)[:, None] + offsets).ravel() - cx) / rx
    ys = ((np.arange(height, dtype=np.float32)[:, None] + offsets).ravel() - cy) / ry
    inside = (ys[:, None] ** 2 + xs[None, :] ** 2) <= 1.0
    return (
        inside.reshape(height, SUPERSAMPLE, width, SUPERSAMPLE)
        .mean(axis=(1, 3), dtype=np.float32)
        .astype(np.float32)
    )


def _paint(
    rgb: np.ndarray, alpha: np.ndarray, cover: np.ndarray, colour: tuple[float, ...]
) -> None:
    """Paint ``colour`` over the sprite with per-pixel ``cover`` ("over" compositing on
    colours premultiplied by alpha; in place)."""
    c = cover[..., None]
    rgb *= 1.0 - c
    rgb += c * np.asarray(colour, np.float32)
    alpha *= 1.0 - cover
    alpha += cover


def _shade(colour: tuple[int, ...], factor: float) -> tuple[float, ...]:
    return tuple(min(255.0, c * factor) for c in colour)


@dataclass(frozen=True)
class FaceSprite:
    """A pre-drawn face (no mouth) with its origin: the head centre is at pixel coordinates
    (``cx``, ``cy``) of the sprite."""

    rgb_open: np.ndarray  # [h, w, 3] float32, eyes open
    rgb_closed: np.ndarray  # [h, w, 3] float32, eyes closed
    alpha: np.ndarray  # [h, w, 1] float32
    cx: float
    cy: float
    geometry: FaceGeometry
    lips: tuple[int, int, int]


def draw_face_sprite(
    appearance: Appearance, head_width: float, subpixel: tuple[float, float]
) -> FaceSprite:
    """The face of ``appearance`` with its head centre at fractional offset ``subpixel``."""
    g = face_geometry(appearance, head_width)
    a, b = g.a, g.b
    hair_y, hair_a, hair_b = HAIR_SHAPES[appearance.hair_style]
    cx = math.ceil(max(1.9 * a, hair_a * a)) + 1 + subpixel[0]
    cy = math.ceil(-g.box[1]) + 1 + subpixel[1]
    width = int(2 * math.ceil(cx))
    height = int(math.ceil(cy + b * (1.0 + SHOULDER_DEPTH)))
    rgb = np.zeros((height, width, 3), np.float32)
    alpha = np.zeros((height, width), np.float32)

    def paint(x: float, y: float, rx: float, ry: float, colour: tuple[float, ...]) -> None:
        _paint(rgb, alpha, ellipse_coverage(height, width, cx + x, cy + y, rx, ry), colour)

    skin = appearance.skin
    paint(0.0, b * (1.0 + 0.95), 1.9 * a, 0.95 * b, appearance.shirt)  # shoulders
    paint(0.0, b * 0.95, 0.42 * a, 0.5 * b, _shade(skin, 0.86))  # neck
    paint(0.0, hair_y * b, hair_a * a, hair_b * b, appearance.hair)
    paint(0.0, 0.0, a, b, skin)
    paint(0.0, 0.18 * b, 0.09 * a, 0.14 * b, _shade(skin, 0.88))  # nose
    eye_dx = appearance.eye_spacing * a
    for side in (-1.0, 1.0):
        paint(side * eye_dx, -0.36 * b, 0.24 * a, 0.045 * b, appearance.hair)  # brow
    closed = rgb.copy()
    closed_alpha = alpha.copy()
    for side in (-1.0, 1.0):
        paint(side * eye_dx, -0.1 * b, 0.2 * a, 0.11 * b, (236.0, 236.0, 230.0))
        paint(side * eye_dx, -0.1 * b, 0.09 * a, 0.1 * b, (30.0, 26.0, 24.0))
        lid = ellipse_coverage(height, width, cx + side * eye_dx, cy - 0.1 * b, 0.2 * a, 0.03 * b)
        _paint(closed, closed_alpha, lid, _shade(skin, 0.6))
    return FaceSprite(
        rgb_open=rgb,
        rgb_closed=closed,
        alpha=alpha[..., None],
        cx=cx,
        cy=cy,
        geometry=g,
        lips=appearance.lips,
    )


def paste_face(
    frame: np.ndarray, sprite: FaceSprite, left: int, top: int, eyes_closed: bool
) -> None:
    """Alpha-blend ``sprite`` into float32 ``frame`` [H, W, 3] with its top-left corner at
    (left, top), clipped to the frame (in place)."""
    h, w = sprite.alpha.shape[:2]
    y0, x0 = max(top, 0), max(left, 0)
    y1, x1 = min(top + h, frame.shape[0]), min(left + w, frame.shape[1])
    if y0 >= y1 or x0 >= x1:
        return
    rgb = sprite.rgb_closed if eyes_closed else sprite.rgb_open
    src = (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))
    alpha = sprite.alpha[src]
    region = frame[y0:y1, x0:x1]
    region *= 1.0 - alpha
    region += rgb[src]  # the sprite's colours are premultiplied by its alpha


def draw_mouth(
    frame: np.ndarray, sprite: FaceSprite, head_x: float, head_y: float, opening: float
) -> None:
    """Draw the mouth of the face whose head centre is at (head_x, head_y) in ``frame``, open
    by ``opening`` (0 closed .. 1 fully open; values are clipped), in place."""
    g = sprite.geometry
    opening = float(np.clip(opening, 0.0, 1.0))
    inner_ry = opening * g.mouth_open
    lip_ry = inner_ry + LIP * g.b + 0.6
    lip_rx = g.mouth_half_width + 0.8
    mx, my = head_x, head_y + g.mouth_y
    x0, x1 = int(math.floor(mx - lip_rx)) - 1, int(math.ceil(mx + lip_rx)) + 1
    y0, y1 = int(math.floor(my - lip_ry)) - 1, int(math.ceil(my + lip_ry)) + 1
    x0, y0 = max(x0, 0), max(y0, 0)
    x1, y1 = min(x1, frame.shape[1]), min(y1, frame.shape[0])
    if x0 >= x1 or y0 >= y1:
        return
    region = frame[y0:y1, x0:x1]
    h, w = region.shape[:2]
    lips = ellipse_coverage(h, w, mx - x0, my - y0, lip_rx, lip_ry)[..., None]
    region *= 1.0 - lips
    region += lips * np.asarray(sprite.lips, np.float32)
    if inner_ry > 0.0:
        inner_rx = g.mouth_half_width * (0.8 + 0.2 * opening)
        inside = ellipse_coverage(h, w, mx - x0, my - y0, inner_rx, inner_ry)[..., None]
        region *= 1.0 - inside
        region += inside * np.asarray(MOUTH_INSIDE, np.float32)
