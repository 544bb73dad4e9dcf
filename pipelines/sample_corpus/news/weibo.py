"""Write posts in the Weibo rumor layout of EANN (Wang et al., KDD 2018), in simplified Chinese::

    <out>/weibo/tweets/train_rumor.txt      three lines per post:
    <out>/weibo/tweets/train_nonrumor.txt     post_id|user_name|user_id|post_url|reposts|
    <out>/weibo/tweets/test_rumor.txt           comments|likes|2014-03-12 20:15
    <out>/weibo/tweets/test_nonrumor.txt      http://ww1.sinaimg.cn/mw690/<name>.jpg|null
                                              the text (UTF-8)
    <out>/weibo/rumor_images/<name>.jpg       images of rumor (fake) posts
    <out>/weibo/nonrumor_images/<name>.jpg    images of nonrumor (real) posts

Readers find an image by the file name at the end of its URL. Post ids are 16-digit numbers;
image names are 32 characters like Sina's (``3f2a91c0jw1e`` + 20 more). The text is the caption
said in Chinese (``chinese.py``) with the event's hashtag (``#港口洪水#``), maybe a lead-in
(``【现场图】``), the event's words and a t.cn link, drawn the same way for both labels.
"""

from __future__ import annotations

import string
from datetime import timedelta
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.news.chinese import chinese_caption
from crossmodal_ray.pipelines.sample_corpus.news.config import FAKE
from crossmodal_ray.pipelines.sample_corpus.news.posts import NewsPost

LEADS = ("", "", "【突发】", "【现场图】", "转发微博：", "刚刚拍到：", "震惊！")
AT_EVENT = ("", "", "{words}现场：", "{words}最新：")
ENDINGS = ("。", "！", "", "。求扩散")
NICKNAMES = ("晴天", "小鱼", "北风", "老王", "阿杰", "星星", "路人甲", "山水", "微博用户")
FIRST_POST_ID = 3_400_000_000_000_000
POST_ID_STEP = 100_000_000
BASE36 = string.digits + string.ascii_lowercase
BASE62 = string.digits + string.ascii_letters


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def _random_chars(alphabet: str, n: int, rng: np.random.Generator) -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=n))


def weibo_text(post: NewsPost, rng: np.random.Generator) -> str:
    lead = _pick(LEADS, rng)
    at_event = _pick(AT_EVENT, rng).format(words=post.event.words_zh)
    caption = chinese_caption(post.caption, rng)
    link = f" http://t.cn/{_random_chars(BASE62, 7, rng)}" if rng.random() < 0.4 else ""
    return f"{lead}{post.event.hashtag_zh}{at_event}{caption}{_pick(ENDINGS, rng)}{link}"


def image_name(post: NewsPost, k: int, user_id: int, rng: np.random.Generator) -> str:
    """32 characters, unique by construction: user, ``jw1e``, post index and image, random."""
    index = np.base_repr(post.plan.index, 36).lower().rjust(6, "0")
    return f"{user_id % 16**8:08x}jw1e{index}{k}{_random_chars(BASE36, 13, rng)}"


class WeiboWriter:
    """Collects posts and their images; ``close`` writes the four tweets files."""

    def __init__(self, root: Path) -> None:
        self.root = root / "weibo"
        for folder in ("tweets", "rumor_images", "nonrumor_images"):
            (self.root / folder).mkdir(parents=True)
        self.blocks: dict[str, list[str]] = {}

    def add(
        self, post: NewsPost, jpegs: list[bytes], rng: np.random.Generator
    ) -> tuple[str, list[str]]:
        """Write the post's images and keep its three lines; returns (post id, image paths
        relative to the corpus root)."""
        rumor = post.label == FAKE
        folder = "rumor_images" if rumor else "nonrumor_images"
        user_id = int(rng.integers(10**9, 7 * 10**9))
        urls, paths = [], []
        for k, jpeg in enumerate(jpegs):
            name = image_name(post, k, user_id, rng)
            (self.root / folder / f"{name}.jpg").write_bytes(jpeg)
            urls.append(f"http://ww{int(rng.integers(1, 5))}.sinaimg.cn/mw690/{name}.jpg")
            paths.append(f"weibo/{folder}/{name}.jpg")
        post_id = str(FIRST_POST_ID + post.plan.index * POST_ID_STEP + int(rng.integers(10**7)))
        t = post.event.start + timedelta(seconds=int(rng.integers(4 * 86400)))
        meta = (
            post_id,
            f"{_pick(NICKNAMES, rng)}{int(rng.integers(1000, 10000))}",
            str(user_id),
            f"http://weibo.com/{user_id}/{_random_chars(BASE62, 9, rng)}",
            str(int(rng.geometric(0.05))),  # reposts
            str(int(rng.geometric(0.1))),  # comments
            str(int(rng.geometric(0.05))),  # likes
            f"{t:%Y-%m-%d %H:%M}",
        )
        text = weibo_text(post, rng)
        assert "\n" not in text and "|" not in text
        file_name = f"{post.plan.split}_{'rumor' if rumor else 'nonrumor'}.txt"
        self.blocks.setdefault(file_name, []).extend(
            ["|".join(meta), "|".join([*urls, "null"]), text]
        )
        return post_id, paths

    def close(self) -> None:
        for split in ("train", "test"):
            for which in ("rumor", "nonrumor"):
                lines = self.blocks.get(f"{split}_{which}.txt", [])
                text = "".join(line + "\n" for line in lines)
                (self.root / "tweets" / f"{split}_{which}.txt").write_text(text, encoding="utf-8")
