"""One listed post -> its rows, in a decoding actor: read and decode each image, build rows.

    for each image of the post (payload["images"], in order):
        no file found at listing -> dropped (MissingImageError, stage images)
        read the file            -> dropped if it vanished (MissingImageError, stage read)
        decode (PIL, images.py)  -> dropped if broken (NotAnImageError, CorruptImageError,
                                    ZeroPixelImageError) or over --max-image-pixels
                                    (ImageTooLargeError, from its header); stage decode
        else one row (schema.py)
    no row at all -> the whole post is rejected (the first image's reason; the runner writes
                     the row and counts the post as a rejected input)

A dropped image of a written post is a rejected row with the ``sample_id`` its row would have
had, so ``read = written + rejected`` holds in rows (``totals``) as it does in posts
(``inputs``, ``posts``). MediaEval reuses a few images across many posts (``nepal_25`` is in 801
test posts), so each actor keeps the last decoded images (and decode errors) by file, size and
modification time: re-decoding one of them for the 801st time would give the same bytes.
"""

from __future__ import annotations

import os
from collections import Counter, OrderedDict
from pathlib import Path

import pyarrow as pa

from crossmodal_ray.pipelines.core.quarantine import at_stage, rejected_row, stage_of
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem
from crossmodal_ray.pipelines.image_text.images import DecodedImage, ImageConfig, ImageDecoder
from crossmodal_ray.pipelines.news.errors import MissingImageError
from crossmodal_ray.pipelines.news.schema import news_sample_id

# Decoded images an actor keeps (~10-30 KB of JPEG each at 224 px).
CACHE_IMAGES = 256


class NewsImageDecoder:
    """Per-actor state: the image decoder and a small cache of its results by file."""

    def __init__(self, config: ImageConfig, cache_images: int = CACHE_IMAGES) -> None:
        self.decoder = ImageDecoder(config)
        self.cache: OrderedDict[tuple, DecodedImage | Exception] = OrderedDict()
        self.cache_images = cache_images
        self.hits = 0

    def __call__(self, path: Path) -> DecodedImage:
        """The decoded image of ``path``.

        Raises:
            MissingImageError: the file is gone (stage ``read``).
            NotAnImageError, CorruptImageError, ZeroPixelImageError, ImageTooLargeError: stage
                ``decode``.
        """
        with at_stage("read"):
            try:
                stat = os.stat(path)
            except FileNotFoundError:
                raise MissingImageError(f"image file {path.name} no longer exists") from None
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key in self.cache:
            self.hits += 1
            self.cache.move_to_end(key)
            result = self.cache[key]
        else:
            with at_stage("read"):
                data = path.read_bytes()
            try:
                with at_stage("decode"):
                    result = self.decoder(data)
            except Exception as exc:  # noqa: BLE001 - cached as a result, re-raised below
                result = exc
            self.cache[key] = result
            if len(self.cache) > self.cache_images:
                self.cache.popitem(last=False)
        if isinstance(result, Exception):
            raise result
        return result


# Row columns copied from the post's payload.
POST_COLUMNS = (
    "post_id",
    "event",
    "text",
    "label",
    "label_name",
    "images_in_post",
    "user_id",
    "timestamp",
    "dataset",
    "corpus_split",
)


def decode_post(
    item: InputItem, root: Path, decoder: NewsImageDecoder, schema: pa.Schema
) -> DecodedInput:
    """The rows of one post and its dropped images (see the module docstring)."""
    post = item.payload
    rows, dropped = [], []
    for image in post["images"]:
        sample_id = news_sample_id(post["dataset"], post["post_id"], image["index"])
        what = f"image {image['index'] + 1} of {post['images_in_post']} ({image['image_id']!r})"
        try:
            if not image["file"]:
                with at_stage("images"):
                    raise MissingImageError(f"image missing: no file under the source for {what}")
            decoded = decoder(root / image["file"])
        except Exception as exc:  # noqa: BLE001 - one bad image drops that image only
            dropped.append((exc, sample_id, what, image["file"]))
            continue
        rows.append(
            {
                "sample_id": sample_id,
                "source": image["file"],
                "image": decoded.image,
                "width": decoded.geometry.width,
                "height": decoded.geometry.height,
                "image_index": image["index"],
                **{name: post[name] for name in POST_COLUMNS},
            }
        )
    if not rows:
        raise whole_post_error(dropped)
    rejected = [
        rejected_row(
            item.source, stage_of(exc, "decode"), described(exc, what, file), sample_id=sid
        )
        for exc, sid, what, file in dropped
    ]
    dropped_by_reason = Counter(type(exc).__name__ for exc, *_ in dropped)
    return DecodedInput(
        rows=pa.Table.from_pylist(rows, schema=schema),
        rejected=rejected,
        info={
            "posts": 1,
            "labels": {post["label_name"]: 1},
            "images_dropped": dict(dropped_by_reason),
        },
    )


def with_message(error: Exception, message: str) -> Exception:
    """An exception of ``error``'s class and stage with ``message`` (``error`` itself when its
    class cannot be built from a message)."""
    try:
        new = type(error)(message)
    except Exception:  # noqa: BLE001 - e.g. exception classes that need several arguments
        return error
    new.__dict__.update(error.__dict__)  # keeps the stage at_stage recorded
    return new


def described(error: Exception, what: str, file: str | None) -> Exception:
    """``error`` with the image named in its message."""
    if what in str(error):
        return error
    return with_message(error, f"{what}, {file}: {error}")


def whole_post_error(dropped: list[tuple]) -> Exception:
    """The error that rejects a post none of whose images gave a row: the first image's, its
    message naming every image's reason when there were several."""
    first, _, what, file = dropped[0]
    if len(dropped) == 1:
        return described(first, what, file)
    reasons = "; ".join(f"{w}: {type(e).__name__}: {e}" for e, _, w, _ in dropped)
    return with_message(first, f"none of the post's {len(dropped)} images is usable: {reasons}")
