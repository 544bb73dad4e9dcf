"""Which event, split, kind and ambiguity every post of a layout gets, before any post is drawn.

Posts are numbered event by event (event sizes differ by at most one). Kinds are dealt by a
largest-remainder sequence over the whole layout (each (kind, ambiguous) category keeps a
running credit of its share; the post goes to the category with most credit), so the counts of
every category are within one post of ``share * posts`` overall and within about two in every
event: real and fake stay balanced inside each event. The kinds of an event are then shuffled
among its posts.

Splits: MediaEval puts whole events in the testset (``mediaeval_test_event_share`` of them,
chosen by a seeded permutation); Weibo puts ``weibo_test_share`` of every event's posts in test,
dealt the same way within each (kind, ambiguous) category (from a random phase per event and
category, so the share holds on average for small categories too).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.news.config import (
    MEDIAEVAL,
    NewsSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.news.events import EVENT_STREAM, LAYOUT_CODES

SPLITS = {MEDIAEVAL: ("devset", "testset"), "weibo": ("train", "test")}
SPLIT_STREAM = 2 * EVENT_STREAM  # rngs of the split and shuffling decisions


@dataclass(frozen=True)
class PostPlan:
    """What post ``index`` of a layout will be; drawing it is ``posts.make_post``'s job."""

    index: int
    event: int
    split: str
    kind: str
    ambiguous: bool


def deal(shares: list[float], n: int) -> list[int]:
    """``n`` category indices whose every prefix holds each category ``share * length`` times
    to within one (largest remainder; ties go to the lower index)."""
    credit = np.zeros(len(shares))
    dealt = []
    for _ in range(n):
        credit += shares
        pick = int(np.argmax(credit))
        credit[pick] -= 1.0
        dealt.append(pick)
    return dealt


def event_sizes(posts: int, events: int) -> list[int]:
    """Posts per event: ``posts // events``, one more for the first ``posts % events``."""
    return [posts // events + (1 if e < posts % events else 0) for e in range(events)]


def mediaeval_test_events(config: NewsSampleConfig) -> set[int]:
    """The MediaEval events of the testset: at least one, and at least one left for devset."""
    n = config.mediaeval_events
    k = min(max(1, round(n * config.mediaeval_test_event_share)), n - 1)
    rng = np.random.default_rng([config.seed, LAYOUT_CODES[MEDIAEVAL], SPLIT_STREAM])
    return {int(e) for e in rng.permutation(n)[:k]}


def plan_posts(config: NewsSampleConfig, layout: str) -> list[PostPlan]:
    """Every post of ``layout`` in index order (a pure function of the config)."""
    shares = config.kind_shares(layout)
    categories = list(shares)
    dealt = deal([shares[c] for c in categories], config.posts(layout))
    train_split, test_split = SPLITS[layout]
    test_events = mediaeval_test_events(config) if layout == MEDIAEVAL else set()
    plans: list[PostPlan] = []
    start = 0
    for event, size in enumerate(event_sizes(config.posts(layout), config.events(layout))):
        rng = np.random.default_rng([config.seed, LAYOUT_CODES[layout], SPLIT_STREAM + 1 + event])
        own = [dealt[start + k] for k in rng.permutation(size)]
        if layout == MEDIAEVAL:
            splits = [test_split if event in test_events else train_split] * size
        else:
            # Deal test within each category: the j-th post of a category is test when its
            # running credit (from a random phase, so small categories are not always short)
            # crosses a whole post.
            share, phase = config.weibo_test_share, rng.random(len(categories))
            seen: dict[int, int] = {}
            splits = []
            for category in own:
                j = seen.get(category, 0)
                seen[category] = j + 1
                before, after = j * share + phase[category], (j + 1) * share + phase[category]
                splits.append(test_split if int(after) > int(before) else train_split)
        for k, (category, split) in enumerate(zip(own, splits, strict=True)):
            kind, ambiguous = categories[category]
            plans.append(PostPlan(start + k, event, split, kind, ambiguous))
        start += size
    return plans
