"""The generic ingest runner with a toy format: plan, actor pool, quarantine, manifest, re-runs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from toy_source import ToySource

from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.runner import IngestConfig, plan_shard_tasks, run_ingest
from crossmodal_ray.pipelines.core.shard_reader import read_rejected
from crossmodal_ray.pipelines.core.source import InputItem
from crossmodal_ray.pipelines.core.splits import split_of_key

GROUPS = [f"g{i:02d}" for i in range(12)]


def _items(n: int, size: int = 100) -> list[InputItem]:
    return [InputItem(f"f{i:03d}", GROUPS[i % len(GROUPS)], size_bytes=size) for i in range(n)]


def test_plan_keeps_listing_order_within_split_and_sizes_tasks():
    items = _items(120)
    config = IngestConfig(out="x", min_shard_tasks=8)
    tasks = plan_shard_tasks(items, config)
    assert plan_shard_tasks(items, config) == tasks  # a function of inputs and flags only
    # Every input is in exactly one task, of the split its group hashes to.
    assert sorted(i.source for t in tasks for i in t.inputs) == [i.source for i in items]
    for task in tasks:
        assert {split_of_key(i.group_key, 0.15, 0.15, 10) for i in task.inputs} == {task.split}
        sources = [i.source for i in task.inputs]
        assert sources == sorted(sources)
        # min_shard_tasks=8: at most 1/8 of the corpus (120 x 100 bytes) per task.
        assert sum(i.size_bytes for i in task.inputs) <= 120 * 100 / 8
    assert [t.index for t in tasks if t.split == "train"] == list(
        range(sum(t.split == "train" for t in tasks))
    )
    # shard_mb caps a task too: 1 KiB of rows per task -> 10 inputs of 100 bytes.
    small = plan_shard_tasks(items, IngestConfig(out="x", shard_mb=1000 / 2**20, min_shard_tasks=1))
    assert max(len(t.inputs) for t in small) == 10


def test_explicit_split_wins_over_the_hash():
    items = [InputItem("a", "g01", split="test"), InputItem("b", "g01", split=None)]
    tasks = plan_shard_tasks(items, IngestConfig(out="x"))
    by_source = {i.source: t.split for t in tasks for i in t.inputs}
    assert by_source["a"] == "test" and by_source["b"] == split_of_key("g01", 0.15, 0.15, 10)
    with pytest.raises(ValueError, match="unknown split"):
        plan_shard_tasks([InputItem("c", "g", split="dev")], IngestConfig(out="x"))


def _write_corpus(root: Path) -> dict[str, int]:
    """12 groups x 2 files of 5 integers; one file with 2 bad lines, one broken, one .bad."""
    expected = {"rows": 0, "read": 0, "rejected": 0}
    for g, group in enumerate(GROUPS):
        for k in range(2):
            path = root / group / f"file{k}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(str(100 * g + 10 * k + v) for v in range(5)))
            expected["rows"] += 5
    (root / "g03" / "file1.txt").write_text("1\n2\nthree\n4\nfive")  # 3 rows, 2 rejected
    (root / "g04" / "file0.txt").write_text("BROKEN\n1\n2")  # whole input rejected
    (root / "g05" / "notes.bad").write_text("not an input")  # rejected at listing
    (root / "official_test").mkdir()
    (root / "official_test" / "file0.txt").write_text("7\n8")  # the corpus's own test split
    expected["rows"] += -2 - 5 + 2
    expected["rejected"] = 2 + 1 + 1
    expected["read"] = expected["rows"] + expected["rejected"]
    return expected


def _digests(corpus_dir: Path) -> dict[str, str]:
    return {
        p.relative_to(corpus_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(corpus_dir.rglob("*.parquet"))
    }


def test_ingest_with_an_actor_pool_writes_rows_rejects_and_manifest(tmp_path, ray_session):
    raw, logs, out = tmp_path / "raw", tmp_path / "logs", tmp_path / "shards"
    raw.mkdir()
    logs.mkdir()
    expected = _write_corpus(raw)
    config = IngestConfig(out=str(out), min_shard_tasks=10, concurrency=2, row_group_rows=4)
    lines: list[str] = []
    manifest = run_ingest(ToySource(str(raw), str(logs)), config, "toy", str(raw), log=lines.append)

    assert manifest == read_manifest(str(out), "toy")
    assert manifest["totals"] == {
        "read": expected["read"],
        "written": expected["rows"],
        "rejected": expected["rejected"],
    }
    # 25 .txt files (one broken) and one .bad file rejected at listing.
    assert manifest["inputs"] == {"read": 26, "ingested": 24, "rejected": 2}
    assert manifest["rejected_by_stage"] == {"list": 1, "read": 1, "parse": 2}
    rejected = read_rejected(str(out), "toy").to_pylist()
    reasons = {(r["source"], r["stage"], r["error_type"]) for r in rejected}
    assert ("g04/file0.txt", "read", "BrokenFileError") in reasons
    assert ("g05/notes.bad", "list", "Rejected") in reasons
    assert sum(r["source"] == "g03/file1.txt" and r["stage"] == "parse" for r in rejected) == 2
    assert any("REJECTED g04/file0.txt (read: BrokenFileError" in line for line in lines)

    # Rows: every value once, in the split of its group; the corpus's own test split kept.
    values, corpus_dir = {}, out / "toy"
    sums = dict.fromkeys(manifest["splits"], 0)
    for split, info in manifest["splits"].items():
        for name in info["files"]:
            for row in pq.read_table(corpus_dir / name).to_pylist():
                values[row["sample_id"]] = (split, row["group"])
                sums[split] += row["value"]
    assert len(values) == expected["rows"]
    for split, group in values.values():
        own = "test" if group == "official_test" else split_of_key(group, 0.15, 0.15, 10)
        assert split == own
    assert manifest["splits"]["test"]["keys"].count("official_test") == 1
    # The adapter's additive per-task summaries add up to what the shards hold, per split.
    assert manifest["value_sums"] == sums

    # The decoder state was built once per actor (2), not once per input (25 files).
    opens = (logs / "opens.txt").read_text().split()
    assert 1 <= len(opens) <= 2

    # Re-running gives the same files, byte for byte, and the same manifest counts.
    before = _digests(corpus_dir)
    again = run_ingest(ToySource(str(raw), str(logs)), config, "toy", str(raw), log=lines.append)
    assert _digests(corpus_dir) == before
    assert again["splits"] == manifest["splits"] and again["totals"] == manifest["totals"]
