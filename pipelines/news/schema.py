"""The news shard contract: one row per post image, for MediaEval (2015, 2016) and Weibo.

Columns (``news_schema``)::

    ==============  ========  ==========================================================
    column          type      meaning
    ==============  ========  ==========================================================
    sample_id       string    ``sha1("<dataset>/<post_id>/<image_index>")[:20]``: stable
                              across re-runs and whichever folder level is ``--source``
    source          string    the image file, relative to the raw root
    post_id         string    the corpus's post (tweet) id
    event           string    the news event (``events.py``), lower case; empty for Weibo
    text            string    the post's text, UTF-8, outer whitespace stripped
                              (MediaEval's literal ``\\n`` sequences are kept as written)
    image           binary    JPEG (``--jpeg-quality``): upright RGB, shorter side resized
                              to S = ``--image-size`` then centre-cropped to S x S
                              (``pipelines/image_text/images.py``)
    width, height   int32     the original image's size (after EXIF rotation)
    label           int8      1 fake (MediaEval fake, humor with --keep-humor; Weibo
                              rumor), 0 real (MediaEval real; Weibo nonrumor)
    label_name      string    the corpus's own label: fake, real, humor, rumor, nonrumor
    image_index     int32     position of this image in the post's image list (0-based)
    images_in_post  int32     how many images the post lists (found on disk or not)
    user_id         string    author id (MediaEval userId; Weibo metadata field 10)
    timestamp       string    as written by the corpus (MediaEval "Fri Mar 20 09:45:43
                              +0000 2015", Weibo "2013-07-05 12:20")
    dataset         string    mediaeval2015 | mediaeval2016 | weibo
    corpus_split    string    the corpus's own set of the post: train (devset, train_*)
                              or test (testset, test_*); the shard folder is the split
                              actually used (``--split-by``)
    ==============  ========  ==========================================================

A rejected row (``_rejected/part-*.parquet``): ``source`` is the post, ``<posts file>#<post
id>`` (``#line<N>`` when the line has no readable id; the file alone when the whole file is
unreadable), ``stage`` (``STAGES``), ``error_type`` (a class of ``errors.py`` or of
``pipelines/image_text/errors.py`` for images PIL cannot decode), ``message``, ``sample_id``
(set when one image of a written post was dropped: the id its row would have had).
"""

from __future__ import annotations

import hashlib

import pyarrow as pa

SCHEMA_VERSION = 1
FORMATS: tuple[str, ...] = ("mediaeval", "weibo")
SPLIT_RULES: tuple[str, ...] = ("corpus", "event")
# Rejection stages in pipeline order. On the driver, per post: ``list`` (a posts file as a
# whole), ``parse`` (a malformed line or block, bad UTF-8), ``duplicate`` (a post id read
# before), ``label`` (unknown; humor unless kept), ``text`` (empty), ``images`` (no image file
# found). In the decoding actors, per image: ``read`` (the file), ``decode`` (PIL).
STAGES: tuple[str, ...] = (
    "list",
    "parse",
    "duplicate",
    "label",
    "text",
    "images",
    "read",
    "decode",
)
DEFAULT_IMAGE_SIZE = 224
DEFAULT_JPEG_QUALITY = 90
# The corpus's label -> the row's label (1 fake, 0 real); humor only with --keep-humor.
LABELS: dict[str, int] = {"fake": 1, "real": 0, "humor": 1, "rumor": 1, "nonrumor": 0}
HUMOR = "humor"


def news_schema() -> pa.Schema:
    """The Arrow schema of every news row (see the module docstring)."""
    return pa.schema(
        [
            pa.field("sample_id", pa.string()),
            pa.field("source", pa.string()),
            pa.field("post_id", pa.string()),
            pa.field("event", pa.string()),
            pa.field("text", pa.string()),
            pa.field("image", pa.binary()),
            pa.field("width", pa.int32()),
            pa.field("height", pa.int32()),
            pa.field("label", pa.int8()),
            pa.field("label_name", pa.string()),
            pa.field("image_index", pa.int32()),
            pa.field("images_in_post", pa.int32()),
            pa.field("user_id", pa.string()),
            pa.field("timestamp", pa.string()),
            pa.field("dataset", pa.string()),
            pa.field("corpus_split", pa.string()),
        ]
    )


def news_sample_id(dataset: str, post_id: str, image_index: int) -> str:
    """``sha1("<dataset>/<post_id>/<image_index>")[:20]``.

    The dataset name rather than a path: ``--source`` may be the top folder, a year folder or
    a devset folder, and the same post must keep its id whichever was given.
    """
    key = f"{dataset}/{post_id}/{image_index}"
    return hashlib.sha1(key.encode("utf-8", errors="surrogatepass")).hexdigest()[:20]
