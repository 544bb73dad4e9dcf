"""Draw one post: its caption, the scene the caption describes and the scene its image shows.

Every post starts from a scene ``S`` of its event and a caption of ``S`` from one template of the
image-text generator (chosen the same way for every label, so the text alone says nothing about
the label; every image is a scene drawn the same way, so the image alone says nothing either).

========================  =====================================  ==============================
kind                      text                                   image
========================  =====================================  ==============================
real                      caption of S                           S
mismatched_image          caption of S                           S' (another scene, same event)
manipulated_image         caption of S                           S with a named object
                                                                 recoloured
contradicting_claim       caption of S*: S with a named          S
                          object recoloured
========================  =====================================  ==============================

A clear fake's caption names the changed object and ``claims.caption_holds`` checks that the
image does not bear it out. With ``fake_evidence="colour"`` (the default) the caption also names
a colour the image lacks (``claims.absent_colours``: the recoloured object's colour is on no other
object, the claimed colour on none, S' lacks a named colour); a scene whose named colours all
repeat on other objects allows no such fake, and the post draws another scene of its event.
With ``fake_evidence="any"`` shapes change too and a contradicting claim may reverse every
relation. The contradicting caption comes from ``S*`` with the random state that wrote the
caption of ``S``, so it says the same thing with one fact flipped. An *ambiguous* post pairs the
scene with a second version (a real post with the version a randomly chosen fake kind would
use: another scene, a colour or shape change, or reversed relations) and takes a caption true
of both, e.g. "three shapes on a plain background", so the post reads the same whatever its
label.

Post ``i`` of a layout is drawn from ``default_rng([seed, layout_code, i])``: a pure function of
the config and the index, independent of every other post.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from io import BytesIO

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.image_text.captions import (
    CAPTION_TEMPLATES,
    RELATION_TEMPLATES,
    CaptionTemplate,
)
from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    CONVERSE,
    Relation,
    Scene,
    SceneConfig,
)
from crossmodal_ray.pipelines.sample_corpus.news.claims import (
    absent_colours,
    caption_holds,
    mentioned_objects,
)
from crossmodal_ray.pipelines.sample_corpus.news.config import (
    CONTRADICTING,
    FAKE_KINDS,
    HUMOR,
    KIND_LABELS,
    MANIPULATED,
    MISMATCHED,
    REAL,
    NewsSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.news.events import (
    LAYOUT_CODES,
    Event,
    sample_event_scene,
)
from crossmodal_ray.pipelines.sample_corpus.news.plan import PostPlan
from crossmodal_ray.pipelines.sample_corpus.news.render import render_scene_8bit

# Templates that name at least one object: a clear fake's caption must name what changed.
SPECIFIC_TEMPLATES = tuple(t for t in CAPTION_TEMPLATES if t.__name__ != "_count_on_background")
COUNT_TEMPLATE = next(t for t in CAPTION_TEMPLATES if t.__name__ == "_count_on_background")
OTHER_SCENE = "other scene"
MAX_TRIES = 500
REUPLOAD_QUALITY_DROP = 20  # a second image is the first re-encoded this much worse


@dataclass(frozen=True)
class NewsPost:
    """One drawn post: what its text says, what its image shows, and why.

    ``perturbation`` is what separates the caption's scene from the image's: "" (real, humor),
    "other scene", "colour", "shape", "object" (colour and shape) or "relation" (reversed).
    """

    plan: PostPlan
    layout: str
    event: Event
    caption: str
    caption_scene: Scene
    image_scene: Scene
    perturbation: str
    second_image: bool

    @property
    def label(self) -> str:
        return KIND_LABELS[self.plan.kind]

    @property
    def kind(self) -> str:
        return self.plan.kind


def post_rng(seed: int, layout: str, index: int) -> np.random.Generator:
    return np.random.default_rng([seed, LAYOUT_CODES[layout], index])


def replace_object(scene: Scene, k: int, shape: str, colour: str) -> Scene:
    objects = list(scene.objects)
    objects[k] = dataclasses.replace(objects[k], shape=shape, colour=colour)
    return dataclasses.replace(scene, objects=tuple(objects))


def perturb_object(
    scene: Scene, k: int, mode: str, event: Event, rng: np.random.Generator
) -> Scene | None:
    """``scene`` with object ``k`` given another colour (``mode`` "colour"), shape ("shape")
    or both ("object") from the event's, keeping every (shape, colour) unique; None when no
    such change is free."""
    used = {(o.shape, o.colour) for o in scene.objects}
    obj = scene.objects[k]
    if mode == "colour":
        options = [(obj.shape, c) for c in event.colours]
    elif mode == "shape":
        options = [(s, obj.colour) for s in event.shapes]
    elif mode == "object":
        options = event.combos
    else:
        raise ValueError(f"unknown perturbation {mode!r}")
    options = [o for o in options if o not in used]
    if not options:
        return None
    shape, colour = options[int(rng.integers(len(options)))]
    return replace_object(scene, k, shape, colour)


def reverse_relations(scene: Scene) -> Scene:
    """``scene`` claiming every relation backwards ("a left of b" -> "a right of b"); the
    geometry is unchanged, so none of these relations holds."""
    flipped = tuple(Relation(r.subject, CONVERSE[r.predicate], r.object) for r in scene.relations)
    return dataclasses.replace(scene, relations=flipped)


def _replay(state: dict) -> np.random.Generator:
    rng = np.random.Generator(np.random.PCG64())
    rng.bit_generator.state = state
    return rng


def specific_caption(scene: Scene, rng: np.random.Generator) -> tuple[str, CaptionTemplate, dict]:
    """A caption naming an object, from a random applicable template, with the template and
    the random state it started from (to write the same caption of a perturbed scene)."""
    for i in rng.permutation(len(SPECIFIC_TEMPLATES)):
        template = SPECIFIC_TEMPLATES[int(i)]
        state = rng.bit_generator.state
        caption = template(scene, rng)
        if caption is not None:
            return caption, template, state
    raise AssertionError("the listing templates apply to every scene")


def other_scene(event: Event, config: SceneConfig, rng: np.random.Generator, accept) -> Scene:
    """Another scene of the event for which ``accept(scene)`` is true."""
    for _ in range(MAX_TRIES):
        scene = sample_event_scene(event, config, rng)
        if accept(scene):
            return scene
    raise RuntimeError(f"no scene of event {event.name} passed after {MAX_TRIES} tries")


def _perturbations(modes: list[str], objects: list[int], rng: np.random.Generator):
    """(object, mode) pairs to try: modes in random order, objects in random order within."""
    for mode in (modes[int(i)] for i in rng.permutation(len(modes))):
        if mode == "relation":
            yield None, mode
            continue
        for k in rng.permutation(objects):
            yield int(k), mode


class NoClearFake(Exception):
    """The scene offers no perturbation of the wanted evidence; the post draws another scene."""


def contradicts(caption: str, scene: Scene, evidence: str) -> bool:
    """The scene does not bear the caption out and, for ``evidence`` "colour", lacks a colour
    the caption names."""
    if caption_holds(caption, scene):
        return False
    return evidence == "any" or bool(absent_colours(caption, scene))


def object_changes(
    scene: Scene, k: int, mode: str, event: Event, rng: np.random.Generator
) -> list[Scene]:
    """Every ``perturb_object`` outcome for object ``k`` and ``mode``, in random order."""
    used = {(o.shape, o.colour) for o in scene.objects}
    obj = scene.objects[k]
    options = {
        "colour": [(obj.shape, c) for c in event.colours],
        "shape": [(s, obj.colour) for s in event.shapes],
        "object": event.combos,
    }[mode]
    options = [o for o in options if o not in used]
    return [replace_object(scene, k, *options[int(i)]) for i in rng.permutation(len(options))]


def _clear_fake(
    kind: str,
    scene: Scene,
    event: Event,
    config: SceneConfig,
    evidence: str,
    rng: np.random.Generator,
) -> tuple[str, Scene, Scene, str]:
    """(caption, caption scene, image scene, perturbation) of a fake whose text the image
    contradicts (by ``evidence``, see ``contradicts``).

    Raises:
        NoClearFake: no perturbation of this scene gives such a post.
    """
    caption, template, state = specific_caption(scene, rng)
    if kind == MISMATCHED:
        image = other_scene(event, config, rng, lambda s: contradicts(caption, s, evidence))
        return caption, scene, image, OTHER_SCENE
    named = mentioned_objects(caption, scene)
    modes = ["colour"] if evidence == "colour" else ["colour", "shape"]
    if evidence == "any" and kind == CONTRADICTING and template in RELATION_TEMPLATES:
        modes.append("relation")
    for k, mode in [*_perturbations(modes, named, rng), *((k, "object") for k in named)]:
        versions = (
            [reverse_relations(scene)] if k is None else object_changes(scene, k, mode, event, rng)
        )
        for changed in versions:
            if kind == MANIPULATED:
                if contradicts(caption, changed, evidence):
                    return caption, scene, changed, mode
            else:
                claim = template(changed, _replay(state))
                if claim is not None and contradicts(claim, scene, evidence):
                    return claim, changed, scene, mode
    raise NoClearFake(f"no {kind} perturbation of {caption!r} found")


def _second_version(
    kind: str, scene: Scene, event: Event, config: SceneConfig, rng: np.random.Generator
) -> tuple[Scene, str]:
    """The other version of ``scene`` a fake of ``kind`` uses, for an ambiguous post: another
    scene with the same count and background kind, or a random object / relation change."""
    if kind == MISMATCHED:
        count, background = len(scene.objects), scene.background.kind
        other = other_scene(
            event,
            config,
            rng,
            lambda s: len(s.objects) == count and s.background.kind == background,
        )
        return other, OTHER_SCENE
    modes = ["colour", "shape"] + (["relation"] if kind == CONTRADICTING else [])
    objects = list(range(len(scene.objects)))
    for k, mode in [*_perturbations(modes, objects, rng), *((k, "object") for k in objects)]:
        changed = (
            reverse_relations(scene) if k is None else perturb_object(scene, k, mode, event, rng)
        )
        if changed is not None:
            return changed, mode
    raise RuntimeError("no free perturbation: the config leaves no unused (shape, colour)")


def shared_caption(source: Scene, versions: tuple[Scene, Scene], rng: np.random.Generator) -> str:
    """A caption of ``source`` true of both versions (the count caption always is: versions
    share count and background kind)."""
    for _ in range(60):
        template = CAPTION_TEMPLATES[int(rng.integers(len(CAPTION_TEMPLATES)))]
        caption = template(source, rng)
        if caption is not None and all(caption_holds(caption, v) for v in versions):
            return caption
    caption = COUNT_TEMPLATE(source, rng)
    assert caption is not None and all(caption_holds(caption, v) for v in versions)
    return caption


def _ambiguous(
    kind: str,
    scene: Scene,
    event: Event,
    config: NewsSampleConfig,
    rng: np.random.Generator,
) -> tuple[str, Scene, Scene, str]:
    scene_config = config.scene_config()
    version_kind = kind
    if kind == REAL:  # pair the scene the way a random fake kind would
        shares = np.array(list(config.fake_kind_shares().values()))
        version_kind = FAKE_KINDS[int(rng.choice(len(FAKE_KINDS), p=shares / shares.sum()))]
    other, perturbation = _second_version(version_kind, scene, event, scene_config, rng)
    # A contradicting claim is written from the changed scene; the others from the scene.
    source = other if version_kind == CONTRADICTING else scene
    caption = shared_caption(source, (scene, other), rng)
    if kind == REAL:
        return caption, scene, scene, ""
    if kind == CONTRADICTING:
        return caption, other, scene, perturbation
    return caption, scene, other, perturbation


def _clear_fake_of_event(
    kind: str, scene: Scene, event: Event, config: NewsSampleConfig, rng: np.random.Generator
) -> tuple[str, Scene, Scene, str]:
    """A clear fake from ``scene`` or, where its colours allow none (every named colour also
    on another object), from another scene of the event."""
    scene_config = config.scene_config()
    for _ in range(MAX_TRIES):
        try:
            return _clear_fake(kind, scene, event, scene_config, config.fake_evidence, rng)
        except NoClearFake:
            scene = sample_event_scene(event, scene_config, rng)
    raise RuntimeError(f"no {kind} post of event {event.name} after {MAX_TRIES} scenes")


def make_post(config: NewsSampleConfig, layout: str, plan: PostPlan, event: Event) -> NewsPost:
    """Draw post ``plan.index`` of ``layout`` (a pure function of the arguments)."""
    rng = post_rng(config.seed, layout, plan.index)
    second_image = bool(rng.random() < config.multi_image_share)
    scene_config = config.scene_config()
    scene = sample_event_scene(event, scene_config, rng)
    kind = plan.kind
    if plan.ambiguous:
        caption, caption_scene, image, perturbation = _ambiguous(kind, scene, event, config, rng)
    elif kind in (REAL, HUMOR):
        caption = specific_caption(scene, rng)[0]
        caption_scene, image, perturbation = scene, scene, ""
    else:
        caption, caption_scene, image, perturbation = _clear_fake_of_event(
            kind, scene, event, config, rng
        )
    return NewsPost(plan, layout, event, caption, caption_scene, image, perturbation, second_image)


def render_post_images(post: NewsPost, jpeg_quality: int) -> list[bytes]:
    """The post's image as JPEG bytes and, when it has one, its second image: the same
    picture re-encoded at a lower quality, like a re-upload."""
    image = render_scene_8bit(post.image_scene)
    qualities = [jpeg_quality]
    if post.second_image:
        qualities.append(max(10, jpeg_quality - REUPLOAD_QUALITY_DROP))
    images = []
    for quality in qualities:
        buffer = BytesIO()
        image.save(buffer, format="JPEG", quality=quality)
        images.append(buffer.getvalue())
    return images
