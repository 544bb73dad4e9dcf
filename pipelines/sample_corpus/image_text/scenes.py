"""Sample and render synthetic scenes of coloured shapes, with the spatial relations between them.

A scene is a few objects (shape, colour, size, square box) on a low-saturation background
(solid, gradient or blotchy texture) with Gaussian pixel noise. Objects are placed by rejection
sampling so that boxes never touch, and every (shape, colour) occurs at most once per scene, so a
phrase such as "red circle" names exactly one object. Relations ("left of", "above", "bigger
than", ...) are derived from the boxes with a margin and only kept where they are clear.

Everything here is a pure function of a config and a ``numpy.random.Generator``; rendering is a
pure function of the scene (its noise has its own seeds), so a scene renders to the same pixels
every time. At 128 px one scene samples and renders in about 1 ms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

SHAPES = ("circle", "square", "triangle", "star", "diamond", "cross")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 35),
    "green": (30, 165, 60),
    "blue": (35, 75, 230),
    "yellow": (250, 220, 30),
    "purple": (135, 45, 190),
    "orange": (250, 135, 15),
    "pink": (245, 110, 185),
}
SIZES = ("small", "large")
# Side of an object's box as a fraction of the image side: 22 and 41 px at 128 px.
SIZE_FRACTIONS = {"small": 0.17, "large": 0.32}
BACKGROUND_KINDS = ("solid", "gradient", "texture")
# Relation predicate -> its converse ("a left of b" == "b right of a").
CONVERSE = {
    "left of": "right of",
    "right of": "left of",
    "above": "below",
    "below": "above",
    "bigger than": "smaller than",
    "smaller than": "bigger than",
}
PREDICATES = tuple(CONVERSE)
GAP_FRACTION = 0.03  # least empty space between two boxes (4 px at 128 px)
MARGIN_FRACTION = 0.04  # "left of" needs this much space between the boxes (5 px at 128 px)
SUPERSAMPLE = 2  # shapes are drawn at 2x and averaged down: anti-aliased edges


@dataclass(frozen=True)
class SceneConfig:
    """What a sampled scene may hold.

    Attributes:
        image_size: side of the square image in pixels.
        min_objects: fewest objects in a scene.
        max_objects: most objects in a scene.
        seed: base seed; scene ``i`` uses ``scene_rng(config, i)``.
    """

    image_size: int = 128
    min_objects: int = 2
    max_objects: int = 4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 32:
            raise ValueError(f"image_size must be at least 32 px, got {self.image_size}")
        if not 1 <= self.min_objects <= self.max_objects <= 6:
            raise ValueError(
                f"need 1 <= min_objects <= max_objects <= 6, got {self.min_objects}, "
                f"{self.max_objects}"
            )


@dataclass(frozen=True)
class SceneObject:
    """One shape; ``(x, y)`` is the top-left corner of its square ``w x h`` box in pixels."""

    shape: str
    colour: str
    size: str
    x: int
    y: int
    w: int
    h: int

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)``, the COCO / Visual Genome box convention."""
        return (self.x, self.y, self.w, self.h)

    @property
    def centre(self) -> tuple[float, float]:
        return (self.x + self.w / 2, self.y + self.h / 2)


@dataclass(frozen=True)
class Relation:
    """``objects[subject] <predicate> objects[object]``, e.g. (0, "left of", 2)."""

    subject: int
    predicate: str
    object: int


@dataclass(frozen=True)
class Background:
    """Interpolation between two colours: constant (solid), linear (gradient) or blotchy."""

    kind: str
    colour_a: tuple[int, int, int]
    colour_b: tuple[int, int, int]
    angle: float  # gradient direction in radians
    texture_cells: int  # texture: side of the random grid that is smoothly upsampled
    texture_seed: int


@dataclass(frozen=True)
class Scene:
    """A sampled scene: everything needed to render it and to describe it."""

    image_size: int
    background: Background
    objects: tuple[SceneObject, ...]
    relations: tuple[Relation, ...]
    noise_sigma: float
    noise_seed: int


def scene_rng(config: SceneConfig, index: int) -> np.random.Generator:
    """The generator of scene ``index``: independent of every other scene and of the order."""
    return np.random.default_rng([config.seed, index])


def object_side(size: str, image_size: int) -> int:
    """Side of an object's box in pixels."""
    return max(4, round(SIZE_FRACTIONS[size] * image_size))


def _gap(image_size: int) -> int:
    return max(1, round(GAP_FRACTION * image_size))


def relation_margin(image_size: int) -> int:
    """Space between two boxes for "left of" / "above" to count as clear."""
    return max(2, round(MARGIN_FRACTION * image_size))


def _boxes_apart(a: tuple[int, int, int, int], b: tuple[int, int, int, int], gap: int) -> bool:
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    return ax + aw + gap <= bx or bx + bw + gap <= ax or ay + ah + gap <= by or by + bh + gap <= ay


def _place(
    side: int,
    placed: list[SceneObject],
    image_size: int,
    rng: np.random.Generator,
    exhaustive: bool = False,
) -> tuple[int, int] | None:
    """A top-left corner for a ``side`` box clear of every placed box: 60 random tries, then
    (``exhaustive``) the first free corner in reading order; None when there is no room."""
    border = max(1, image_size // 64)
    high = image_size - side - border
    gap = _gap(image_size)

    def free(x: int, y: int) -> bool:
        return all(_boxes_apart((x, y, side, side), o.box, gap) for o in placed)

    for _ in range(60):
        x, y = (int(v) for v in rng.integers(border, high + 1, size=2))
        if free(x, y):
            return x, y
    if exhaustive:
        for y in range(border, high + 1):
            for x in range(border, high + 1):
                if free(x, y):
                    return x, y
    return None


def sample_background(rng: np.random.Generator) -> Background:
    """A low-saturation background, so every object colour stands out against it."""

    def muted() -> tuple[int, int, int]:
        grey = rng.uniform(80, 180)
        tint = rng.uniform(-18, 18, size=3)
        return tuple(int(v) for v in np.clip(grey + tint, 0, 255))  # type: ignore[return-value]

    kind = BACKGROUND_KINDS[int(rng.integers(len(BACKGROUND_KINDS)))]
    return Background(
        kind=kind,
        colour_a=muted(),
        colour_b=muted(),
        angle=float(rng.uniform(0, 2 * np.pi)),
        texture_cells=int(rng.integers(3, 9)),
        texture_seed=int(rng.integers(2**31)),
    )


def sample_objects(config: SceneConfig, rng: np.random.Generator) -> tuple[SceneObject, ...]:
    """Between ``min_objects`` and ``max_objects`` objects with distinct (shape, colour).

    An object that finds no room at its size is tried small, then dropped, except that the
    first ``min_objects`` objects then search every free corner.
    """
    size_px = config.image_size
    n = int(rng.integers(config.min_objects, config.max_objects + 1))
    combos = [(s, c) for s in SHAPES for c in COLOURS]
    picks = rng.choice(len(combos), size=n, replace=False)
    placed: list[SceneObject] = []
    for pick in picks:
        shape, colour = combos[int(pick)]
        size = SIZES[int(rng.integers(len(SIZES)))]
        corner = _place(object_side(size, size_px), placed, size_px, rng)
        if corner is None:
            size = "small"
            must = len(placed) < config.min_objects
            corner = _place(object_side(size, size_px), placed, size_px, rng, exhaustive=must)
        if corner is None:
            continue
        side = object_side(size, size_px)
        placed.append(SceneObject(shape, colour, size, corner[0], corner[1], side, side))
    return tuple(placed)


def relation_holds(a: SceneObject, predicate: str, b: SceneObject, margin: int) -> bool:
    """Whether ``a <predicate> b`` is clearly true: the boxes are ``margin`` apart along the
    axis (left/right/above/below) or the sizes differ (bigger/smaller)."""
    if predicate == "left of":
        return a.x + a.w + margin <= b.x
    if predicate == "right of":
        return b.x + b.w + margin <= a.x
    if predicate == "above":
        return a.y + a.h + margin <= b.y
    if predicate == "below":
        return b.y + b.h + margin <= a.y
    if predicate == "bigger than":
        return a.size == "large" and b.size == "small"
    if predicate == "smaller than":
        return a.size == "small" and b.size == "large"
    raise ValueError(f"unknown predicate {predicate!r}")


def clear_relations(objects: tuple[SceneObject, ...], margin: int) -> list[Relation]:
    """Every clear relation between every ordered pair of objects (both directions)."""
    return [
        Relation(i, predicate, j)
        for i, a in enumerate(objects)
        for j, b in enumerate(objects)
        if i != j
        for predicate in PREDICATES
        if relation_holds(a, predicate, b, margin)
    ]


def sample_relations(
    objects: tuple[SceneObject, ...], margin: int, rng: np.random.Generator
) -> tuple[Relation, ...]:
    """One direction of each clear relation per unordered pair and axis, chosen at random:
    "a left of b" or "b right of a", never both."""
    chosen = []
    for i in range(len(objects)):
        for j in range(i + 1, len(objects)):
            for predicate in ("left of", "above", "bigger than"):
                if not relation_holds(objects[i], predicate, objects[j], margin):
                    predicate = CONVERSE[predicate]
                    if not relation_holds(objects[i], predicate, objects[j], margin):
                        continue
                if rng.random() < 0.5:
                    chosen.append(Relation(i, predicate, j))
                else:
                    chosen.append(Relation(j, CONVERSE[predicate], i))
    return tuple(chosen)


def sample_scene(config: SceneConfig, rng: np.random.Generator) -> Scene:
    """A random scene: background, objects, clear relations and pixel-noise level."""
    background = sample_background(rng)
    objects = sample_objects(config, rng)
    relations = sample_relations(objects, relation_margin(config.image_size), rng)
    return Scene(
        image_size=config.image_size,
        background=background,
        objects=objects,
        relations=relations,
        noise_sigma=float(rng.uniform(2.0, 8.0)),
        noise_seed=int(rng.integers(2**31)),
    )


def _unit_polygon(shape: str) -> np.ndarray:
    """Vertices of a polygon shape in the unit square (touching all four sides)."""
    if shape == "triangle":
        points = np.array([[0.5, 0.0], [1.0, 1.0], [0.0, 1.0]])
    elif shape == "diamond":
        points = np.array([[0.5, 0.0], [1.0, 0.5], [0.5, 1.0], [0.0, 0.5]])
    elif shape == "star":
        angles = -np.pi / 2 + np.arange(10) * np.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, 1.0, 0.42)
        points = np.column_stack([radii * np.cos(angles), radii * np.sin(angles)])
    elif shape == "cross":
        a, b = 0.32, 0.68
        points = np.array(
            [[a, 0], [b, 0], [b, a], [1, a], [1, b], [b, b], [b, 1], [a, 1], [a, b], [0, b]]
            + [[0, a], [a, a]],
            dtype=float,
        )
    else:
        raise ValueError(f"{shape!r} is not a polygon shape")
    low, high = points.min(axis=0), points.max(axis=0)
    return (points - low) / (high - low)


def _draw_object(draw: ImageDraw.ImageDraw, obj: SceneObject, scale: int, fill) -> None:
    x0, y0 = obj.x * scale, obj.y * scale
    x1, y1 = (obj.x + obj.w) * scale - 1, (obj.y + obj.h) * scale - 1
    if obj.shape == "circle":
        draw.ellipse((x0, y0, x1, y1), fill=fill)
    elif obj.shape == "square":
        draw.rectangle((x0, y0, x1, y1), fill=fill)
    else:
        unit = _unit_polygon(obj.shape)
        points = unit * np.array([x1 - x0, y1 - y0]) + np.array([x0, y0])
        draw.polygon([tuple(p) for p in points.tolist()], fill=fill)


def render_background(background: Background, image_size: int) -> np.ndarray:
    """The background as float32 ``(image_size, image_size, 3)`` in 0..255."""
    n = image_size
    a = np.asarray(background.colour_a, dtype=np.float32)
    b = np.asarray(background.colour_b, dtype=np.float32)
    if background.kind == "solid":
        t = np.zeros((n, n), dtype=np.float32)
    elif background.kind == "gradient":
        yy, xx = np.mgrid[0:n, 0:n].astype(np.float32) / max(n - 1, 1)
        t = xx * np.cos(background.angle) + yy * np.sin(background.angle)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
    elif background.kind == "texture":
        cells = np.random.default_rng(background.texture_seed).random(
            (background.texture_cells, background.texture_cells)
        )
        small = Image.fromarray(cells.astype(np.float32))  # mode "F"
        t = np.asarray(small.resize((n, n), Image.Resampling.BICUBIC), dtype=np.float32)
        t = np.clip(t, 0.0, 1.0)
    else:
        raise ValueError(f"unknown background kind {background.kind!r}")
    return a + t[..., None] * (b - a)  # (n, n, 3)


def render_scene(scene: Scene) -> Image.Image:
    """The scene as an RGB image: background, anti-aliased shapes, then pixel noise."""
    n, s = scene.image_size, SUPERSAMPLE
    colour_layer = Image.new("RGB", (n * s, n * s))
    mask_layer = Image.new("L", (n * s, n * s))
    draw_colour, draw_mask = ImageDraw.Draw(colour_layer), ImageDraw.Draw(mask_layer)
    for obj in scene.objects:
        _draw_object(draw_colour, obj, s, COLOURS[obj.colour])
        _draw_object(draw_mask, obj, s, 255)
    # Box-average each s x s block. Around a shape the colour layer is black, so the averaged
    # colour is already premultiplied by the coverage alpha: out = bg * (1 - alpha) + colour.
    colour = np.asarray(colour_layer.reduce(s), dtype=np.float32)  # (n, n, 3)
    alpha = np.asarray(mask_layer.reduce(s), dtype=np.float32)[..., None] / 255  # (n, n, 1)
    pixels = render_background(scene.background, n) * (1 - alpha) + colour
    noise_rng = np.random.default_rng(scene.noise_seed)
    pixels += scene.noise_sigma * noise_rng.standard_normal(pixels.shape, dtype=np.float32)
    pixels = np.clip(np.rint(pixels), 0, 255).astype(np.uint8)
    return Image.fromarray(pixels)  # (n, n, 3) uint8: mode "RGB"
