"""The real MediaEval 2015 + 2016 files (``../shared/data/mediaeval``), ingested from the top
folder with ``--split-by event``.

Only some test-set posts have their image in the download. The two TSVs beside the years list
them (1,932 tweets of the 2015 test set, 698 posts of the 2016 test set, with labels and image
files); the reader never looks at them, and this test reads them and the posts files on its own
to check that exactly those posts are written, with those labels and images, and that every
other test-set post is rejected for its missing image.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import news_fixtures as fx
import pytest
from repo_paths import SHARED_DATA

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.splits import SPLITS
from crossmodal_ray.pipelines.news.ingest import run_news_ingest
from crossmodal_ray.pipelines.news.source import NewsSourceConfig

MEDIAEVAL = SHARED_DATA / "mediaeval"
TEST_SETS = {  # dataset -> (posts file, oracle TSV, its post id column, its image column)
    "mediaeval2015": (
        "mediaeval2015/testset/tweets.txt",
        "mediaeval2015_testset_tweets_with_local_images.tsv",
        "tweetId",
        "image_files",
    ),
    "mediaeval2016": (
        "mediaeval2016/testset/posts.txt",
        "mediaeval2016_testset_posts_with_local_images.tsv",
        "post_id",
        "image_file",
    ),
}
EXPECTED_WITH_IMAGES = {"mediaeval2015": 1932, "mediaeval2016": 698}

pytestmark = pytest.mark.skipif(not MEDIAEVAL.is_dir(), reason=f"{MEDIAEVAL} is not there")


def read_tsv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))


def oracle(dataset: str) -> dict[str, dict]:
    """post id -> {label, images} from the TSV of posts with local images."""
    _, tsv, id_column, image_column = TEST_SETS[dataset]
    return {
        row[id_column]: {"label": row["label"], "images": row[image_column].split(",")}
        for row in read_tsv(MEDIAEVAL / tsv)
    }


def posts_of_test_set(dataset: str) -> set[str]:
    lines = (MEDIAEVAL / TEST_SETS[dataset][0]).read_text(encoding="utf-8").splitlines()
    return {line.split("\t", 1)[0] for line in lines[1:] if line.strip()}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, ray_session):
    out = tmp_path_factory.mktemp("real_mediaeval")
    manifest = run_news_ingest(
        NewsSourceConfig(source=str(MEDIAEVAL), split_by="event", image_size=64),
        IngestConfig(out=str(out)),
    )
    columns = ["post_id", "label_name", "source", "event", "dataset", "corpus_split", "text"]
    return {
        "manifest": manifest,
        "rows": fx.read_rows(out, "mediaeval", manifest, columns),
        "rejected": fx.read_rejected_rows(out, "mediaeval", manifest),
    }


def written_posts(ingested, dataset: str) -> dict[str, list[dict]]:
    posts: dict[str, list[dict]] = {}
    for rows in ingested["rows"].values():
        for row in rows:
            if row["dataset"] == dataset and row["corpus_split"] == "test":
                posts.setdefault(row["post_id"], []).append(row)
    return posts


@pytest.mark.parametrize("dataset", list(TEST_SETS))
def test_exactly_the_posts_with_local_images_are_written(ingested, dataset):
    expected = oracle(dataset)
    assert len(expected) == EXPECTED_WITH_IMAGES[dataset]
    written = written_posts(ingested, dataset)
    assert set(written) == set(expected)
    for post_id, rows in written.items():
        assert {row["label_name"] for row in rows} == {expected[post_id]["label"]}, post_id
        assert sorted(row["source"] for row in rows) == sorted(expected[post_id]["images"])


@pytest.mark.parametrize("dataset", list(TEST_SETS))
def test_every_other_test_post_is_rejected_for_its_missing_image(ingested, dataset):
    posts_file = TEST_SETS[dataset][0]
    everything = posts_of_test_set(dataset)
    rejected = {
        r["source"].split("#", 1)[1]: r
        for r in ingested["rejected"]
        if r["source"].startswith(posts_file + "#")
    }
    assert set(rejected) == everything - set(oracle(dataset))
    assert {(r["stage"], r["error_type"]) for r in rejected.values()} == {
        ("images", "MissingImageError")
    }
    assert all(r["message"].startswith("image missing") for r in rejected.values())


def test_posts_and_rows_add_up(ingested):
    manifest = ingested["manifest"]
    posts = manifest["posts"]
    assert posts["written"] == 1932 + 698
    assert posts["read"] == posts["written"] + posts["rejected"] == manifest["inputs"]["read"]
    totals = manifest["totals"]
    assert totals["read"] == totals["written"] + totals["rejected"]
    assert totals["written"] == 1932 + 110 + 698  # 110 tweets of 2015 have two local images
    # 2016's devset repeats 2015 posts; 2015's devset holds humor posts; neither has images
    assert manifest["rejected_by_stage"]["duplicate"] == 15629 + 2
    assert manifest["rejected_by_stage"]["label"] == 2633


def test_no_event_is_in_two_splits(ingested):
    events = {split: {r["event"] for r in ingested["rows"][split]} for split in SPLITS}
    for i, a in enumerate(SPLITS):
        for b in SPLITS[i + 1 :]:
            assert not events[a] & events[b], (a, b, events[a] & events[b])
    keys = {split: set(info["keys"]) for split, info in ingested["manifest"]["splits"].items()}
    assert keys == events
    assert all(events[split] for split in SPLITS)  # the default seed fills all three
    per_event = Counter(r["event"] for rows in ingested["rows"].values() for r in rows)
    assert per_event["solar_eclipse"] and per_event["attacks_paris"]  # folder and prefix events
