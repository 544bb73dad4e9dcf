"""The shard contract of the physiological ingest, on a tiny WFDB corpus (4 subjects x 40 s)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_writer import ShardWriter
from crossmodal_ray.pipelines.core.splits import assign_splits
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.schema import ACTIVITIES, CHANNELS, SCHEMA_VERSION
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
from crossmodal_ray.pipelines.physio.windows import sample_id_for, window_schema
from tests import physio_fixtures as fx

DURATION_S = 40.0
WINDOWS_PER_RECORD = int((DURATION_S - 8) // 2 + 1)  # 17


def _ingest(source: Path, out: Path, **kwargs) -> dict:
    return run_physio_ingest(
        PhysioSourceConfig(source=str(source)), IngestConfig(out=str(out), **kwargs)
    )


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, ray_session):
    raw = tmp_path_factory.mktemp("raw") / "tiny_physio"
    raw.mkdir()
    records = fx.make_wfdb_corpus(raw, n_subjects=4, duration_s=DURATION_S)
    out = tmp_path_factory.mktemp("shards")
    manifest = _ingest(raw, out, shard_rows=10, row_group_rows=4)
    return {"raw": raw, "out": out, "records": records, "manifest": manifest}


def _split_tables(out: Path, manifest: dict) -> dict:
    corpus_dir = out / manifest["corpus"]
    return {
        split: [pq.read_table(corpus_dir / f) for f in info["files"]]
        for split, info in manifest["splits"].items()
    }


def _file_digests(corpus_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(corpus_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(corpus_dir.rglob("*.parquet"))
    }


def test_manifest_fields_and_totals(corpus):
    m = corpus["manifest"]
    assert m == read_manifest(corpus["out"], "tiny_physio")  # the file holds what was returned
    assert m["schema_version"] == SCHEMA_VERSION and m["corpus"] == "tiny_physio"
    assert m["channels"] == list(CHANNELS) and m["activities"] == list(ACTIVITIES)
    assert m["sample_rate_hz"] == 32.0 and m["window_samples"] == 256
    assert m["ingest"]["physio"]["stride_s"] == 2.0 and m["ingest"]["physio"]["max_gap_s"] == 1.0
    assert m["ingest"]["shard_rows"] == 10 and m["ingest"]["split_seed"] == 10
    n = len(corpus["records"]) * WINDOWS_PER_RECORD
    assert m["totals"] == {"read": n, "written": n, "rejected": 0}
    assert m["totals"]["read"] == m["totals"]["written"] + m["totals"]["rejected"]
    assert m["inputs"] == {"read": 4, "ingested": 4, "rejected": 0}
    assert m["group_key"] == "subject"
    assert sum(m["rejected_by_stage"].values()) == 0
    assert m["label_sources"] == {"table": n}
    stats = m["label_stats"]["train"]
    assert stats["hr_bpm_mean"] == pytest.approx(fx.TABLE_HR_BPM)
    assert stats["rr_bpm_mean"] == pytest.approx(fx.TABLE_RR_BPM)
    assert stats["apnea_rate"] == 0.0 and stats["activity_counts"]["rest"] > 0
    json.dumps(m, allow_nan=False)  # strict JSON: no NaN anywhere


def test_files_exist_and_row_counts_match(corpus):
    m, corpus_dir = corpus["manifest"], corpus["out"] / "tiny_physio"
    for split, info in m["splits"].items():
        assert info["files"], split
        assert sorted(p.name for p in (corpus_dir / split).iterdir()) == [
            Path(f).name for f in info["files"]
        ]
        rows = sum(pq.ParquetFile(corpus_dir / f).metadata.num_rows for f in info["files"])
        assert rows == info["rows"], split
    # One shard task per record here (17 windows each): shard_rows=10 rolled each task's
    # files over after 10 rows; row groups are 4 rows (2 for a file's tail).
    train = m["splits"]["train"]
    assert [Path(f).name for f in train["files"]] == [
        "part-00000-000.parquet",
        "part-00000-001.parquet",
        "part-00001-000.parquet",
        "part-00001-001.parquet",
    ]
    rows = [pq.ParquetFile(corpus_dir / f).metadata.num_rows for f in train["files"]]
    assert rows == [10, 7, 10, 7]
    meta = pq.ParquetFile(corpus_dir / train["files"][0]).metadata
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == [4, 4, 2]
    assert m["rejected_files"] == []  # nothing rejected: no _rejected/ file
    assert sorted(p.name for p in corpus_dir.iterdir()) == [
        "_manifest.json",
        "test",
        "train",
        "val",
    ]


def test_rows_schema_ids_and_subjects(corpus):
    tables = _split_tables(corpus["out"], corpus["manifest"])
    ids, subjects = [], {}
    for split, parts in tables.items():
        for t in parts:
            assert t.schema.equals(window_schema(len(CHANNELS), 256)), split
            ids += t.column("sample_id").to_pylist()
            subjects[split] = subjects.get(split, set()) | set(t.column("subject").to_pylist())
            for source, start in zip(
                t["source"].to_pylist(), t["start_s"].to_pylist(), strict=True
            ):
                assert sample_id_for(source, round(start * 32)) in ids
    assert len(ids) == len(set(ids)) == corpus["manifest"]["totals"]["written"]
    assert all(len(i) == 20 for i in ids)
    splits = list(subjects)
    for i, a in enumerate(splits):
        assert subjects[a] == set(corpus["manifest"]["splits"][a]["keys"])
        for b in splits[i + 1 :]:
            assert not subjects[a] & subjects[b], (a, b)
    # Each subject lands where the group-key hash puts it (default --split-seed 10: 2/1/1).
    expected = assign_splits([f"S{i:02d}" for i in range(1, 5)], 0.15, 0.15, salt=10)
    assert {s: split for split, keys in subjects.items() for s in keys} == expected
    assert {k: len(v) for k, v in subjects.items()} == {"train": 2, "val": 1, "test": 1}


def test_table_labels_per_window(corpus):
    t = pa.concat_tables(_split_tables(corpus["out"], corpus["manifest"])["train"])
    rows = t.select(["start_s", "hr_bpm", "activity", "apnea", "label_source"]).to_pylist()
    first, last = rows[0], [r for r in rows if r["start_s"] == 32.0][0]
    assert first["hr_bpm"] == pytest.approx(fx.TABLE_HR_BPM)
    assert first["activity"] == ACTIVITIES.index("rest")  # seconds 0-7 are rest
    assert last["activity"] == ACTIVITIES.index("walk")  # seconds 32-39 are walk
    assert {r["apnea"] for r in rows} == {0} and {r["label_source"] for r in rows} == {"table"}


def test_read_split_gives_numpy_tensors(corpus):
    from crossmodal_ray.pipelines.core.shard_reader import read_split

    ds = read_split(corpus["out"], "tiny_physio", "val")
    assert ds.count() == corpus["manifest"]["splits"]["val"]["rows"]
    ds = ds.limit(5).materialize()  # execute once (a Ray Data execution costs seconds)
    row = ds.take(1)[0]
    assert row["signals"].shape == (len(CHANNELS), 256) and row["signals"].dtype == np.float32
    assert row["channel_present"].dtype == np.bool_ and row["channel_present"].all()
    batch = next(iter(ds.iter_batches(batch_size=5, batch_format="numpy")))
    assert batch["signals"].shape == (5, len(CHANNELS), 256)
    assert batch["channel_present"].shape == (5, len(CHANNELS))
    assert np.isfinite(batch["signals"]).all()


def test_reingest_is_idempotent(corpus):
    corpus_dir = corpus["out"] / "tiny_physio"
    before = _file_digests(corpus_dir)
    again = _ingest(corpus["raw"], corpus["out"], shard_rows=10, row_group_rows=4)
    assert _file_digests(corpus_dir) == before  # same files, same bytes, no extra shards
    for split in ("train", "val", "test"):
        assert again["splits"][split] == corpus["manifest"]["splits"][split]
    assert again["totals"] == corpus["manifest"]["totals"]


def test_signal_labels_without_table(tmp_path, ray_session):
    raw = tmp_path / "nolabels"
    raw.mkdir()
    fx.make_wfdb_corpus(raw, n_subjects=1, duration_s=DURATION_S, labels=False)
    m = _ingest(raw, tmp_path / "out")
    assert m["splits"]["train"]["rows"] == WINDOWS_PER_RECORD
    t = pq.read_table(tmp_path / "out" / "nolabels" / m["splits"]["train"]["files"][0])
    assert set(t["label_source"].to_pylist()) == {"signal"}
    hr = t["hr_bpm"].to_numpy()
    rr = t["rr_bpm"].to_numpy()
    assert np.all(np.abs(hr - fx.HEART_RATE_BPM) < 8), hr  # R peaks found on the ECG
    assert np.nanmedian(rr) == pytest.approx(fx.RESP_RATE_BPM, abs=3), rr
    assert set(t["activity"].to_pylist()) == {-1} and set(t["apnea"].to_pylist()) == {-1}


def test_shard_writer_empty_split_is_readable(tmp_path):
    schema = window_schema(len(CHANNELS), 256)
    writer = ShardWriter(str(tmp_path / "val"), schema, rows_per_shard=100)
    assert writer.close() == []  # a shard task with no rows writes no file ...
    writer = ShardWriter(str(tmp_path / "val"), schema, rows_per_shard=100)
    assert writer.close(write_empty=True) == ["part-00000-000.parquet"]  # ... an empty split one
    table = pq.read_table(tmp_path / "val" / "part-00000-000.parquet")
    assert table.num_rows == 0 and table.schema.equals(schema)
