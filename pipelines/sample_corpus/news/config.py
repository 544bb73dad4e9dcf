"""The config of the news sample corpus: sizes of both layouts and the shares of every post kind.

Defaults: 6,400 MediaEval posts (40 events, 8 of them in the testset, 2 % humor; COOLANT trains on
this layout, and 3,200 posts learn the colour check too slowly for the job's 10 minutes: 0.62
test accuracy after 8 epochs against 0.73 after 4 on 6,400), 3,200 Weibo posts (40 events, 20 %
of each event's posts in test), half of the real/fake posts fake (a third
each mismatched image, manipulated image, contradicting claim), 10 % ambiguous, 5 % with two
images, 128 px scenes of 2-4 shapes drawn from 4 of 6 shapes and 5 of 7 colours per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    COLOURS,
    SHAPES,
    SceneConfig,
)

REAL = "real"
FAKE = "fake"
HUMOR = "humor"
# Post kinds; every fake kind is a different way for the text and the image to disagree.
MISMATCHED = "mismatched_image"  # the image of another scene of the same event
MANIPULATED = "manipulated_image"  # the scene re-rendered with one object's colour or shape changed
CONTRADICTING = "contradicting_claim"  # the caption of a perturbed copy of the scene
FAKE_KINDS = (MISMATCHED, MANIPULATED, CONTRADICTING)
KIND_LABELS = {REAL: REAL, MISMATCHED: FAKE, MANIPULATED: FAKE, CONTRADICTING: FAKE, HUMOR: HUMOR}
MEDIAEVAL = "mediaeval"
WEIBO = "weibo"
LAYOUTS = (MEDIAEVAL, WEIBO)
# What makes a clear fake's text and image disagree: "colour" (its caption names a colour the
# image lacks) or "any" (also a changed shape, size or a reversed relation with every colour there).
FAKE_EVIDENCE = ("colour", "any")
MAX_EVENTS = 256  # 16 places x 16 happenings: distinct event names


@dataclass(frozen=True)
class NewsSampleConfig:
    """Size and content of the news sample corpus.

    Attributes:
        mediaeval_posts: posts in the MediaEval layout, devset + testset, humor included.
        mediaeval_events: events of the MediaEval layout (each its own look and hashtag).
        mediaeval_test_event_share: share of MediaEval events whose posts form the testset
            (events are disjoint between devset and testset, as in the real task).
        humor_share: share of MediaEval posts labelled humor (the reader drops them by default).
        weibo_posts: posts in the Weibo layout, train + test.
        weibo_events: events of the Weibo layout (not in the files: only in _posts.csv).
        weibo_test_share: share of each Weibo event's posts in the test files (stratified by
            kind; Weibo's released split is by post, not by event).
        fake_share: share of fake posts among the real + fake posts.
        mismatched_share, manipulated_share, contradicting_share: shares of the fake posts that
            show another scene of the event, a manipulated scene, or a contradicting caption
            (they sum to 1).
        ambiguous_share: share of real + fake posts whose caption only states what the text's
            and the image's scenes share, so their label cannot be read off the post.
        multi_image_share: share of posts with a second image (a re-upload of the first).
        fake_evidence: "colour" (default): a clear fake's caption names a colour its image lacks
            (the recoloured object's colour, a claimed colour, or one another scene lacks), which
            a model trained from scratch on a few thousand posts can learn to see; "any": any
            disagreement, also a changed shape or a reversed relation with every named colour
            in the image (binding and geometry: far harder to learn from so few posts).
        event_backgrounds: each event's backgrounds share its palette and kinds (True), or any
            background is drawn for any event (False, default). With a background of its own
            an event's images match its words and hashtag before any colour is read, and the
            alignment learns events instead of the colours the labels depend on (test accuracy
            0.52 against 0.64 in a 4-epoch probe).
        shapes_per_event: shapes (of 6) an event's scenes are drawn from.
        colours_per_event: colours (of 7) an event's scenes are drawn from.
        image_size: side of the square images in pixels.
        min_objects: fewest shapes per image.
        max_objects: most shapes per image.
        jpeg_quality: JPEG quality of the written images.
        seed: base seed; post ``i`` of a layout is drawn from ``default_rng([seed, layout, i])``.
    """

    mediaeval_posts: int = 6400
    mediaeval_events: int = 40
    mediaeval_test_event_share: float = 0.2
    humor_share: float = 0.02
    weibo_posts: int = 3200
    weibo_events: int = 40
    weibo_test_share: float = 0.2
    fake_share: float = 0.5
    mismatched_share: float = 0.34
    manipulated_share: float = 0.33
    contradicting_share: float = 0.33
    ambiguous_share: float = 0.1
    multi_image_share: float = 0.05
    fake_evidence: str = field(default="colour", metadata={"choices": FAKE_EVIDENCE})
    event_backgrounds: bool = False
    shapes_per_event: int = 4
    colours_per_event: int = 5
    image_size: int = 128
    min_objects: int = 2
    max_objects: int = 4
    jpeg_quality: int = 90
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("mediaeval", "weibo"):
            posts, events = getattr(self, f"{name}_posts"), getattr(self, f"{name}_events")
            if not 1 <= events <= MAX_EVENTS:
                raise ValueError(f"{name}_events must be 1..{MAX_EVENTS}, got {events}")
            if posts < events:
                raise ValueError(f"{name}_posts ({posts}) must be at least {name}_events")
        if self.mediaeval_events < 2:
            raise ValueError("mediaeval_events must be at least 2 (devset and testset)")
        shares = {
            "mediaeval_test_event_share": self.mediaeval_test_event_share,
            "humor_share": self.humor_share,
            "weibo_test_share": self.weibo_test_share,
            "fake_share": self.fake_share,
            "ambiguous_share": self.ambiguous_share,
            "multi_image_share": self.multi_image_share,
            **{f"{kind}_share": share for kind, share in self.fake_kind_shares().items()},
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {share}")
        if abs(sum(self.fake_kind_shares().values()) - 1.0) > 1e-6:
            raise ValueError("mismatched_share + manipulated_share + contradicting_share != 1")
        if self.fake_evidence not in FAKE_EVIDENCE:
            raise ValueError(f"fake_evidence must be one of {FAKE_EVIDENCE}")
        if not 2 <= self.shapes_per_event <= len(SHAPES):
            raise ValueError(f"shapes_per_event must be 2..{len(SHAPES)}")
        if not 2 <= self.colours_per_event <= len(COLOURS):
            raise ValueError(f"colours_per_event must be 2..{len(COLOURS)}")
        if self.max_objects >= self.shapes_per_event * self.colours_per_event:
            raise ValueError("max_objects must leave an unused (shape, colour) to manipulate")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, got {self.jpeg_quality}")
        self.scene_config()  # validates image_size and the object counts

    def scene_config(self) -> SceneConfig:
        """The per-scene part of the config."""
        return SceneConfig(
            image_size=self.image_size,
            min_objects=self.min_objects,
            max_objects=self.max_objects,
            seed=self.seed,
        )

    def fake_kind_shares(self) -> dict[str, float]:
        """Fake kind -> its share of the fake posts."""
        return {
            MISMATCHED: self.mismatched_share,
            MANIPULATED: self.manipulated_share,
            CONTRADICTING: self.contradicting_share,
        }

    def posts(self, layout: str) -> int:
        return {MEDIAEVAL: self.mediaeval_posts, WEIBO: self.weibo_posts}[layout]

    def events(self, layout: str) -> int:
        return {MEDIAEVAL: self.mediaeval_events, WEIBO: self.weibo_events}[layout]

    def kind_shares(self, layout: str) -> dict[tuple[str, bool], float]:
        """(kind, ambiguous) -> share of the layout's posts; humor (MediaEval only) is never
        ambiguous. The shares sum to 1."""
        humor = self.humor_share if layout == MEDIAEVAL else 0.0
        labelled = 1.0 - humor
        by_kind = {REAL: labelled * (1.0 - self.fake_share)}
        for kind, share in self.fake_kind_shares().items():
            by_kind[kind] = labelled * self.fake_share * share
        shares = {}
        for kind, share in by_kind.items():
            shares[(kind, False)] = share * (1.0 - self.ambiguous_share)
            shares[(kind, True)] = share * self.ambiguous_share
        shares[(HUMOR, False)] = humor
        return shares
