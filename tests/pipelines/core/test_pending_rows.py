"""The runner writes and summarises decoded rows a row group at a time (``PendingRows``): an
adapter that returns row values (dicts) instead of a one-row table gets the same shard files,
counts and summaries, and an input whose values do not convert is rejected alone."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from toy_source import SCHEMA, ToySource

from crossmodal_ray.pipelines.core.runner import ShardTask, ShardTaskWorker
from crossmodal_ray.pipelines.core.source import DecodedInput

TOO_BIG = "99999999999999999999"  # an integer beyond int64: its row cannot be converted


class ToyValueSource(ToySource):
    """The toy adapter, returning row values; the runner converts them (table_from_rows)."""

    def decode(self, item, state) -> DecodedInput:
        decoded = super().decode(item, state)
        decoded.rows = decoded.rows.to_pylist()
        return decoded

    def table_from_rows(self, rows: list[dict]) -> pa.Table:
        return pa.Table.from_pylist(rows, schema=SCHEMA)


def write_inputs(raw: Path) -> list[str]:
    files = {
        "g1/a.txt": "1 2 3",
        "g1/b.txt": "4 x 5",  # 'x' is a dropped row
        "g2/c.txt": f"6 {TOO_BIG} 7",  # does not convert: the whole input is rejected
        "g2/d.txt": "8 9",
        "g3/e.txt": "",  # no rows
        "g3/f.txt": "10 11 12 13",
    }
    for name, text in files.items():
        (raw / name).parent.mkdir(parents=True, exist_ok=True)
        (raw / name).write_text(text)
    return list(files)


def run_task(adapter, raw: Path, out: Path, sources: list[str]) -> dict:
    worker = ShardTaskWorker(adapter, str(out), rows_per_shard=4, row_group_rows=2)
    items = adapter.list_inputs()[0]
    assert [item.source for item in items] == sources
    return worker.run(ShardTask("train", 0, items))


def test_row_values_give_the_same_shards_counts_and_summary(tmp_path):
    raw = tmp_path / "raw"
    (tmp_path / "logs").mkdir()
    sources = write_inputs(raw)
    logs = str(tmp_path / "logs")
    by_table = run_task(ToySource(str(raw), logs), raw, tmp_path / "a", sources)
    by_values = run_task(ToyValueSource(str(raw), logs), raw, tmp_path / "b", sources)

    assert by_table["files"] == by_values["files"] and len(by_table["files"]) > 1
    for name in by_table["files"]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    same = ("rows", "read", "rejected", "inputs_ingested", "inputs_rejected", "keys", "summary")
    assert {k: by_table[k] for k in same} == {k: by_values[k] for k in same}
    # ToySource converts in decode: the too-big integer rejects its input there.
    assert by_values["inputs_rejected"] == 1 and by_values["rows"] == 11
    assert by_values["read"] == by_values["rows"] + by_values["rejected"]
    assert by_values["summary"] == {"value_sum": 15 + 17 + 46, "rows": 11}
    rejected_a = pq.read_table(tmp_path / "a" / by_table["rejected_file"]).to_pylist()
    rejected_b = pq.read_table(tmp_path / "b" / by_values["rejected_file"]).to_pylist()
    columns = ("source", "stage", "error_type", "message", "sample_id")  # start_s: NaN here
    assert sorted(tuple(r[c] for c in columns) for r in rejected_a) == sorted(
        tuple(r[c] for c in columns) for r in rejected_b
    )
    [whole] = [r for r in rejected_b if r["source"] == "g2/c.txt"]
    assert whole["stage"] == "read" and whole["sample_id"] == ""
    assert [f["source"] for f in by_values["failures"]] == ["g2/c.txt"]
