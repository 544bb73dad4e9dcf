"""The AVA bad-input corpus (``bad_av.py``): every kind is rejected with its stage, error type
and words, the good and accepted videos are written, and the counts balance. First decoded in
this process the way the runner does (fast); the job's run on Ray is in
``test_bad_input_corpus.py`` (with ``bad_av.extra_checks``)."""

from __future__ import annotations

import pytest
from bad_av import SEGMENTS, write_bad_corpora
from bad_input_checks import IngestOutcome, kind_failures

from crossmodal_ray.pipelines.av.source import AVSource, AVSourceConfig
from crossmodal_ray.pipelines.core.quarantine import rejected_row, stage_of


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
