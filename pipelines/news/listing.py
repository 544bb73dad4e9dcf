"""Parsed posts -> the runner's inputs: the checks both formats share, images, events, splits.

Per post, in file order, first failing check rejects it (one ``_rejected/`` row, its stage)::

    duplicate  a post id read before (2016's devset repeats the 2015 posts; the first read is
               ingested, files being read 2015 before 2016 and devset before testset)
    label      humor (unless --keep-humor: then kept as fake), unknown or missing label
    text       empty text
    images     none of the post's image ids names a file under the source (image_index.py)

A post that passes is one input (``InputItem``): source ``<posts file>#<post id>``, group key its
event (MediaEval, ``events.py``) or its post id (Weibo), split by ``post_splits.py``, and a
payload with its fields and images. Its images are all it lists, in order, each with its file
or None (not found: decoding drops that one image as a rejected part of the written post); with
--first-image-only just the first image that has a file.

All of this runs on the driver over small text files (the real MediaEval files: ~36,000 posts,
under a second), so posts without images never reach a decoding task.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from crossmodal_ray.pipelines.core.quarantine import rejected_row
from crossmodal_ray.pipelines.core.source import InputItem
from crossmodal_ray.pipelines.news.errors import (
    DuplicatePostError,
    EmptyTextError,
    HumorDroppedError,
    MissingImageError,
    UnknownLabelError,
)
from crossmodal_ray.pipelines.news.events import EventMap
from crossmodal_ray.pipelines.news.image_index import ImageIndex
from crossmodal_ray.pipelines.news.post_splits import corpus_splits
from crossmodal_ray.pipelines.news.posts import ParsedPosts, Post
from crossmodal_ray.pipelines.news.schema import HUMOR, LABELS

# The shared checks' rejection classes -> their stage (schema.STAGES).
CHECK_STAGES: dict[type[Exception], str] = {
    DuplicatePostError: "duplicate",
    HumorDroppedError: "label",
    UnknownLabelError: "label",
    EmptyTextError: "text",
    MissingImageError: "images",
}


@dataclass
class ListingOptions:
    """What the listing needs from the configs (see ``source.NewsSourceConfig``)."""

    keep_humor: bool = False
    first_image_only: bool = False
    split_by: str = "corpus"
    val_fraction: float = 0.15
    split_seed: int | str = 10
    image_bytes: int = 25_000


@dataclass
class Listing:
    items: list[InputItem] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)


def check_label(post: Post, keep_humor: bool) -> None:
    name = post.label_name
    if name == HUMOR and not keep_humor:
        raise HumorDroppedError("label humor dropped (--keep-humor keeps it as fake)")
    if name not in LABELS:
        if not name:
            raise UnknownLabelError(
                "no label: the file has no label column and its posts_groundtruth.txt (if "
                "any) does not list the post"
            )
        raise UnknownLabelError(f"unknown label {name!r}; expected fake, real or humor")


def image_missing(post: Post) -> MissingImageError:
    if not post.image_ids:
        return MissingImageError("image missing: the post lists no image id")
    ids = ", ".join(repr(i) for i in post.image_ids[:5])
    more = f" and {len(post.image_ids) - 5} more" if len(post.image_ids) > 5 else ""
    return MissingImageError(
        f"image missing: no file under the source for image id(s) {ids}{more} (ids are "
        f"matched to image file names without their extension)"
    )


def list_posts(
    parsed: ParsedPosts, index: ImageIndex, events: EventMap | None, options: ListingOptions
) -> Listing:
    """Check every parsed post and make the inputs (see the module docstring)."""
    listing = Listing(rejected=list(parsed.rejected))
    seen: dict[str, Post] = {}
    accepted: list[tuple[Post, list[str | None], str]] = []
    counts: Counter = Counter()
    event_rules: Counter = Counter()
    for post in parsed.posts:
        try:
            if post.post_id in seen:
                first = seen[post.post_id]
                raise DuplicatePostError(
                    f"duplicate post: post id {post.post_id} (line {post.line}) was read "
                    f"before from {first.source.split('#')[0]} line {first.line}; only that "
                    f"one is ingested"
                )
            seen[post.post_id] = post
            check_label(post, options.keep_humor)
            if not post.text:
                raise EmptyTextError(f"empty text (line {post.line})")
            files = [index.find(image_id, post.image_folder) for image_id in post.image_ids]
            if not any(files):
                raise image_missing(post)
        except tuple(CHECK_STAGES) as exc:
            listing.rejected.append(rejected_row(post.source, CHECK_STAGES[type(exc)], exc))
            continue
        event, rule = events.event_of(post, files) if events is not None else ("", "none")
        event_rules[rule] += 1
        counts["humor_kept"] += int(post.label_name == HUMOR)
        accepted.append((post, files, event))

    keys = [event or post.post_id for post, _, event in accepted]
    if options.split_by == "corpus":
        splits, moved = corpus_splits(
            [(key, post.corpus_split) for key, (post, _, _) in zip(keys, accepted, strict=True)],
            options.val_fraction,
            options.split_seed,
        )
    else:
        splits, moved = [None] * len(accepted), 0
    for (post, files, event), key, split in zip(accepted, keys, splits, strict=True):
        images = [
            {"index": i, "image_id": image_id, "file": file}
            for i, (image_id, file) in enumerate(zip(post.image_ids, files, strict=True))
        ]
        if options.first_image_only:
            kept = [next(image for image in images if image["file"])]
            counts["images_skipped_first_only"] += len(images) - 1
            images = kept
        else:
            counts["images_not_found_in_written_posts"] += sum(f is None for f in files)
        listing.items.append(
            InputItem(
                source=post.source,
                group_key=key,
                split=split,
                size_bytes=options.image_bytes * sum(bool(i["file"]) for i in images)
                + len(post.text.encode("utf-8")),
                payload=post_payload(post, event, images),
            )
        )
    listing.facts = {
        "posts_parsed": len(parsed.posts),
        "posts_listed": len(listing.items),
        "rejected_at_listing": dict(Counter(row["stage"] for row in listing.rejected)),
        "event_rules": dict(event_rules),
        "posts_moved_to_test_with_their_event": moved,
        **{name: counts[name] for name in sorted(counts)},
    }
    return listing


def post_payload(post: Post, event: str, images: list[dict]) -> dict[str, Any]:
    """What decoding needs besides the image files (JSON-serialisable)."""
    return {
        "post_id": post.post_id,
        "event": event,
        "text": post.text,
        "label": LABELS[post.label_name],
        "label_name": post.label_name,
        "user_id": post.user_id,
        "timestamp": post.timestamp,
        "dataset": post.dataset,
        "corpus_split": post.corpus_split,
        "images_in_post": len(post.image_ids),
        "images": images,
    }
