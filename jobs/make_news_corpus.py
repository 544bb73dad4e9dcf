"""Generate the bundled fake-news sample corpus for COOLANT in the MediaEval and Weibo layouts.

    python jobs/make_news_corpus.py --out data/raw/news_sample --mediaeval-posts 3200

Posts pair a caption with a rendered shape scene of their event: real posts match, fake posts
show another scene or a manipulated one, or carry a contradicting claim; some are ambiguous.
No download ever; cached (a corpus with the same config is reused). Every field of
``NewsSampleConfig`` is a kebab-case flag. Prints a line every 500 posts, then one JSON object:
out, posts, labels and kinds per layout, images, seconds, cached.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.pipelines.sample_corpus.news.config import NewsSampleConfig
from crossmodal_ray.pipelines.sample_corpus.news.corpus import (
    SAMPLE_NEWS_DIR,
    is_cached_corpus,
    make_news_corpus,
    read_corpus_summary,
)
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=SAMPLE_NEWS_DIR, help="corpus folder")
    add_config_flags(parser, NewsSampleConfig, title="corpus")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Build (or reuse) the corpus and print the summary JSON line."""
    args = parse_args(argv)
    config = config_from_flags(NewsSampleConfig, args)
    started = time.perf_counter()
    cpu_started = time.process_time()
    cached = is_cached_corpus(args.out, config)

    def report(layout: str, done: int, total: int, seconds: float) -> None:
        print(f"[sample] {layout}: {done}/{total} posts written, {seconds:.1f} s", flush=True)

    path = make_news_corpus(args.out, config, progress=report)
    layouts = read_corpus_summary(path)["layouts"]
    summary = {
        "out": str(path),
        "posts": {layout: counts["posts"] for layout, counts in layouts.items()},
        "labels": {layout: counts["labels"] for layout, counts in layouts.items()},
        "kinds": {layout: counts["kinds"] for layout, counts in layouts.items()},
        "ambiguous": {layout: counts["ambiguous"] for layout, counts in layouts.items()},
        "events": {layout: counts["events"] for layout, counts in layouts.items()},
        "images": {layout: counts["images"] for layout, counts in layouts.items()},
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
        "cached": cached,
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
