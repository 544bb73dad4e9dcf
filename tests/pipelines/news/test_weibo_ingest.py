"""Weibo in the EANN layout: Chinese text through to the rows, the corpus's train/test kept,
broken blocks (bad UTF-8, a 14-field metadata line, a block without its text line, stray lines)
rejected without shifting the blocks after them. The second ingest runs the job itself into the
same folder: the same sample ids in byte-identical files."""

from __future__ import annotations

import json

import news_fixtures as fx
import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.news.ingest import run_news_ingest
from crossmodal_ray.pipelines.news.schema import news_sample_id
from crossmodal_ray.pipelines.news.source import NewsSourceConfig

SIZE = 32
TEXT_3001 = "【郭美美申请低保，居然获准通过！】郭美美对记者说，她其实就是一个失业人员。"
TEXT_3002 = "#天津塘沽大爆炸# 别只知道事后悲哀 http://t.cn/xyz"
TRAIN_RUMOR = [
    *fx.weibo_block("3001", ["a1.jpg"], TEXT_3001),
    *fx.weibo_block("3002", ["a2.jpg", "a3.jpg"], TEXT_3002),
    fx.weibo_metadata("3003"),
    "http://ww4.sinaimg.cn/large/a1.jpg|null",
    "坏".encode() + b"\xff\xfe" + "字节".encode(),
    fx.weibo_metadata("3004", fields=14),
    "http://ww4.sinaimg.cn/large/a1.jpg|null",
    "十四个字段",
    fx.weibo_metadata("3005"),
    "http://ww4.sinaimg.cn/large/a1.jpg|null",
    *fx.weibo_block("3006", ["a4.jpg"], "第三行缺失的帖子之后的帖子"),
    *fx.weibo_block("3007", ["a1.jpg"], "   "),
]
TRAIN_NONRUMOR = [
    *fx.weibo_block("3101", ["n1.jpg"], "今天天气很好。"),
    *fx.weibo_block("3102", ["gone1.jpg", "gone2.jpg"], "图片都不见了"),
    *fx.weibo_block("3103", ["a5.jpg"], "图片在另一个文件夹里"),
]
TEST_RUMOR = [
    *fx.weibo_block("3201", ["a6.jpg"], "测试集的谣言"),
    *fx.weibo_block("3001", ["a1.jpg"], TEXT_3001),
]
TEST_NONRUMOR = [
    "这不是一个帖子",
    *fx.weibo_block("3301", ["n2.jpg"], "测试集的真实新闻"),
]
IMAGES = {
    **{f"rumor_images/a{i}.jpg": fx.jpeg((40 * i, 20, 20)) for i in range(1, 7)},
    "nonrumor_images/n1.jpg": fx.jpeg((20, 200, 20)),
    "nonrumor_images/n2.jpg": fx.jpeg((20, 20, 200)),
}
WRITTEN_ROWS = {"3001": 1, "3002": 2, "3006": 1, "3101": 1, "3103": 1, "3201": 1, "3301": 1}
REJECTED_POSTS = {
    "tweets/train_rumor.txt#3003": ("parse", "BadUtf8Error", "text line 9 is not valid UTF-8"),
    "tweets/train_rumor.txt#3004": ("parse", "MalformedLineError", "has 14 |-separated fields"),
    "tweets/train_rumor.txt#3005": ("parse", "MalformedLineError", "its text line is missing"),
    "tweets/train_rumor.txt#3007": ("text", "EmptyTextError", "empty text"),
    "tweets/train_nonrumor.txt#3102": ("images", "MissingImageError", "'gone1', 'gone2'"),
    "tweets/test_rumor.txt#3001": ("duplicate", "DuplicatePostError", "duplicate post"),
    "tweets/test_nonrumor.txt#line1": ("parse", "MalformedLineError", "not a post block"),
}


@pytest.fixture(scope="module")
def weibo(tmp_path_factory, ray_session):
    raw = fx.write_weibo(
        tmp_path_factory.mktemp("weibo") / "weibo_eann",
        {
            "train_rumor.txt": TRAIN_RUMOR,
            "train_nonrumor.txt": TRAIN_NONRUMOR,
            "test_rumor.txt": TEST_RUMOR,
            "test_nonrumor.txt": TEST_NONRUMOR,
        },
        IMAGES,
    )
    out = tmp_path_factory.mktemp("weibo_out")
    config = NewsSourceConfig(source=str(raw), format="weibo", image_size=SIZE)
    manifest = run_news_ingest(config, IngestConfig(out=str(out), concurrency=2))
    corpus = out / "weibo_eann"
    files = {p.relative_to(corpus): p.read_bytes() for p in sorted(corpus.rglob("*.parquet"))}
    return {
        "raw": raw,
        "out": out,
        "manifest": manifest,
        "files": files,
        "rows": fx.read_rows(out, "weibo_eann", manifest),
        "rejected": fx.read_rejected_rows(out, "weibo_eann", manifest),
    }


def all_rows(weibo):
    return [row for rows in weibo["rows"].values() for row in rows]


def test_chinese_text_and_labels_reach_the_rows(weibo):
    by_post = {}
    for row in all_rows(weibo):
        by_post.setdefault(row["post_id"], []).append(row)
    assert {post: len(rows) for post, rows in by_post.items()} == WRITTEN_ROWS
    first = by_post["3001"][0]
    assert first["text"] == TEXT_3001
    assert (first["label"], first["label_name"], first["dataset"]) == (1, "rumor", "weibo")
    assert (first["source"], first["event"]) == ("rumor_images/a1.jpg", "")
    assert (first["user_id"], first["timestamp"]) == ("2144108254", "2013-07-05 12:20")
    assert first["sample_id"] == news_sample_id("weibo", "3001", 0)
    assert [r["image_index"] for r in by_post["3002"]] == [0, 1]
    assert by_post["3101"][0]["label"] == 0 and by_post["3101"][0]["label_name"] == "nonrumor"
    # a nonrumor post whose image sits in rumor_images/ is still found
    assert by_post["3103"][0]["source"] == "rumor_images/a5.jpg"


@pytest.mark.parametrize("source", list(REJECTED_POSTS))
def test_bad_block_is_rejected_with_its_reason(weibo, source):
    rows = [r for r in weibo["rejected"] if r["source"] == source]
    assert len(rows) == 1, rows
    stage, error_type, words = REJECTED_POSTS[source]
    assert (rows[0]["stage"], rows[0]["error_type"]) == (stage, error_type), rows[0]
    assert words in rows[0]["message"], rows[0]["message"]


def test_corpus_test_files_are_the_test_split(weibo):
    split_of = {r["post_id"]: s for s, rows in weibo["rows"].items() for r in rows}
    assert {p for p, s in split_of.items() if s == "test"} == {"3201", "3301"}
    assert {r["corpus_split"] for r in weibo["rows"]["test"]} == {"test"}
    posts = weibo["manifest"]["posts"]
    assert (posts["read"], posts["written"], posts["rejected"]) == (14, 7, 7)
    assert weibo["manifest"]["totals"] == {"read": 15, "written": 8, "rejected": 7}
    assert weibo["manifest"]["group_key"] == "post"


def test_rerun_by_the_job_gives_the_same_ids_in_identical_files(weibo, capsys):
    job = load_job("ingest_news")
    summary = job.main(
        [
            "--source",
            str(weibo["raw"]),
            "--format",
            "weibo",
            "--out",
            str(weibo["out"]),
            "--image-size",
            str(SIZE),
        ]
    )
    last_line = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last_line) == summary
    assert summary["posts"]["written"] == 7 and summary["rows"]["test"] == 2
    corpus = weibo["out"] / "weibo_eann"
    files = {p.relative_to(corpus): p.read_bytes() for p in sorted(corpus.rglob("*.parquet"))}
    assert files.keys() == weibo["files"].keys()
    assert all(files[name] == weibo["files"][name] for name in files)
    again = fx.read_rows(
        weibo["out"], "weibo_eann", json.loads((corpus / "_manifest.json").read_text())
    )
    ids = sorted(r["sample_id"] for rows in again.values() for r in rows)
    assert ids == sorted(r["sample_id"] for r in all_rows(weibo))
