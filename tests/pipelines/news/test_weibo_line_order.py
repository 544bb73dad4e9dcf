"""A Weibo post whose three lines are out of order is one rejection naming the post and each
line's number, in every order, and the posts around it are read as usual; a stray line before a
well-formed post stays a stray line. Parsing only: no images, no Ray."""

from __future__ import annotations

import itertools

import news_fixtures as fx
import pytest

from crossmodal_ray.pipelines.news.weibo import parse_weibo

ROLES = ("metadata", "image URLs", "text")
SHUFFLED = [order for order in itertools.permutations(range(3)) if order != (0, 1, 2)]


def parse(tmp_path, lines):
    fx.write_weibo(tmp_path / "weibo", {"train_rumor.txt": lines}, {})
    return parse_weibo(tmp_path / "weibo")


@pytest.mark.parametrize("order", SHUFFLED)
def test_shuffled_post_is_one_rejection_naming_its_lines(tmp_path, order):
    shuffled = fx.weibo_block("5002", ["b.jpg"], "乱序的帖子")
    lines = [
        *fx.weibo_block("5001", ["a.jpg"], "第一条"),
        *(shuffled[k] for k in order),
        *fx.weibo_block("5003", ["c.jpg"], "第三条"),
    ]
    parsed = parse(tmp_path, lines)
    assert [p.post_id for p in parsed.posts] == ["5001", "5003"]
    assert [p.text for p in parsed.posts] == ["第一条", "第三条"]
    [row] = parsed.rejected
    assert (row["source"], row["stage"], row["error_type"]) == (
        "tweets/train_rumor.txt#5002",
        "parse",
        "MalformedLineError",
    )
    found = ", ".join(f"{ROLES[k]} (line {4 + n})" for n, k in enumerate(order))
    assert f"lines 4-6: the post's three lines are out of order: {found}" in row["message"]


def test_shuffled_post_at_the_end_of_the_file(tmp_path):
    text, metadata, images = "最后一条", fx.weibo_metadata("5002"), "http://x/b.jpg|null"
    parsed = parse(tmp_path, [*fx.weibo_block("5001", ["a.jpg"], "第一条"), text, metadata, images])
    assert [p.post_id for p in parsed.posts] == ["5001"]
    [row] = parsed.rejected
    assert row["source"] == "tweets/train_rumor.txt#5002"
    assert "text (line 4), metadata (line 5), image URLs (line 6)" in row["message"]


def test_stray_line_before_a_good_post_stays_a_stray_line(tmp_path):
    lines = ["一行多余的文字", *fx.weibo_block("5001", ["a.jpg"], "好帖子")]
    parsed = parse(tmp_path, lines)
    assert [(p.post_id, p.text) for p in parsed.posts] == [("5001", "好帖子")]
    [row] = parsed.rejected
    assert row["source"] == "tweets/train_rumor.txt#line1"
    assert "not a post block" in row["message"]
