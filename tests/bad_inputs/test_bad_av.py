"""The AVA bad-input corpus (``bad_av.py``): every kind is rejected with its stage, error type
and words, the good and accepted videos are written, and the counts balance. First decoded in
this process the way the runner does (fast), then through ``jobs/ingest_av.py`` on Ray."""

from __future__ import annotations

import pytest
from bad_av import write_bad_corpora
from bad_input_checks import IngestOutcome, kind_failures, run_ingest

from crossmodal_ray.pipelines.av.source import AVSource, AVSourceConfig
from crossmodal_ray.pipelines.core.quarantine import rejected_row, stage_of

# Segments: good 3 (2 written, 1 track too short), vfr 1, headered 1, shortaudio 2 (1 written,
# 1 longer than its sound). Videos: 11 files and 1 absent; 4 ingested, 7 rejected in the actors.
SEGMENTS = {"read": 7, "written": 5, "rejected": 2}
VIDEOS = {"read": 12, "ingested": 4, "rejected": 8, "rejected_at_listing": 1}


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    (corpus,) = write_bad_corpora(tmp_path_factory.mktemp("bad_av"))
    return corpus


def test_the_corpus_names_each_kind_once(corpus):
    assert corpus.format == "ava" and corpus.job == "ingest_av"
    sources = [kind.source for kind in corpus.kinds]
    assert len(sources) == len(set(sources)) and len(corpus.kinds) >= 20
    assert all(kind.words and kind.format == "ava" for kind in corpus.kinds)


def test_each_kind_is_rejected_with_its_reason_in_process(corpus):
    """The runner's work without Ray: listing, then each video decoded or rejected whole."""
    source = AVSource(AVSourceConfig(source=str(corpus.raw), frame_size=32))
    items, rejected = source.list_inputs()
    decoder = source.open_decoder()
    written, segments_written = set(), 0
    for item in items:
        try:
            decoded = source.decode(item, decoder)
        except Exception as exc:  # noqa: BLE001 - as the runner: the whole video is rejected
            rejected.append(rejected_row(item.source, stage_of(exc, "decode"), exc))
            continue
        rejected += decoded.rejected
        segments_written += decoded.rows.num_rows
        if decoded.rows.num_rows:
            written.add(item.source)
    totals = {
        "read": segments_written + len(rejected),
        "written": segments_written,
        "rejected": len(rejected),
    }
    outcome = IngestOutcome({}, {"totals": totals}, rejected, written)
    failures = kind_failures(corpus, outcome)
    assert not failures, "\n".join(failures)
    assert len(rejected) == sum(kind.rows for kind in corpus.kinds)
    assert segments_written == SEGMENTS["written"]


@pytest.mark.slow
def test_the_job_rejects_each_kind_and_returns(corpus, ray_session, tmp_path):
    outcome = run_ingest(corpus, tmp_path / "shards")
    manifest = outcome.manifest
    # The kinds against the totals; each count of the manifest is checked below (the AV
    # manifest's annotation_rows balance as read = kept + rejected).
    only_totals = IngestOutcome(
        outcome.summary, {"totals": manifest["totals"]}, outcome.rejected, outcome.written_sources
    )
    failures = kind_failures(corpus, only_totals)
    assert not failures, "\n".join(failures)
    for count in ("segments", "totals"):
        assert manifest[count]["read"] == manifest[count]["written"] + manifest[count]["rejected"]
    assert manifest["videos"]["read"] == manifest["videos"]["ingested"] + VIDEOS["rejected"]
    rejected = len(outcome.rejected)
    assert rejected == sum(kind.rows for kind in corpus.kinds)
    assert {k: manifest["segments"][k] for k in SEGMENTS} == SEGMENTS
    assert {k: manifest["videos"][k] for k in VIDEOS} == VIDEOS
    rows = manifest["annotation_rows"]
    assert rows["read"] == rows["kept"] + rows["rejected"]
    assert rows["rejected"] == sum(kind.stage in ("csv", "annotations") for kind in corpus.kinds)
    files_rejected = manifest["listing"]["annotation_files_unreadable"]
    assert files_rejected == 1  # the CSV whose header lacks a column
    totals = manifest["totals"]
    assert totals["read"] == totals["written"] + totals["rejected"]
    assert totals == {"read": 5 + rejected, "written": 5, "rejected": rejected}
    assert (
        totals["read"]
        == (manifest["segments"]["read"] + manifest["videos"]["rejected"] + rows["rejected"])
        + files_rejected
    )
    assert outcome.summary["totals"] == totals
    assert manifest["listing"]["header_rows_skipped"] == 1  # TalkNet's header
