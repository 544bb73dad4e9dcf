"""What a caption claims about a scene, and whether a scene bears it out.

The image-text generator's nine caption templates (``captions.py``) use a closed vocabulary, so
a caption parses back into a ``Claim``: the objects it names (colour, shape, size if given),
a relation between two of them, a position, a count, a background kind. ``claim_holds`` checks
a claim against any scene, which is how the generator knows a fake post's text really disagrees
with its image (and an ambiguous post's text agrees with both versions of its scene), how the
Chinese captions say the same thing, and how the tests check the corpus::

    "a small red circle left of a blue square"   red circle (small) and blue square exist,
                                                 and the circle is clearly left of the square
    "three shapes on a mottled background"       three objects, background kind "texture"
    "a picture of a red circle and a blue star"  exactly these two objects
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from crossmodal_ray.pipelines.sample_corpus.image_text.captions import (
    BACKGROUND_WORDS,
    COUNT_WORDS,
    PICTURE_WORDS,
    RELATION_WORDS,
    SHAPE_WORDS,
    position_phrase,
)
from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    COLOURS,
    SHAPES,
    SIZES,
    Scene,
    relation_holds,
    relation_margin,
)

POSITIONS = (
    "top left",
    "top right",
    "bottom left",
    "bottom right",
    "top",
    "bottom",
    "left",
    "right",
    "center",
)
# Template forms, named after captions.py's template functions.
RELATION_FORMS = ("relation_plain", "relation_there_is", "relation_the")


def _alternatives(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_OBJ = rf"(?:(?:{_alternatives(SIZES)}) )?(?:{_alternatives(COLOURS)}) (?:{_alternatives(SHAPES)})"
_OBJ_PARTS = re.compile(
    rf"(?:({_alternatives(SIZES)}) )?({_alternatives(COLOURS)}) ({_alternatives(SHAPES)})"
)
_WORD_PREDICATE = {w: p for p, words in RELATION_WORDS.items() for w in words}
_REL = _alternatives(_WORD_PREDICATE)
_WORD_BACKGROUND = {w: kind for kind, words in BACKGROUND_WORDS.items() for w in words}
_BG = _alternatives(_WORD_BACKGROUND)
_COUNT = _alternatives(COUNT_WORDS)
_A = "an? "
_LISTING = rf"{_A}{_OBJ}(?:(?:, {_A}{_OBJ})* and {_A}{_OBJ})?"
_FORMS = (
    ("relation_there_is", rf"there is {_A}(?P<s>{_OBJ}) (?P<r>{_REL}) {_A}(?P<o>{_OBJ})"),
    ("relation_the", rf"the (?P<s>{_OBJ}) is (?P<r>{_REL}) the (?P<o>{_OBJ})"),
    ("relation_plain", rf"{_A}(?P<s>{_OBJ}) (?P<r>{_REL}) {_A}(?P<o>{_OBJ})"),
    ("position", rf"{_A}(?P<s>{_OBJ}) in the (?P<w>{_alternatives(POSITIONS)}) of the image"),
    (
        "count_on_background",
        rf"(?P<n>{_COUNT}) (?:{_alternatives((*SHAPE_WORDS, 'shape'))}) on {_A}(?P<b>{_BG}) background",
    ),
    ("background_with", rf"{_A}(?P<b>{_BG}) background with (?P<l>{_LISTING})"),
    ("picture_of", rf"(?:{_alternatives(PICTURE_WORDS)}) of (?P<l>{_LISTING})"),
    ("one_among_others", rf"{_A}(?P<s>{_OBJ}) and (?P<n>{_COUNT}) other shapes?"),
    ("one_on_its_own", rf"{_A}(?P<s>{_OBJ}) on its own"),
    ("listing_only", rf"(?P<l>{_LISTING})"),
)
_FORM_PATTERNS = tuple((form, re.compile(pattern)) for form, pattern in _FORMS)


@dataclass(frozen=True)
class Mention:
    """An object named in a caption; ``size`` is None when the caption does not say."""

    colour: str
    shape: str
    size: str | None


@dataclass(frozen=True)
class Claim:
    """Everything a caption states about its scene.

    ``objects`` are named objects (each must exist); ``relation`` is (subject, predicate,
    object) as indices into ``objects``; ``position`` (object index, "top left"...);
    ``count`` the number of objects in the scene; ``background`` a background kind.
    """

    form: str
    objects: tuple[Mention, ...]
    relation: tuple[int, str, int] | None = None
    position: tuple[int, str] | None = None
    count: int | None = None
    background: str | None = None
    relation_words: str | None = None  # the caption's words for the predicate


def _mention(text: str) -> Mention:
    match = _OBJ_PARTS.fullmatch(text)
    if match is None:
        raise ValueError(f"not an object phrase: {text!r}")
    size, colour, shape = match.groups()
    return Mention(colour, shape, size)


def parse_caption(caption: str) -> Claim:
    """The claim of a caption written by one of captions.py's templates.

    Raises:
        ValueError: the caption is not one of those templates' sentences.
    """
    for form, pattern in _FORM_PATTERNS:
        match = pattern.fullmatch(caption)
        if match is None:
            continue
        groups = match.groupdict()
        if form in RELATION_FORMS:
            words = groups["r"]
            return Claim(
                form,
                (_mention(groups["s"]), _mention(groups["o"])),
                relation=(0, _WORD_PREDICATE[words], 1),
                relation_words=words,
            )
        if form == "position":
            return Claim(form, (_mention(groups["s"]),), position=(0, groups["w"]))
        if form == "count_on_background":
            return Claim(
                form,
                (),
                count=COUNT_WORDS.index(groups["n"]),
                background=_WORD_BACKGROUND[groups["b"]],
            )
        if form == "one_among_others":
            return Claim(form, (_mention(groups["s"]),), count=COUNT_WORDS.index(groups["n"]) + 1)
        if form == "one_on_its_own":
            return Claim(form, (_mention(groups["s"]),), count=1)
        # A listing names every object of the scene: its length is the count.
        objects = tuple(_mention(m.group(0)) for m in _OBJ_PARTS.finditer(groups["l"]))
        background = _WORD_BACKGROUND[groups["b"]] if groups.get("b") else None
        return Claim(form, objects, count=len(objects), background=background)
    raise ValueError(f"not a caption of the sample templates: {caption!r}")


def resolve_mentions(claim: Claim, scene: Scene) -> list[int | None]:
    """Index in ``scene.objects`` of each named object (by colour and shape, which are unique
    in a scene), or None where the scene has no such object."""
    where = {(obj.colour, obj.shape): i for i, obj in enumerate(scene.objects)}
    return [where.get((m.colour, m.shape)) for m in claim.objects]


def claim_holds(claim: Claim, scene: Scene) -> bool:
    """True when every part of the claim is true of the scene (relations and positions by the
    same margins the captions were written with)."""
    indices = resolve_mentions(claim, scene)
    for mention, index in zip(claim.objects, indices, strict=True):
        if index is None:
            return False
        if mention.size is not None and scene.objects[index].size != mention.size:
            return False
    if claim.count is not None and len(scene.objects) != claim.count:
        return False
    if claim.background is not None and scene.background.kind != claim.background:
        return False
    if claim.relation is not None:
        subject, predicate, obj = claim.relation
        a, b = scene.objects[indices[subject]], scene.objects[indices[obj]]  # type: ignore[index]
        if not relation_holds(a, predicate, b, relation_margin(scene.image_size)):
            return False
    if claim.position is not None:
        index, where = claim.position
        obj = scene.objects[indices[index]]  # type: ignore[index]
        if position_phrase(obj, scene.image_size) != where:
            return False
    return True


def caption_holds(caption: str, scene: Scene) -> bool:
    """Whether the scene bears out the caption (see ``claim_holds``)."""
    return claim_holds(parse_caption(caption), scene)


def mentioned_objects(caption: str, scene: Scene) -> list[int]:
    """Indices of the scene's objects that the caption names (by colour and shape)."""
    return [i for i in resolve_mentions(parse_caption(caption), scene) if i is not None]


def absent_colours(caption: str, scene: Scene) -> set[str]:
    """Colours the caption names that no object of the scene has: the most visible way for an
    image to contradict its text (a colour's presence shows at any resolution)."""
    present = {obj.colour for obj in scene.objects}
    return {m.colour for m in parse_caption(caption).objects} - present
