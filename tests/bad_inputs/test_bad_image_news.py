"""The image-text and news parts of the bad-input corpus (``bad_image_text.py``,
``bad_news.py``), each run through its job (``jobs/ingest_image_text.py``,
``jobs/ingest_news.py``) in this process: the job returns normally, every kind lands in
``_rejected/`` with its stage, error type and words, nothing else is rejected, the good and the
accepted inputs are written, and every count of the manifest balances (read = written +
rejected: image-text ``totals`` count rows and dropped parts, ``inputs`` images; news
``totals`` count rows, one per post image, ``inputs`` and ``posts`` count posts)."""

from __future__ import annotations

from pathlib import Path

import bad_image_text
import bad_news
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bad_input_kinds import BadCorpus
from job_loader import load_job

from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.shard_reader import read_rejected
from crossmodal_ray.pipelines.image_text.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS

FORMATS = ("coco", "visual_genome", "mediaeval", "weibo")
# Four ingest jobs: ~45 s on 2 busy cores.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def corpora(tmp_path_factory) -> dict[str, BadCorpus]:
    root = tmp_path_factory.mktemp("bad_image_news")
    written = [
        *bad_image_text.write_bad_corpora(root / "image_text"),
        *bad_news.write_bad_corpora(root / "news"),
    ]
    return {corpus.format: corpus for corpus in written}


def ingest(corpus: BadCorpus, out: Path) -> dict:
    """Run the corpus's job; its summary, manifest, rejected rows and written rows."""
    summary = load_job(corpus.job).main([*corpus.argv, "--out", str(out)])
    corpus_path = Path(summary["corpus_path"])
    root, name = str(corpus_path.parent), corpus_path.name
    manifest = read_manifest(root, name)
    files = [corpus_path / f for info in manifest["splits"].values() for f in info["files"]]
    rows = pa.concat_tables([pq.read_table(f) for f in files]).to_pylist() if files else []
    return {
        "summary": summary,
        "manifest": manifest,
        "rejected": read_rejected(root, name).to_pylist(),
        "rows": rows,
    }


@pytest.fixture(scope="module", params=FORMATS)
def outcome(request, corpora, ray_session, tmp_path_factory):
    corpus = corpora[request.param]
    return corpus, ingest(corpus, tmp_path_factory.mktemp(f"out_{corpus.format}"))


def test_every_kind_is_rejected_with_its_stage_and_words(outcome):
    corpus, got = outcome
    for kind in corpus.kinds:
        rows = [r for r in got["rejected"] if r["source"] == kind.source]
        assert len(rows) == kind.rows, (kind.name, rows)
        for row in rows:
            assert (row["stage"], row["error_type"]) == (kind.stage, kind.error_type), row
            assert kind.words in row["message"], (kind.name, row["message"])
    named = {kind.source for kind in corpus.kinds}
    assert {r["source"] for r in got["rejected"]} <= named, "a rejection no kind names"


def test_good_and_accepted_inputs_are_written_and_bad_ones_are_not(outcome):
    corpus, got = outcome
    written = {row["source"] for row in got["rows"]}
    assert corpus.written_sources <= written
    assert set(corpus.accepted_kinds.values()) <= written
    for kind in corpus.kinds:
        rows = [r for r in got["rejected"] if r["source"] == kind.source]
        dropped_parts_only = all(r["sample_id"] for r in rows)  # e.g. one box of an image
        assert (kind.source in written) == dropped_parts_only, kind.name
    expected = corpus.written_sources | set(corpus.accepted_kinds.values())
    assert written == expected


def test_every_count_balances(outcome):
    corpus, got = outcome
    manifest, summary = got["manifest"], got["summary"]
    totals = manifest["totals"]
    assert totals["read"] == totals["written"] + totals["rejected"]
    assert totals["written"] == len(got["rows"])
    assert totals["rejected"] == len(got["rejected"]) == sum(k.rows for k in corpus.kinds)
    inputs = manifest["inputs"]
    assert inputs["read"] == inputs["ingested"] + inputs["rejected"]
    if corpus.job == "ingest_news":  # posts: a written post may have dropped an image
        posts = manifest["posts"]
        assert posts["read"] == posts["written"] + posts["rejected"]
        assert summary["posts"] == posts
    assert summary["totals"] == totals
    assert manifest["max_image_pixels"] == DEFAULT_MAX_IMAGE_PIXELS


def test_a_box_one_pixel_past_the_edge_is_clipped_and_kept(outcome):
    corpus, got = outcome
    if corpus.format != "visual_genome":
        pytest.skip("Visual Genome only")
    row = next(r for r in got["rows"] if r["source"] == "VG_100K/2.jpg")
    assert row["object_ids"] == [201, 202]
    assert row["object_boxes_original"][1] == [30.0, 4.0, 11.0, 8.0]  # as annotated
    x, y, w, h = row["object_boxes"][1]  # clipped to the 40 x 40 image, then scaled to 32
    assert x + w == pytest.approx(bad_image_text.IMAGE_SIZE)
    assert (x, w) == pytest.approx((24.0, 8.0))
    three = next(r for r in got["rows"] if r["source"] == "VG_100K/3.jpg")
    assert three["object_ids"] == [301]  # 302, entirely outside, dropped with a reason
