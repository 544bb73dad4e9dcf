"""News posts (MediaEval 2015/2016, Weibo) as a source adapter of the generic ingest runner.

One input = one post; one row = one image of a post. On the driver (``list_inputs``)::

    posts files -> posts (mediaeval.py | weibo.py; malformed lines, bad UTF-8 rejected)
    -> image index of the files under the source (image_index.py)
    -> checks: duplicate, label, text, images found (listing.py); event (events.py)
    -> split (post_splits.py: --split-by corpus | event) -> InputItems

In the actors (``decode``, decoding.py): each image read and decoded (PIL, EXIF, CMYK/alpha to
RGB, resize + centre crop, JPEG; ``pipelines/image_text/images.py``) -> rows (schema.py).

Counting, both in the manifest: ``inputs`` and ``posts`` count posts (``read = written +
rejected``; a post with three images written is one written post; a whole-file rejection counts
one), ``totals`` count rows (``read = written + rejected``, where rejected also holds the dropped
images of written posts). ``posts.rejected_at_listing`` + ``posts.rejected_at_decoding`` =
``posts.rejected``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem, sum_summaries
from crossmodal_ray.pipelines.image_text.images import ImageConfig
from crossmodal_ray.pipelines.image_text.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS
from crossmodal_ray.pipelines.news.decoding import NewsImageDecoder, decode_post
from crossmodal_ray.pipelines.news.events import EventMap
from crossmodal_ray.pipelines.news.image_index import ImageIndex
from crossmodal_ray.pipelines.news.listing import ListingOptions, list_posts
from crossmodal_ray.pipelines.news.mediaeval import parse_mediaeval
from crossmodal_ray.pipelines.news.schema import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_JPEG_QUALITY,
    FORMATS,
    SCHEMA_VERSION,
    SPLIT_RULES,
    STAGES,
    news_schema,
)
from crossmodal_ray.pipelines.news.weibo import image_folders, parse_weibo

SAMPLE_NEWS_DIR = "data/raw/news_sample"
# Bytes of a stored JPEG per pixel at quality 90: only sizes shard tasks.
JPEG_BYTES_PER_PIXEL = 0.5
COUNTING = (
    "inputs and posts count posts (read = written + rejected; a post counts once however many "
    "images it wrote); totals count rows, one per post image (rejected = rejected posts + "
    "dropped images of written posts)"
)


@dataclass
class NewsSourceConfig:
    """The raw news corpus and what its posts become; each field is a flag.

    Attributes:
        source: Raw folder. MediaEval: the folder holding mediaeval2015/ and mediaeval2016/, one
            year folder, or one devset/testset folder; Weibo: the EANN folder (tweets/,
            rumor_images/, nonrumor_images/). Empty: the bundled sample corpus
            data/raw/news_sample/<format> (generated first).
        format: ``mediaeval`` or ``weibo``.
        split_by: ``corpus``: the corpus's test set is test, its training set train with val
            carved from its events (Weibo: post ids) by hash; ``event``: every event hashed
            into train/val/test (--val-fraction, --test-fraction, --split-seed). No event is
            ever in two splits.
        keep_humor: Keep MediaEval humor posts, labelled fake (default: dropped, as in the
            paper, and counted as rejected).
        first_image_only: One row per post: its first image found on disk (default: one row
            per image).
        image_size: Side S of the stored square image: shorter side resized to S, centre crop.
        jpeg_quality: Quality of the re-encoded JPEG.
        max_image_pixels: Decompression-bomb guard: an image whose header gives more pixels
            (width x height) is dropped before it is decoded (default PIL's own limit,
            89,478,485, about 9,459 x 9,459); raise it for a corpus of very large images.
    """

    source: str = ""
    format: str = field(default="mediaeval", metadata={"choices": FORMATS})
    split_by: str = field(default="corpus", metadata={"choices": SPLIT_RULES})
    keep_humor: bool = False
    first_image_only: bool = False
    image_size: int = DEFAULT_IMAGE_SIZE
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; expected one of {FORMATS}")
        if self.split_by not in SPLIT_RULES:
            raise ValueError(f"unknown split rule {self.split_by!r}; expected {SPLIT_RULES}")
        self.image_config()  # validates size, quality and the pixel limit

    def image_config(self) -> ImageConfig:
        return ImageConfig(self.image_size, "jpeg", self.jpeg_quality, self.max_image_pixels)


def mediaeval_image_folders(root: Path) -> list[Path]:
    """The source, and for a set folder its ``<set>_subtask`` sibling (2016 keeps the test
    images in ``testset_subtask/``)."""
    sibling = root.parent / f"{root.name}_subtask"
    is_set = root.name.lower().startswith(("dev", "test", "train"))
    return [root, sibling] if is_set and sibling.is_dir() else [root]


class NewsSource:
    """MediaEval or Weibo posts -> one row per post image (see the module docstring)."""

    schema_version = SCHEMA_VERSION
    input_noun = "posts"
    stages = STAGES
    # The image decoder and its cache are per-process state: decode in an actor pool.
    decoder_needs_actor = True

    def __init__(
        self, config: NewsSourceConfig, val_fraction: float = 0.15, split_seed: int = 10
    ) -> None:
        root = Path(config.source)
        if not config.source or not root.is_dir():
            raise FileNotFoundError(f"source folder {config.source!r} does not exist")
        self.config = config
        self.format = config.format
        self.group_key_name = "event" if config.format == "mediaeval" else "post"
        self.root = str(root.resolve())
        self.val_fraction = val_fraction
        self.split_seed = split_seed
        # Small facts of the listing for the manifest (never the items: the adapter is pickled
        # to every actor).
        self.listing_facts: dict[str, Any] = {}

    def schema(self) -> pa.Schema:
        return news_schema()

    def list_inputs(self) -> tuple[list[InputItem], list[dict]]:
        """One input per post that passed the listing checks; the rejected posts."""
        root = Path(self.root)
        if self.format == "mediaeval":
            parsed = parse_mediaeval(root)
            index = ImageIndex.build(root, mediaeval_image_folders(root))
            events = EventMap.read(root)
        else:
            parsed = parse_weibo(root)
            index = ImageIndex.build(root, image_folders(root))
            events = None
        options = ListingOptions(
            keep_humor=self.config.keep_humor,
            first_image_only=self.config.first_image_only,
            split_by=self.config.split_by,
            val_fraction=self.val_fraction,
            split_seed=self.split_seed,
            image_bytes=int(self.config.image_size**2 * JPEG_BYTES_PER_PIXEL),
        )
        listing = list_posts(parsed, index, events, options)
        warnings = list(parsed.warnings)
        if listing.facts["posts_moved_to_test_with_their_event"]:
            warnings.append(
                f"{listing.facts['posts_moved_to_test_with_their_event']} training posts "
                f"moved to test: their event has test posts (--split-by corpus)"
            )
        self.listing_facts = {
            "posts_files": parsed.files,
            "event_files": events.files if events else [],
            "event_file_rows_skipped": events.rows_skipped if events else 0,
            "image_files_indexed": len(index),
            "listing": listing.facts,
            "listing_warnings": warnings,
        }
        return listing.items, listing.rejected

    def open_decoder(self) -> NewsImageDecoder:
        return NewsImageDecoder(self.config.image_config())

    def decode(self, item: InputItem, state: NewsImageDecoder) -> DecodedInput:
        return decode_post(item, Path(self.root), state, self.schema())

    def summarize(self, rows: pa.Table, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """Posts, rows, posts per label and dropped images of decoded posts."""
        return {
            "posts": sum(info.get("posts", 0) for info in infos),
            "rows": rows.num_rows,
            "labels": sum_summaries([info.get("labels") for info in infos]) or {},
            "images_dropped": sum_summaries([info.get("images_dropped") for info in infos]) or {},
        }

    def manifest_fields(self, summaries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Posts (read = written + rejected), posts and labels per split, dropped images, the
        settings and the listing's facts."""
        per_split = {split: sum_summaries(items) or {} for split, items in summaries.items()}
        written = sum(s.get("posts", 0) for s in per_split.values())
        listing = self.listing_facts.get("listing", {})
        at_listing = sum(listing.get("rejected_at_listing", {}).values())
        read = listing.get("posts_listed", 0) + at_listing
        dropped = sum_summaries([s.get("images_dropped") for s in per_split.values()]) or {}
        config = self.config
        return {
            "counting": COUNTING,
            "posts": {
                "read": read,
                "written": written,
                "rejected": read - written,
                "rejected_at_listing": at_listing,
                "rejected_at_decoding": read - written - at_listing,
            },
            "posts_per_split": {split: s.get("posts", 0) for split, s in per_split.items()},
            "labels_per_split": {split: s.get("labels", {}) for split, s in per_split.items()},
            "images_dropped": dict(sorted(dropped.items())),
            "split_by": config.split_by,
            "keep_humor": config.keep_humor,
            "first_image_only": config.first_image_only,
            "image_size": config.image_size,
            "jpeg_quality": config.jpeg_quality,
            "max_image_pixels": config.max_image_pixels,
            **self.listing_facts,
        }
