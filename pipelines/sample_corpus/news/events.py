"""News events: each has a name and hashtag (English and Chinese) and its own look.

An event's scenes use a subset of the shapes and colours and, with ``own_background``
(``NewsSampleConfig.event_backgrounds``, off by default), one or two background kinds and a
background palette (grey level and tint) of its own, so images of one event resemble each other
and differ from other events' images, as photos of one news story do; the hashtag and event
words do the same for the text. Labels are balanced within every event, so neither the look nor
the hashtag tells real from fake; they make event-disjoint splits meaningful (a model meets new
looks and words on unseen events).

Event ``i`` of a layout is drawn from ``default_rng([seed, layout_code, EVENT_STREAM + i])``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    BACKGROUND_KINDS,
    COLOURS,
    SHAPES,
    Background,
    Scene,
    SceneConfig,
    sample_background,
    sample_scene,
)

PLACES = (
    ("harbor", "港口"),
    ("valley", "山谷"),
    ("metro", "地铁"),
    ("river", "河畔"),
    ("coast", "海岸"),
    ("summit", "山顶"),
    ("canyon", "峡谷"),
    ("island", "海岛"),
    ("desert", "沙漠"),
    ("forest", "森林"),
    ("bridge", "大桥"),
    ("plaza", "广场"),
    ("tower", "高塔"),
    ("lagoon", "泻湖"),
    ("prairie", "草原"),
    ("glacier", "冰川"),
)
HAPPENINGS = (
    ("flood", "洪水"),
    ("storm", "风暴"),
    ("quake", "地震"),
    ("fire", "火灾"),
    ("blackout", "停电"),
    ("parade", "游行"),
    ("eclipse", "日食"),
    ("rescue", "救援"),
    ("crash", "车祸"),
    ("protest", "抗议"),
    ("marathon", "马拉松"),
    ("festival", "节庆"),
    ("heatwave", "热浪"),
    ("landslide", "山体滑坡"),
    ("tornado", "龙卷风"),
    ("spill", "泄漏"),
)
LAYOUT_CODES = {"mediaeval": 1, "weibo": 2}
EVENT_STREAM = 1_000_000  # event rngs live apart from the post rngs (post index < 1e6)
FIRST_DAY = datetime(2012, 1, 1)


@dataclass(frozen=True)
class Event:
    """One news event of a layout and the look of its scenes."""

    index: int
    name: str  # "harborFlood": MediaEval event column and image folder
    words_en: str  # "harbor flood"
    words_zh: str  # "港口洪水"
    shapes: tuple[str, ...]
    colours: tuple[str, ...]
    background_kinds: tuple[str, ...]
    grey: float  # background brightness, 0..255
    tint: tuple[float, float, float]  # added to every background colour
    texture_cells: tuple[int, int]  # texture grid side range, inclusive
    start: datetime  # posts fall in the four days from here
    own_background: bool = True  # False: backgrounds as the image-text generator draws them

    @property
    def hashtag_en(self) -> str:
        return f"#{self.name}"

    @property
    def hashtag_zh(self) -> str:
        return f"#{self.words_zh}#"

    @property
    def combos(self) -> list[tuple[str, str]]:
        """Every (shape, colour) an object of this event may have."""
        return [(s, c) for s in self.shapes for c in self.colours]


def event_name(index: int) -> tuple[str, str, str]:
    """(``harborFlood``, ``harbor flood``, ``港口洪水``): distinct for ``index`` < 256, since the
    happening index ``(index // 16 + 5 * place) % 16`` fixes ``index // 16`` given the place."""
    place = index % len(PLACES)
    happening = (index // len(PLACES) + 5 * place) % len(HAPPENINGS)
    (place_en, place_zh), (what_en, what_zh) = PLACES[place], HAPPENINGS[happening]
    return place_en + what_en.capitalize(), f"{place_en} {what_en}", place_zh + what_zh


def make_event(
    seed: int,
    layout: str,
    index: int,
    n_shapes: int,
    n_colours: int,
    own_background: bool = True,
) -> Event:
    """Event ``index`` of ``layout``: a pure function of its arguments."""
    rng = np.random.default_rng([seed, LAYOUT_CODES[layout], EVENT_STREAM + index])
    name, words_en, words_zh = event_name(index)
    shapes = tuple(SHAPES[i] for i in sorted(rng.choice(len(SHAPES), n_shapes, replace=False)))
    colour_names = list(COLOURS)
    picks = sorted(rng.choice(len(colour_names), n_colours, replace=False))
    n_kinds = int(rng.integers(1, 3))  # one or two background kinds
    kinds = sorted(rng.choice(len(BACKGROUND_KINDS), n_kinds, replace=False))
    low_cells = int(rng.integers(3, 7))
    return Event(
        index=index,
        name=name,
        words_en=words_en,
        words_zh=words_zh,
        shapes=shapes,
        colours=tuple(colour_names[i] for i in picks),
        background_kinds=tuple(BACKGROUND_KINDS[i] for i in kinds),
        grey=float(rng.uniform(95, 165)),
        tint=tuple(float(v) for v in rng.uniform(-22, 22, size=3)),  # type: ignore[arg-type]
        texture_cells=(low_cells, low_cells + 2),
        start=FIRST_DAY + timedelta(days=int(rng.integers(0, 1400))),
        own_background=own_background,
    )


def sample_event_background(event: Event, rng: np.random.Generator) -> Background:
    """A muted background in the event's palette (objects still stand out against it), or,
    for an event without a background of its own, any background of the image-text generator."""
    if not event.own_background:
        return sample_background(rng)

    def colour() -> tuple[int, int, int]:
        level = event.grey + rng.uniform(-22, 22)
        rgb = level + np.asarray(event.tint) + rng.uniform(-6, 6, size=3)
        return tuple(int(v) for v in np.clip(rgb, 0, 255))  # type: ignore[return-value]

    kind = event.background_kinds[int(rng.integers(len(event.background_kinds)))]
    low, high = event.texture_cells
    return Background(
        kind=kind,
        colour_a=colour(),
        colour_b=colour(),
        angle=float(rng.uniform(0, 2 * np.pi)),
        texture_cells=int(rng.integers(low, high + 1)),
        texture_seed=int(rng.integers(2**31)),
    )


def sample_event_scene(event: Event, config: SceneConfig, rng: np.random.Generator) -> Scene:
    """A scene of the event: the image-text generator's layout (positions, sizes, relations),
    objects recoloured and reshaped to distinct (shape, colour) pairs of the event, on a
    background of the event's palette. Placement never depends on shape or colour, so relations
    stay as sampled."""
    scene = sample_scene(config, rng)
    combos = event.combos
    picks = rng.choice(len(combos), size=len(scene.objects), replace=False)
    objects = tuple(
        dataclasses.replace(obj, shape=combos[int(k)][0], colour=combos[int(k)][1])
        for obj, k in zip(scene.objects, picks, strict=True)
    )
    return dataclasses.replace(
        scene, objects=objects, background=sample_event_background(event, rng)
    )
