"""Write posts in the MediaEval 2015 "Verifying Multimedia Use" layout (English tweets)::

    <out>/mediaeval/devset/tweets.txt     tweetId  tweetText  userId  imageId(s)  username
                                          timestamp  label (fake | real | humor), tab-separated
    <out>/mediaeval/devset/images.txt     image_id  image_url  annotation  event
    <out>/mediaeval/devset/images/<event>/<event>_img_<n>.jpg
    <out>/mediaeval/testset/...           the same for the testset's (disjoint) events

Tweet ids are 18-digit numbers, timestamps read ``Mon Oct 29 22:34:01 +0000 2012`` (the event's
four days), a post with two images lists both ids comma-separated. Image ids number the event's
images in post order (``harborFlood_img_07``), never naming the label as the real corpus's
``sandy_fake_03`` do. The tweet text is the caption with a lead-in, the event's words and
hashtag, and a t.co link, all drawn the same way for every label (humor posts have lead-ins
of their own, as jokes do).
"""

from __future__ import annotations

import string
from datetime import timedelta
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.news.config import HUMOR
from crossmodal_ray.pipelines.sample_corpus.news.posts import NewsPost

TWEETS_HEADER = ("tweetId", "tweetText", "userId", "imageId(s)", "username", "timestamp", "label")
IMAGES_HEADER = ("image_id", "image_url", "annotation", "event")
# The .invalid host (RFC 2606) can never be fetched; readers look in images/<event>/.
IMAGE_URL_PREFIX = "http://sample.invalid/mediaeval/"
LEADS = (
    "",
    "",
    "Breaking: ",
    "Photo: ",
    "Just saw this: ",
    "Look at this: ",
    "Wow, ",
    "RT @{user}: ",
)
HUMOR_LEADS = ("lol ", "haha ", "best edit of the day: ", "this is too funny: ")
AT_EVENT = ("", " at the {words}", " during the {words}", " - {words}")
EXTRA_TAGS = ("", "", " #breaking", " #news")
NAME_PARTS = (
    ("sky", "news", "storm", "city", "daily", "real", "true", "urban", "wild", "red"),
    ("watcher", "fan", "report", "eye", "hunter", "photo", "girl", "guy", "bot", "live"),
)
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
FIRST_TWEET_ID = 255_000_000_000_000_000
TWEET_ID_STEP = 10_000_000_000  # ids grow with the post index; the jitter stays below a step


def _pick(options: tuple[str, ...], rng: np.random.Generator) -> str:
    return options[int(rng.integers(len(options)))]


def username(rng: np.random.Generator) -> str:
    first, second = (_pick(part, rng) for part in NAME_PARTS)
    return f"{first}_{second}{int(rng.integers(100))}"


def tco_url(rng: np.random.Generator) -> str:
    alphabet = string.ascii_letters + string.digits
    return "http://t.co/" + "".join(alphabet[int(i)] for i in rng.integers(len(alphabet), size=10))


def twitter_time(post: NewsPost, rng: np.random.Generator) -> str:
    """``Mon Oct 29 22:34:01 +0000 2012`` within the event's four days (locale-free)."""
    t = post.event.start + timedelta(seconds=int(rng.integers(4 * 86400)))
    return f"{WEEKDAYS[t.weekday()]} {MONTHS[t.month - 1]} {t:%d %H:%M:%S} +0000 {t.year}"


def tweet_text(post: NewsPost, rng: np.random.Generator) -> str:
    """Lead-in, caption, event words, hashtag(s) and a t.co link."""
    if post.kind == HUMOR:
        lead = _pick(HUMOR_LEADS, rng)
    else:
        lead = _pick(LEADS, rng).format(user=username(rng))
    at_event = _pick(AT_EVENT, rng).format(words=post.event.words_en)
    extra = _pick(EXTRA_TAGS, rng)
    return f"{lead}{post.caption}{at_event} {post.event.hashtag_en}{extra} {tco_url(rng)}"


class MediaEvalWriter:
    """Collects posts and their images; ``close`` writes tweets.txt and images.txt per split."""

    def __init__(self, root: Path) -> None:
        self.root = root / "mediaeval"
        self.tweets: dict[str, list[tuple[str, ...]]] = {}
        self.images: dict[str, list[tuple[str, ...]]] = {}
        self.images_per_event: dict[str, int] = {}

    def add(
        self, post: NewsPost, jpegs: list[bytes], rng: np.random.Generator
    ) -> tuple[str, list[str]]:
        """Write the post's images and keep its rows; returns (tweet id, image paths relative
        to the corpus root)."""
        split, event = post.plan.split, post.event.name
        folder = self.root / split / "images" / event
        if event not in self.images_per_event:
            folder.mkdir(parents=True)
        image_ids, paths = [], []
        for jpeg in jpegs:
            n = self.images_per_event.get(event, 0) + 1
            self.images_per_event[event] = n
            image_id = f"{event}_img_{n:02d}"
            (folder / f"{image_id}.jpg").write_bytes(jpeg)
            image_ids.append(image_id)
            paths.append(f"mediaeval/{split}/images/{event}/{image_id}.jpg")
            self.images.setdefault(split, []).append(
                (image_id, f"{IMAGE_URL_PREFIX}{image_id}.jpg", post.label, event)
            )
        tweet_id = str(FIRST_TWEET_ID + post.plan.index * TWEET_ID_STEP + int(rng.integers(10**9)))
        user_id = str(int(rng.integers(10**8, 4 * 10**9)))
        text = tweet_text(post, rng)
        row = (tweet_id, text, user_id, ",".join(image_ids), username(rng), twitter_time(post, rng))
        self.tweets.setdefault(split, []).append((*row, post.label))
        return tweet_id, paths

    def close(self) -> None:
        for split, rows in self.tweets.items():
            _write_tsv(self.root / split / "tweets.txt", TWEETS_HEADER, rows)
            _write_tsv(self.root / split / "images.txt", IMAGES_HEADER, self.images[split])


def _write_tsv(path: Path, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
    for row in rows:
        assert not any("\t" in field or "\n" in field for field in row), row
    lines = ["\t".join(header), *("\t".join(row) for row in rows)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
