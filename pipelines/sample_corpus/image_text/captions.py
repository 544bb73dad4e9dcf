"""English captions (COCO) and region phrases (Visual Genome) that describe a sampled scene.

Captions come from nine templates; five relation-free ones apply to every scene, so any scene
gets ``n <= 5`` captions from distinct templates (at least one states a relation when the scene
has any), e.g.:

    a small red circle left of a blue square
    there is a large green triangle above a yellow star
    the purple square is bigger than the orange circle
    a purple square, an orange circle and a small green star
    three shapes on a gradient background
    a large pink star in the top left of the image

A caption only states what is true of the scene: relations come from ``Scene.relations`` (clear
by construction) and positions are only named when the object's centre is clearly inside one
third of the image. Every choice is drawn from the given ``numpy.random.Generator``, so the same
generator state gives the same captions.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    Relation,
    Scene,
    SceneObject,
)

RELATION_WORDS = {
    "left of": ("left of", "to the left of", "on the left of"),
    "right of": ("right of", "to the right of", "on the right of"),
    "above": ("above", "over"),
    "below": ("below", "under", "beneath"),
    "bigger than": ("bigger than", "larger than"),
    "smaller than": ("smaller than",),
}
BACKGROUND_WORDS = {
    "solid": ("plain", "solid", "uniform"),
    "gradient": ("gradient", "shaded", "graded"),
    "texture": ("textured", "mottled", "cloudy"),
}
COUNT_WORDS = ("no", "one", "two", "three", "four", "five", "six")
PICTURE_WORDS = ("an image", "a picture", "a drawing", "a photo")
SHAPE_WORDS = ("shapes", "objects", "figures")
CAPTIONS_PER_IMAGE = 5


def _pick(options: tuple[str, ...] | list[str], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def with_article(phrase: str) -> str:
    """``"an orange circle"``, ``"a red square"``."""
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def object_phrase(obj: SceneObject, with_size: bool = True) -> str:
    """``"small red circle"`` (``with_size``) or ``"red circle"``."""
    words = (obj.size, obj.colour, obj.shape) if with_size else (obj.colour, obj.shape)
    return " ".join(words)


def relation_phrase(scene: Scene, relation: Relation, with_size: bool = False) -> str:
    """``"red circle left of blue square"``: the canonical words of a relation."""
    subject = object_phrase(scene.objects[relation.subject], with_size)
    obj = object_phrase(scene.objects[relation.object], with_size)
    return f"{subject} {relation.predicate} {obj}"


def position_phrase(obj: SceneObject, image_size: int) -> str | None:
    """``"top left"``, ``"bottom"``, ``"center"``..., or None unless the centre is clearly in
    one third of the image along both axes (not within 10% of the image of a third's border)."""

    def third(value: float, names: tuple[str, str, str]) -> str | None:
        t = value / image_size
        if t < 0.23:
            return names[0]
        if 0.43 < t < 0.57:
            return names[1]
        if t > 0.77:
            return names[2]
        return None

    cx, cy = obj.centre
    column = third(cx, ("left", "", "right"))
    row = third(cy, ("top", "", "bottom"))
    if column is None or row is None:
        return None
    return " ".join(w for w in (row, column) if w) or "center"


def _random_object(scene: Scene, rng: np.random.Generator) -> str:
    obj = scene.objects[int(rng.integers(len(scene.objects)))]
    return with_article(object_phrase(obj, with_size=bool(rng.random() < 0.5)))


def _listing(scene: Scene, rng: np.random.Generator) -> str:
    """Every object once, in random order: ``"a red circle, a small blue star and a ..."``."""
    order = rng.permutation(len(scene.objects))
    parts = [
        with_article(object_phrase(scene.objects[int(i)], with_size=bool(rng.random() < 0.5)))
        for i in order
    ]
    if len(parts) == 1:
        return parts[0]
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def _relation_parts(scene: Scene, rng: np.random.Generator) -> tuple[str, str, str, str, str]:
    """A random relation as (a subject, subject, words, an object, object) phrases."""
    relation = scene.relations[int(rng.integers(len(scene.relations)))]
    # Size words are redundant (and read oddly) next to "bigger than" / "smaller than".
    sized = "than" not in relation.predicate and bool(rng.random() < 0.5)
    subject = object_phrase(scene.objects[relation.subject], sized)
    obj = object_phrase(scene.objects[relation.object], sized)
    words = _pick(RELATION_WORDS[relation.predicate], rng)
    return with_article(subject), subject, words, with_article(obj), obj


def _relation_plain(scene: Scene, rng: np.random.Generator) -> str | None:
    if not scene.relations:
        return None
    a_subject, _, words, a_object, _ = _relation_parts(scene, rng)
    return f"{a_subject} {words} {a_object}"


def _relation_there_is(scene: Scene, rng: np.random.Generator) -> str | None:
    if not scene.relations:
        return None
    a_subject, _, words, a_object, _ = _relation_parts(scene, rng)
    return f"there is {a_subject} {words} {a_object}"


def _relation_the(scene: Scene, rng: np.random.Generator) -> str | None:
    if not scene.relations:
        return None
    _, subject, words, _, obj = _relation_parts(scene, rng)
    return f"the {subject} is {words} the {obj}"


def _position(scene: Scene, rng: np.random.Generator) -> str | None:
    placed = [
        (obj, where)
        for obj in scene.objects
        if (where := position_phrase(obj, scene.image_size)) is not None
    ]
    if not placed:
        return None
    obj, where = placed[int(rng.integers(len(placed)))]
    phrase = with_article(object_phrase(obj, with_size=bool(rng.random() < 0.5)))
    return f"{phrase} in the {where} of the image"


def _listing_only(scene: Scene, rng: np.random.Generator) -> str:
    return _listing(scene, rng)


def _picture_of(scene: Scene, rng: np.random.Generator) -> str:
    return f"{_pick(PICTURE_WORDS, rng)} of {_listing(scene, rng)}"


def _count_on_background(scene: Scene, rng: np.random.Generator) -> str:
    count = COUNT_WORDS[len(scene.objects)]
    noun = _pick(SHAPE_WORDS, rng) if len(scene.objects) != 1 else "shape"
    background = _pick(BACKGROUND_WORDS[scene.background.kind], rng)
    return f"{count} {noun} on a {background} background"


def _background_with(scene: Scene, rng: np.random.Generator) -> str:
    background = _pick(BACKGROUND_WORDS[scene.background.kind], rng)
    return f"{with_article(background)} background with {_listing(scene, rng)}"


def _one_among_others(scene: Scene, rng: np.random.Generator) -> str:
    others = len(scene.objects) - 1
    if others == 0:
        return f"{_random_object(scene, rng)} on its own"
    noun = "shape" if others == 1 else "shapes"
    return f"{_random_object(scene, rng)} and {COUNT_WORDS[others]} other {noun}"


CaptionTemplate = Callable[[Scene, np.random.Generator], str | None]
CAPTION_TEMPLATES: tuple[CaptionTemplate, ...] = (
    _relation_plain,
    _relation_there_is,
    _relation_the,
    _position,
    _listing_only,
    _picture_of,
    _count_on_background,
    _background_with,
    _one_among_others,
)
RELATION_TEMPLATES = (_relation_plain, _relation_there_is, _relation_the)


def make_captions(scene: Scene, rng: np.random.Generator, n: int = CAPTIONS_PER_IMAGE) -> list[str]:
    """``n`` captions of ``scene`` from distinct templates in random order; a scene with
    relations always gets at least one relation caption (n <= 5 always fits: five templates
    apply to any scene)."""
    order = [CAPTION_TEMPLATES[int(i)] for i in rng.permutation(len(CAPTION_TEMPLATES))]
    if scene.relations:
        first = next(t for t in order if t in RELATION_TEMPLATES)
        order = [first, *(t for t in order if t is not first)]
    captions: list[str] = []
    for template in order:
        if len(captions) == n:
            break
        caption = template(scene, rng)
        if caption is not None and caption not in captions:
            captions.append(caption)
    if len(captions) < n:
        raise ValueError(f"only {len(captions)} captions fit this scene, {n} asked")
    return captions


def region_descriptions(scene: Scene) -> list[tuple[str, tuple[int, int, int, int]]]:
    """Visual Genome region phrases with their ``(x, y, w, h)`` boxes: one per object
    (``"small red circle"``, its box) and one per relation (``"red circle left of blue
    square"``, the union of both boxes)."""
    regions = [(object_phrase(obj), obj.box) for obj in scene.objects]
    for relation in scene.relations:
        a, b = scene.objects[relation.subject], scene.objects[relation.object]
        x0, y0 = min(a.x, b.x), min(a.y, b.y)
        x1, y1 = max(a.x + a.w, b.x + b.w), max(a.y + a.h, b.y + b.h)
        regions.append((relation_phrase(scene, relation), (x0, y0, x1 - x0, y1 - y0)))
    return regions
