"""``ingest_physio`` on the physiological bad-input corpora (``bad_physio.py``): every kind is
rejected at its stage with its reason, the good records are written, nothing vanishes, and the
malicious pickle runs nothing."""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from bad_physio import (
    BAD_PPG_DALIA,
    BAD_WFDB,
    MALICIOUS_MARKER,
    MISSING_SEGMENT_RECORD,
    MULTISEGMENT_RECORD,
    write_bad_corpora,
)
from job_loader import load_job

from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.shard_reader import read_rejected

KIND_IDS = [("wfdb", k[0]) for k in BAD_WFDB] + [("ppg_dalia", k[0]) for k in BAD_PPG_DALIA]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, ray_session):
    """format -> (corpus, job summary, manifest, rejected rows, written sources)."""
    root = tmp_path_factory.mktemp("bad_physio")
    out = tmp_path_factory.mktemp("bad_physio_out")
    corpora = write_bad_corpora(root)
    job = load_job("ingest_physio")
    runs = {}
    for corpus in corpora:
        summary = job.main([*corpus.argv, "--out", str(out)])
        name = corpus.raw.name
        manifest = read_manifest(str(out), name)
        files = [f for info in manifest["splits"].values() for f in info["files"]]
        written = [
            source
            for f in files
            for source in pq.read_table(out / name / f, columns=["source"])["source"].to_pylist()
        ]
        rejected = read_rejected(str(out), name).to_pylist()
        runs[corpus.format] = (corpus, summary, manifest, rejected, written)
    return {"root": root, "runs": runs}


@pytest.mark.parametrize(("fmt", "kind_name"), KIND_IDS)
def test_kind_rejected_with_reason(ingested, fmt, kind_name):
    corpus, _, _, rejected, _ = ingested["runs"][fmt]
    kind = next(k for k in corpus.kinds if k.name == kind_name)
    rows = [r for r in rejected if r["source"] == kind.source]
    assert len(rows) == kind.rows, rows
    for row in rows:
        assert (row["stage"], row["error_type"]) == (kind.stage, kind.error_type), row
        assert kind.words in row["message"], row["message"]


@pytest.mark.parametrize("fmt", ["wfdb", "ppg_dalia"])
def test_good_written_nothing_lost(ingested, fmt):
    corpus, summary, manifest, rejected, written = ingested["runs"][fmt]
    assert set(written) == corpus.written_sources
    totals = manifest["totals"]
    assert totals["read"] == totals["written"] + totals["rejected"]
    assert totals["written"] == len(written) and totals["rejected"] == len(rejected)
    assert len(rejected) == sum(k.rows for k in corpus.kinds)
    assert {r["source"] for r in rejected} == {k.source for k in corpus.kinds}
    for source in corpus.accepted_kinds.values():
        assert source in written and source not in {r["source"] for r in rejected}
    assert summary["totals"] == totals


def test_malicious_pickle_ran_nothing(ingested):
    assert not (ingested["root"] / MALICIOUS_MARKER).exists()


def test_multisegment_master_is_one_record(ingested):
    """Segments and layout headers of a master are never inputs of their own."""
    corpus, _, manifest, rejected, written = ingested["runs"]["wfdb"]
    sources = set(written) | {r["source"] for r in rejected}
    masters = (MISSING_SEGMENT_RECORD, MULTISEGMENT_RECORD)
    assert not any(s.startswith(f"{m}_") for s in sources for m in masters), sources
    # One input per kind (the missing one and the gap record included), the 2 good records and
    # the valid master.
    assert manifest["inputs"]["read"] == len(corpus.kinds) + 3
