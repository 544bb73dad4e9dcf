"""Ingest a MediaEval or Weibo folder with the generic runner."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from crossmodal_ray.pipelines.core.runner import IngestConfig, corpus_name_for, run_ingest
from crossmodal_ray.pipelines.news.source import NewsSource, NewsSourceConfig

SPLIT_RULE_TEXT = {
    ("corpus", "mediaeval"): "corpus: testset -> test; devset -> train, val by hash of the event",
    ("corpus", "weibo"): "corpus: test_* -> test; train_* -> train, val by hash of the post id",
    ("event", "mediaeval"): "event: hash of the event into train/val/test",
    ("event", "weibo"): "event: Weibo has no events; hash of the post id into train/val/test",
}


def run_news_ingest(
    source: NewsSourceConfig,
    ingest: IngestConfig,
    log: Callable[[str], None] | None = None,
) -> dict:
    """Ingest ``source.source`` into ``<ingest.out>/<corpus>/`` and return the manifest.

    With ``--split-by corpus`` the test split is the corpus's own, so ``--test-fraction`` does
    not apply: it is recorded as 0 in the manifest (``--val-fraction`` carves val from the
    training events).
    """
    log = log or (lambda message: print(message, flush=True))
    adapter = NewsSource(source, ingest.val_fraction, ingest.split_seed)
    if source.split_by == "corpus":
        if ingest.test_fraction != IngestConfig.test_fraction:
            log("[ingest] --split-by corpus keeps the corpus's test set: --test-fraction ignored")
        ingest = dataclasses.replace(ingest, test_fraction=0.0)
    manifest = run_ingest(
        adapter,
        ingest,
        corpus_name_for(ingest, source.source),
        adapter.root,
        log=log,
        extra_config={
            "news": dataclasses.asdict(source),
            "split_rule": SPLIT_RULE_TEXT[(source.split_by, source.format)],
        },
    )
    posts = manifest["posts"]
    log(
        f"[ingest] posts: {posts['read']} read = {posts['written']} written + "
        f"{posts['rejected']} rejected; per split {manifest['posts_per_split']}"
    )
    for warning in manifest["listing_warnings"]:
        log(f"[ingest] WARNING: {warning}")
    return manifest
