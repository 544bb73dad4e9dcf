"""Write the synthetic fake-news sample corpus for COOLANT in the MediaEval and Weibo layouts.

Both layouts (``mediaeval.py``, ``weibo.py``) hold posts drawn the same way (``posts.py``): a
caption and a rendered scene of the post's event, matching for real posts and disagreeing for
fake ones (another scene, a manipulated scene, or a contradicting claim), except for the
ambiguous ones, whose text fits either version. Text alone and image alone carry no label; a
model has to compare them. On the default MediaEval posts (5-fold logistic regression, real vs
fake): word 1-2-grams of the text 0.51, 16 px pixels or colour histograms of the image 0.50,
"a colour the text names is missing from the image" 0.72; checking the caption against the
scene (``claims.caption_holds``) 0.95, the ceiling the ambiguous 10 % leave. Beside the two
layouts::

    <out>/_posts.csv     post_id, layout, split, event, label, kind, ambiguous, perturbation,
                         post_index, images: the ground truth for tests and analysis (readers
                         ignore it)
    <out>/_corpus.json   config + counts, written last

The corpus is a pure function of the config (same config, byte-identical files), built in a
sibling temporary folder and renamed into place; ``_corpus.json`` with the same config means
"already built". Default corpus (3,200 + 3,200 posts at 128 px, 6,731 JPEGs, 31 MB): about
20 s of CPU on one busy core (24 s wall with the machine's two cores shared, more when crowded).
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np

from crossmodal_ray.pipelines.sample_corpus.news.config import (
    LAYOUTS,
    MEDIAEVAL,
    NewsSampleConfig,
)
from crossmodal_ray.pipelines.sample_corpus.news.events import LAYOUT_CODES, Event, make_event
from crossmodal_ray.pipelines.sample_corpus.news.mediaeval import MediaEvalWriter
from crossmodal_ray.pipelines.sample_corpus.news.plan import PostPlan, plan_posts
from crossmodal_ray.pipelines.sample_corpus.news.posts import (
    NewsPost,
    make_post,
    render_post_images,
)
from crossmodal_ray.pipelines.sample_corpus.news.weibo import WeiboWriter
from crossmodal_ray.pipelines.sample_corpus.publish import (
    config_as_json,
    marker_matches,
    publish_corpus,
)

SAMPLE_NEWS_DIR = "data/raw/news_sample"
CORPUS_FORMAT_VERSION = 3
CORPUS_MANIFEST = "_corpus.json"
POSTS_TABLE = "_posts.csv"
POSTS_COLUMNS = (
    "post_id",
    "layout",
    "split",
    "event",
    "label",
    "kind",
    "ambiguous",
    "perturbation",
    "post_index",
    "images",
)
TEXT_STREAM = 7  # the text and ids of post i come from default_rng([seed, layout, i, 7])
PROGRESS_EVERY = 500

Progress = Callable[[str, int, int, float], None]


def layout_events(config: NewsSampleConfig, layout: str) -> list[Event]:
    """Every event of ``layout``, by index."""
    return [
        make_event(
            config.seed,
            layout,
            i,
            config.shapes_per_event,
            config.colours_per_event,
            config.event_backgrounds,
        )
        for i in range(config.events(layout))
    ]


def draw_post(config: NewsSampleConfig, layout: str, index: int) -> NewsPost:
    """Post ``index`` of ``layout`` exactly as the corpus holds it (for tests and analysis;
    the index is the ``post_index`` column of ``_posts.csv``)."""
    plan = plan_posts(config, layout)[index]
    return make_post(config, layout, plan, layout_events(config, layout)[plan.event])


def is_cached_corpus(out_dir: str | Path, config: NewsSampleConfig) -> bool:
    """True when ``out_dir`` holds a finished corpus generated with exactly ``config``."""
    return marker_matches(out_dir, CORPUS_MANIFEST, CORPUS_FORMAT_VERSION, config)


def _counts(rows: list[dict]) -> dict:
    return {
        "posts": len(rows),
        "labels": dict(sorted(Counter(row["label"] for row in rows).items())),
        "kinds": dict(sorted(Counter(row["kind"] for row in rows).items())),
        "ambiguous": sum(row["ambiguous"] for row in rows),
    }


def _layout_counts(rows: list[dict], events: list[Event], plans: list[PostPlan]) -> dict:
    """Posts, labels, kinds and ambiguous posts of the layout and of each split; events per
    split; images."""
    event_names: dict[str, set[str]] = {}
    split_rows: dict[str, list[dict]] = {}
    for plan, row in zip(plans, rows, strict=True):
        event_names.setdefault(plan.split, set()).add(events[plan.event].name)
        split_rows.setdefault(plan.split, []).append(row)
    return {
        **_counts(rows),
        "events": {split: len(names) for split, names in sorted(event_names.items())},
        "splits": {split: _counts(group) for split, group in sorted(split_rows.items())},
        "images": sum(len(row["images"].split(";")) for row in rows),
        "two_image_posts": sum(";" in row["images"] for row in rows),
    }


def _write_layout(
    root: Path, config: NewsSampleConfig, layout: str, progress: Progress | None, started: float
) -> tuple[list[dict], dict]:
    """Draw, render and write every post of one layout; its side-table rows and counts."""
    writer = MediaEvalWriter(root) if layout == MEDIAEVAL else WeiboWriter(root)
    events = layout_events(config, layout)
    plans = plan_posts(config, layout)
    rows = []
    for plan in plans:
        post = make_post(config, layout, plan, events[plan.event])
        text_rng = np.random.default_rng(
            [config.seed, LAYOUT_CODES[layout], plan.index, TEXT_STREAM]
        )
        post_id, paths = writer.add(post, render_post_images(post, config.jpeg_quality), text_rng)
        rows.append(
            {
                "post_id": post_id,
                "layout": layout,
                "split": plan.split,
                "event": post.event.name,
                "label": post.label,
                "kind": post.kind,
                "ambiguous": int(plan.ambiguous),
                "perturbation": post.perturbation,
                "post_index": plan.index,
                "images": ";".join(paths),
            }
        )
        done = len(rows)
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == len(plans)):
            progress(layout, done, len(plans), time.perf_counter() - started)
    writer.close()
    return rows, _layout_counts(rows, events, plans)


def _write_corpus(root: Path, config: NewsSampleConfig, progress: Progress | None) -> None:
    started = time.perf_counter()
    all_rows: list[dict] = []
    counts = {}
    for layout in LAYOUTS:
        rows, counts[layout] = _write_layout(root, config, layout, progress, started)
        all_rows.extend(rows)
    buffer = io.StringIO()
    table = csv.DictWriter(buffer, fieldnames=POSTS_COLUMNS, lineterminator="\n")
    table.writeheader()
    table.writerows(all_rows)
    (root / POSTS_TABLE).write_text(buffer.getvalue(), encoding="utf-8")
    meta = {
        "format_version": CORPUS_FORMAT_VERSION,
        "generator": __name__,
        "config": config_as_json(config),
        "layouts": counts,
        "posts_table": POSTS_TABLE,
        "mediaeval": "mediaeval",
        "weibo": "weibo",
    }
    # No timings in here: the whole corpus, this file included, is a function of the config.
    (root / CORPUS_MANIFEST).write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n")


def read_corpus_summary(out_dir: str | Path) -> dict:
    """The ``_corpus.json`` of a finished corpus (config and counts)."""
    return json.loads((Path(out_dir) / CORPUS_MANIFEST).read_text())


def make_news_corpus(
    out_dir: str | Path = SAMPLE_NEWS_DIR,
    config: NewsSampleConfig | None = None,
    progress: Progress | None = None,
) -> Path:
    """Build the MediaEval + Weibo news sample corpus at ``out_dir`` unless it is already there.

    Args:
        out_dir: Corpus folder (default ``data/raw/news_sample``). An existing corpus with
            another config is replaced; a non-empty folder that is not a corpus is refused.
        config: Corpus config; ``NewsSampleConfig()`` (6,400 MediaEval + 3,200 Weibo posts) if
            None.
        progress: Called every 500 posts and at the end of each layout with
            (layout, posts done in the layout, posts in the layout, seconds since the start).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        FileExistsError: ``out_dir`` is a non-empty folder without ``_corpus.json``.
    """
    config = config or NewsSampleConfig()
    return publish_corpus(
        Path(out_dir),
        CORPUS_MANIFEST,
        lambda out: is_cached_corpus(out, config),
        lambda tmp: _write_corpus(tmp, config, progress),
    )
