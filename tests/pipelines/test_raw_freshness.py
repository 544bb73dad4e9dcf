"""A finished ingest is reused by the training jobs only while its raw sample corpus has not been
generated again since (a changed generator must not leave the jobs training on old shards)."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta

from crossmodal_ray.pipelines.core.manifest import write_manifest
from crossmodal_ray.pipelines.core.raw_freshness import (
    raw_written_after_ingest,
    reusable_manifest,
    sample_marker,
)


def _marker(folder, when: datetime) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    marker = folder / "_corpus.json"
    marker.write_text(json.dumps({"format_version": 1}))
    os.utime(marker, (when.timestamp(), when.timestamp()))


def test_a_corpus_generated_after_the_ingest_is_stale(tmp_path):
    ingested = datetime(2026, 12, 5, 9, 0, 0, tzinfo=UTC)
    manifest = {"corpus": "av_sample", "created_at": ingested.isoformat()}
    raw = tmp_path / "av_sample"
    _marker(raw, ingested - timedelta(seconds=30))
    assert not raw_written_after_ingest(manifest, str(raw))
    _marker(raw, ingested + timedelta(minutes=5))
    assert raw_written_after_ingest(manifest, str(raw))
    # a job reading one layout of a sample corpus (news: <corpus>/mediaeval) finds the parent's
    layout = raw / "mediaeval"
    layout.mkdir()
    assert sample_marker(str(layout)) == raw / "_corpus.json"
    assert raw_written_after_ingest(manifest, str(layout))


def test_real_corpora_and_remote_folders_are_never_judged_stale(tmp_path):
    manifest = {"corpus": "ava", "created_at": "2026-12-05T09:00:00+00:00"}
    (tmp_path / "ava").mkdir()
    assert sample_marker(str(tmp_path / "ava")) is None
    assert not raw_written_after_ingest(manifest, str(tmp_path / "ava"))
    assert not raw_written_after_ingest(manifest, "s3://bucket/ava")


def test_reusable_manifest_reuses_refuses_and_says_why(tmp_path):
    shards, raw = tmp_path / "shards", tmp_path / "av_sample"
    lines: list[str] = []
    assert reusable_manifest(str(shards), "av_sample", str(raw), False, lines.append) is None
    ingested = datetime.now(tz=UTC).replace(microsecond=0)
    _marker(raw, ingested - timedelta(minutes=1))
    manifest = {"corpus": "av_sample", "created_at": ingested.isoformat(), "rows": 3}
    write_manifest(str(shards / "av_sample"), manifest)
    reused = reusable_manifest(str(shards), "av_sample", str(raw), False, lines.append)
    assert reused is not None and reused["rows"] == 3 and "reusing" in lines[-1]
    assert reusable_manifest(str(shards), "av_sample", str(raw), True, lines.append) is None
    _marker(raw, ingested + timedelta(minutes=1))
    assert reusable_manifest(str(shards), "av_sample", str(raw), False, lines.append) is None
    assert "generated after" in lines[-1]
