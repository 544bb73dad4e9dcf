"""The MediaEval and Weibo corpora of the bad-input corpus (``write_bad_corpora``): posts files
and images, good posts mixed with one post of each kind of breakage, for
``jobs/ingest_news.py``.

MediaEval (``mediaeval_bad/``, the sample corpus's 2015-style layout: ``devset/`` and
``testset/`` with ``tweets.txt``, ``images.txt`` and ``images/<event>/<image id>.jpg``): a line
with three columns instead of the header's seven, a line whose bytes are not UTF-8, a label
that is none of fake/real/humor, a post whose image id names no file, a post whose only image
is a truncated JPEG, and one whose only image is a 20,000 x 20,000 PNG (the decompression-bomb
guard); a post with a CMYK JPEG is valid and written.

Weibo (``weibo_bad/``, the EANN layout: ``tweets/<split>_<label>.txt`` with three lines per
post, ``rumor_images/``, ``nonrumor_images/``): a post whose text line comes before its
metadata and image lines, a post whose images are all absent, a metadata line with 14 fields
where the file's others have 15, a text line that is not UTF-8.

Posts and images are written with the news tests' fixtures (``news_fixtures.py``, and the
bomb from ``image_text_fixtures.py``), as in ``tests/pipelines/news/test_news_bad_inputs.py``
and ``test_weibo_ingest.py``. A rejected post's ``source`` is ``<posts file>#<post id>``; a
written row's is its image file.
"""

from __future__ import annotations

from pathlib import Path

import image_text_fixtures as itx
import news_fixtures as fx
from bad_input_kinds import BadCorpus, BadKind

from crossmodal_ray.pipelines.image_text.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS

JOB = "ingest_news"
COMMON_FLAGS = ["--image-size", "32", "--concurrency", "2"]
DEVSET = "devset/tweets.txt"
# devset/tweets.txt: line 1 is the header, so the post on DEV_LINES[k] is on line k + 2.
DEV_LINES: list[str | bytes] = [
    fx.tweet_line("101", "A good Boston post", "boston_fake_01", "fake"),
    fx.tweet_line("102", "A CMYK picture", "cmyk_01", "real"),
    fx.tweet_line("103", "Its image is nowhere", "sandy_fake_01", "fake"),
    "104\tonly three\tcolumns",
    b"105\tcaf\xff au lait\t42\tboston_fake_01\tsomeone\tMon Oct 29\tfake",
    fx.tweet_line("106", "Satire is no label", "boston_fake_01", "satire"),
    fx.tweet_line("107", "A very large picture", "bomb_01", "fake"),
    fx.tweet_line("108", "A picture cut short", "broken_01", "fake"),
    fx.tweet_line("109", "Earthquake", "quake_01", "real"),
]
TEST_LINES = [fx.tweet_line("201", "Eclipse from the ISS", "eclipse_01", "real")]


def write_mediaeval(raw: Path) -> BadCorpus:
    """The MediaEval corpus (see the module docstring)."""
    dev_images = {
        "boston_fake_01": ("boston", fx.jpeg((200, 30, 30))),
        "cmyk_01": ("misc", fx.cmyk_jpeg()),
        "bomb_01": ("misc", itx.bomb_png(20_000, 20_000)),
        "broken_01": ("misc", fx.truncated_jpeg()),
        "quake_01": ("Quake", fx.jpeg((90, 90, 90))),
    }
    fx.write_mediaeval_set(raw, "devset", DEV_LINES, dev_images, {"boston_fake_01": "boston"})
    test_images = {"eclipse_01": ("Solar_eclipse", fx.jpeg((250, 250, 0)))}
    fx.write_mediaeval_set(raw, "testset", TEST_LINES, test_images)

    def kind(name: str, post: str, stage: str, error_type: str, words: str) -> BadKind:
        return BadKind(name, "mediaeval", f"{DEVSET}#{post}", stage, error_type, words)

    kinds = [
        kind(
            "line with a wrong column count",
            "104",
            "parse",
            "MalformedLineError",
            "line 5 has 3 tab-separated columns, the header 7",
        ),
        kind("bad UTF-8", "105", "parse", "BadUtf8Error", "line 6 is not valid UTF-8"),
        kind(
            "unknown label",
            "106",
            "label",
            "UnknownLabelError",
            "unknown label 'satire'; expected fake, real or humor",
        ),
        kind(
            "missing image",
            "103",
            "images",
            "MissingImageError",
            "image missing: no file under the source for image id(s) 'sandy_fake_01'",
        ),
        kind(
            "20,000 x 20,000 image (decompression bomb)",
            "107",
            "decode",
            "ImageTooLargeError",
            "image of 20000 x 20000 = 400,000,000 pixels exceeds --max-image-pixels 89,478,485",
        ),
        kind(
            "truncated JPEG",
            "108",
            "decode",
            "CorruptImageError",
            "truncated or corrupt JPEG data",
        ),
    ]
    return BadCorpus(
        format="mediaeval",
        job=JOB,
        argv=["--source", str(raw), "--corpus", "bad_mediaeval", *COMMON_FLAGS],
        raw=raw,
        kinds=kinds,
        written_sources={
            "devset/images/boston/boston_fake_01.jpg",
            "devset/images/Quake/quake_01.jpg",
            "testset/images/Solar_eclipse/eclipse_01.jpg",
        },
        accepted_kinds={"CMYK JPEG": "devset/images/misc/cmyk_01.jpg"},
    )


def weibo_image_line(*names: str) -> str:
    return "|".join([*(f"http://ww4.sinaimg.cn/large/{name}" for name in names), "null"])


# tweets/train_rumor.txt, line by line (1-based numbers in the comments).
TRAIN_RUMOR: list[str | bytes] = [
    *fx.weibo_block("4001", ["a1.jpg"], "第一条好帖子"),  # 1-3
    "文字行跑到了前面",  # 4: the text of post 4002 ...
    fx.weibo_metadata("4002"),  # 5: ... before its metadata
    weibo_image_line("a2.jpg"),  # 6
    *fx.weibo_block("4003", ["a3.jpg"], "第二条好帖子"),  # 7-9
    *fx.weibo_block("4004", ["gone1.jpg"], "图片都不见了"),  # 10-12
    fx.weibo_metadata("4005", fields=14),  # 13
    weibo_image_line("a1.jpg"),  # 14
    "十四个字段",  # 15
    fx.weibo_metadata("4006"),  # 16
    weibo_image_line("a1.jpg"),  # 17
    "坏".encode() + b"\xff\xfe" + "字节".encode(),  # 18
]


def write_weibo(raw: Path) -> BadCorpus:
    """The Weibo corpus (see the module docstring)."""
    fx.write_weibo(
        raw,
        {
            "train_rumor.txt": TRAIN_RUMOR,
            "train_nonrumor.txt": fx.weibo_block("4101", ["n1.jpg"], "今天天气很好。"),
            "test_rumor.txt": fx.weibo_block("4201", ["a4.jpg"], "测试集的谣言"),
            "test_nonrumor.txt": fx.weibo_block("4301", ["n2.jpg"], "测试集的真实新闻"),
        },
        {
            **{f"rumor_images/a{i}.jpg": fx.jpeg((50 * i, 20, 20)) for i in range(1, 5)},
            "nonrumor_images/n1.jpg": fx.jpeg((20, 200, 20)),
            "nonrumor_images/n2.jpg": fx.jpeg((20, 20, 200)),
        },
    )

    def kind(name: str, post: str, stage: str, error_type: str, words: str) -> BadKind:
        return BadKind(name, "weibo", f"tweets/train_rumor.txt#{post}", stage, error_type, words)

    kinds = [
        kind(
            "post with its three lines out of order",
            "4002",
            "parse",
            "MalformedLineError",
            "lines 4-6: the post's three lines are out of order: text (line 4), "
            "metadata (line 5), image URLs (line 6)",
        ),
        kind(
            "missing image",
            "4004",
            "images",
            "MissingImageError",
            "image missing: no file under the source for image id(s) 'gone1'",
        ),
        kind(
            "metadata line with a wrong field count",
            "4005",
            "parse",
            "MalformedLineError",
            "metadata line 13 has 14 |-separated fields, the file's other metadata lines 15",
        ),
        kind("bad UTF-8", "4006", "parse", "BadUtf8Error", "text line 18 is not valid UTF-8"),
    ]
    return BadCorpus(
        format="weibo",
        job=JOB,
        argv=["--source", str(raw), "--format", "weibo", "--corpus", "bad_weibo", *COMMON_FLAGS],
        raw=raw,
        kinds=kinds,
        written_sources={
            "rumor_images/a1.jpg",
            "rumor_images/a3.jpg",
            "rumor_images/a4.jpg",
            "nonrumor_images/n1.jpg",
            "nonrumor_images/n2.jpg",
        },
    )


def write_bad_corpora(root: Path) -> list[BadCorpus]:
    """Write the MediaEval and the Weibo bad corpora under ``root``."""
    return [
        write_mediaeval(Path(root) / "mediaeval_bad"),
        write_weibo(Path(root) / "weibo_bad"),
    ]


def extra_checks(corpus: BadCorpus, outcome) -> list[str]:
    """The bomb guard's limit is in the manifest, and the job's summary gives the posts."""
    failures = []
    if outcome.manifest.get("max_image_pixels") != DEFAULT_MAX_IMAGE_PIXELS:
        failures.append(f"manifest max_image_pixels {outcome.manifest.get('max_image_pixels')}")
    if outcome.summary.get("posts") != outcome.manifest["posts"]:
        failures.append(f"summary posts {outcome.summary.get('posts')} != manifest's")
    return failures
