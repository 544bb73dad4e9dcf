"""Every kind of bad MediaEval input lands in ``_rejected/`` with its stage and reason while the
good posts of the same corpus are written; the manifest counts posts and rows. One ingest of a
tiny corpus in the sample corpus's 2015-style layout (devset + testset), ``--split-by corpus``."""

from __future__ import annotations

from io import BytesIO

import news_fixtures as fx
import pytest
from PIL import Image

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.news.ingest import run_news_ingest
from crossmodal_ray.pipelines.news.schema import news_sample_id
from crossmodal_ray.pipelines.news.source import NewsSource, NewsSourceConfig

SIZE = 32
DATASET = "mediaeval2015"  # no mediaeval20xx folder: the 2015 header names it
DEV_LINES = [
    fx.tweet_line("101", "Good Boston post", "boston_fake_01", "fake"),
    fx.tweet_line(
        "102", "Three images, one missing", "boston_real_01,boston_real_02 ,gone_99", "real"
    ),
    fx.tweet_line("103", "No image on disk", "sandy_fake_01,sandy_fake_02", "fake"),
    fx.tweet_line("104", "Broken image", "broken_01", "fake"),
    fx.tweet_line("105", "Not a picture", "text_01", "real"),
    fx.tweet_line("106", "   ", "boston_fake_01", "fake"),
    "107\tonly three\tcolumns",
    b"108\tcaf\xff au lait\t42\tboston_fake_01\tsomeone\tMon Oct 29\tfake",
    fx.tweet_line("109", "Satire is no label", "boston_fake_01", "satire"),
    fx.tweet_line("110", "A funny one", "boston_fake_01", "humor"),
    fx.tweet_line("101", "The same post again", "boston_fake_01", "fake"),
    fx.tweet_line("111", "CMYK picture", "cmyk_01", "real"),
    "",
    fx.tweet_line("112", "One good, one broken", "boston_fake_01,broken_01", "fake"),
    fx.tweet_line("113", "Earthquake", "quake_01", "real"),
]
DEV_IMAGES = {
    "boston_fake_01": ("boston", fx.jpeg((200, 30, 30))),
    "boston_real_01": ("boston", fx.jpeg((30, 200, 30))),
    "boston_real_02": ("boston", fx.jpeg((30, 30, 200), size=(64, 40))),
    "broken_01": ("misc", fx.truncated_jpeg()),
    "text_01": ("misc", b"just some text, no picture\n"),
    "cmyk_01": ("misc", fx.cmyk_jpeg()),
    "quake_01": ("Quake", fx.jpeg((90, 90, 90))),
}
TEST_LINES = [
    fx.tweet_line("201", "Eclipse from the ISS", "eclipse_01", "real"),
    fx.tweet_line("101", "Repeated in the test set", "boston_fake_01", "fake"),
    fx.tweet_line("202", "Boston, test set", "boston_fake_03", "fake"),
]
TEST_IMAGES = {
    "eclipse_01": ("Solar_eclipse", fx.jpeg((250, 250, 0))),
    "boston_fake_03": ("Boston", fx.jpeg((10, 10, 10))),
}
WRITTEN_ROWS = {"101": 1, "102": 2, "111": 1, "112": 1, "113": 1, "201": 1, "202": 1}
# rejected post (source) -> (stage, error type, words of the message)
REJECTED_POSTS = {
    "devset/tweets.txt#103": ("images", "MissingImageError", "image missing"),
    "devset/tweets.txt#104": ("decode", "CorruptImageError", "truncated or corrupt JPEG"),
    "devset/tweets.txt#105": ("decode", "NotAnImageError", "not an image file"),
    "devset/tweets.txt#106": ("text", "EmptyTextError", "empty text"),
    "devset/tweets.txt#107": ("parse", "MalformedLineError", "3 tab-separated columns"),
    "devset/tweets.txt#108": ("parse", "BadUtf8Error", "not valid UTF-8"),
    "devset/tweets.txt#109": ("label", "UnknownLabelError", "unknown label 'satire'"),
    "devset/tweets.txt#110": (
        "label",
        "HumorDroppedError",
        "label humor dropped (--keep-humor keeps it as fake)",
    ),
    "testset/tweets.txt#101": ("duplicate", "DuplicatePostError", "duplicate post"),
}


def write_corpus(root):
    fx.write_mediaeval_set(root, "devset", DEV_LINES, DEV_IMAGES, {"boston_fake_01": "boston"})
    fx.write_mediaeval_set(root, "testset", TEST_LINES, TEST_IMAGES)
    return root


@pytest.fixture(scope="module")
def raw(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("news_bad") / "news_mediaeval")


@pytest.fixture(scope="module")
def ingested(raw, tmp_path_factory, ray_session):
    out = tmp_path_factory.mktemp("news_bad_out")
    manifest = run_news_ingest(
        NewsSourceConfig(source=str(raw), image_size=SIZE),
        IngestConfig(out=str(out), concurrency=2),
    )
    rows = fx.read_rows(out, "news_mediaeval", manifest)
    return {
        "manifest": manifest,
        "rows": rows,
        "rejected": fx.read_rejected_rows(out, "news_mediaeval", manifest),
    }


@pytest.mark.parametrize("source", list(REJECTED_POSTS))
def test_bad_post_is_rejected_with_its_reason(ingested, source):
    rows = [r for r in ingested["rejected"] if r["source"] == source and not r["sample_id"]]
    assert len(rows) == 1, rows
    stage, error_type, words = REJECTED_POSTS[source]
    assert (rows[0]["stage"], rows[0]["error_type"]) == (stage, error_type), rows[0]
    assert words in rows[0]["message"], rows[0]["message"]


def test_repeat_within_a_file_is_rejected_and_the_first_read_kept(ingested):
    repeats = [
        r
        for r in ingested["rejected"]
        if r["source"] == "devset/tweets.txt#101" and r["error_type"] == "DuplicatePostError"
    ]
    assert len(repeats) == 1 and "line 12" in repeats[0]["message"]
    texts = {
        r["text"] for split in ingested["rows"].values() for r in split if r["post_id"] == "101"
    }
    assert texts == {"Good Boston post"}


def test_dropped_images_keep_their_post(ingested):
    parts = {r["source"]: r for r in ingested["rejected"] if r["sample_id"]}
    assert set(parts) == {"devset/tweets.txt#102", "devset/tweets.txt#112"}
    missing, broken = parts["devset/tweets.txt#102"], parts["devset/tweets.txt#112"]
    assert (missing["stage"], missing["error_type"]) == ("images", "MissingImageError")
    assert missing["sample_id"] == news_sample_id(DATASET, "102", 2)
    assert "'gone_99'" in missing["message"]
    assert (broken["stage"], broken["error_type"]) == ("decode", "CorruptImageError")
    assert broken["sample_id"] == news_sample_id(DATASET, "112", 1)
    assert "devset/images/misc/broken_01.jpg" in broken["message"]


def test_good_posts_are_written_one_row_per_image(ingested):
    rows = [r for split in ingested["rows"].values() for r in split]
    per_post = {}
    for row in rows:
        per_post[row["post_id"]] = per_post.get(row["post_id"], 0) + 1
    assert per_post == WRITTEN_ROWS
    by_id = {(r["post_id"], r["image_index"]): r for r in rows}
    second = by_id[("102", 1)]
    assert second["source"] == "devset/images/boston/boston_real_02.jpg"
    assert (second["width"], second["height"], second["images_in_post"]) == (64, 40, 3)
    assert (second["label"], second["label_name"], second["event"]) == (0, "real", "boston")
    assert second["sample_id"] == news_sample_id(DATASET, "102", 1)
    assert (second["dataset"], second["corpus_split"], second["user_id"]) == (
        DATASET,
        "train",
        "42",
    )
    assert second["timestamp"] == fx.TIMESTAMP
    cmyk = by_id[("111", 0)]
    with Image.open(BytesIO(cmyk["image"])) as image:
        assert (image.format, image.mode, image.size) == ("JPEG", "RGB", (SIZE, SIZE))
        r, g, b = image.getpixel((SIZE // 2, SIZE // 2))
        assert g > 150 and r < 80 and b < 80  # the CMYK green came out green
    assert by_id[("113", 0)]["event"] == "quake"  # the event folder, lower case
    assert by_id[("201", 0)]["event"] == "solar_eclipse"


def test_read_equals_written_plus_rejected_in_posts_and_in_rows(ingested):
    manifest = ingested["manifest"]
    posts = manifest["posts"]
    assert (posts["read"], posts["written"], posts["rejected"]) == (17, 7, 10)
    assert (posts["rejected_at_listing"], posts["rejected_at_decoding"]) == (8, 2)
    assert manifest["inputs"] == {"read": 17, "ingested": 7, "rejected": 10}
    assert manifest["totals"] == {"read": 20, "written": 8, "rejected": 12}
    assert sum(manifest["posts_per_split"].values()) == 7
    assert manifest["images_dropped"] == {"CorruptImageError": 1, "MissingImageError": 1}
    assert manifest["rejected_by_stage"] == {
        "list": 0,
        "parse": 2,
        "duplicate": 2,
        "label": 2,
        "text": 1,
        "images": 2,
        "read": 0,
        "decode": 3,
    }


def test_corpus_split_moves_a_test_event_whole(ingested):
    manifest = ingested["manifest"]
    split_of = {r["post_id"]: s for s, rows in ingested["rows"].items() for r in rows}
    assert {split_of[p] for p in ("201", "202", "101", "102", "112")} == {"test"}
    assert {split_of[p] for p in ("111", "113")} <= {"train", "val"}
    assert manifest["listing"]["posts_moved_to_test_with_their_event"] == 3
    events = {s: {r["event"] for r in rows} for s, rows in ingested["rows"].items()}
    assert not (events["train"] & events["val"] or events["train"] & events["test"])
    assert not events["val"] & events["test"]


def listed(raw, **options):
    source = NewsSource(NewsSourceConfig(source=str(raw), **options))
    items, rejected = source.list_inputs()
    return {item.payload["post_id"]: item for item in items}, rejected


def test_keep_humor_keeps_it_as_fake(raw):
    items, rejected = listed(raw, keep_humor=True)
    assert (items["110"].payload["label"], items["110"].payload["label_name"]) == (1, "humor")
    assert not any(r["error_type"] == "HumorDroppedError" for r in rejected)


def test_first_image_only_takes_the_first_image_found(raw):
    items, _ = listed(raw, first_image_only=True)
    assert [i["index"] for i in items["102"].payload["images"]] == [0]
    assert [i["index"] for i in items["112"].payload["images"]] == [0]
    assert items["102"].payload["images_in_post"] == 3


def test_event_split_hashes_events_not_the_corpus_sets(raw):
    items, _ = listed(raw, split_by="event")
    assert {item.split for item in items.values()} == {None}  # the runner hashes group keys
    assert items["101"].group_key == items["202"].group_key == "boston"
