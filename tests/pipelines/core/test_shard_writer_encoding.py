"""The shard writer dictionary-encodes string columns only: float columns (signals,
embeddings) never repeat, and a dictionary on them only costs time and bytes."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from crossmodal_ray.pipelines.core.shard_writer import ShardWriter, dictionary_columns


def test_only_string_columns_are_dictionary_encoded(tmp_path):
    schema = pa.schema(
        [
            pa.field("source", pa.string()),
            pa.field("signals", pa.list_(pa.float32())),
            pa.field("hr_bpm", pa.float32()),
        ]
    )
    assert dictionary_columns(schema) == ["source"]
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "source": ["S01/r1"] * 300 + ["S02/r1"] * 300,
            "signals": [rng.standard_normal(64).astype(np.float32) for _ in range(600)],
            "hr_bpm": rng.uniform(50, 90, 600).astype(np.float32),
        },
        schema=schema,
    )
    writer = ShardWriter(str(tmp_path), schema, rows_per_shard=1000, row_group_rows=256)
    writer.write(table)
    [name] = writer.close()
    meta = pq.ParquetFile(tmp_path / name).metadata
    for group in range(meta.num_row_groups):
        encodings = {
            meta.row_group(group).column(c).path_in_schema: meta.row_group(group)
            .column(c)
            .encodings
            for c in range(meta.num_columns)
        }
        assert any("DICTIONARY" in e for e in encodings["source"]), encodings
        for column in ("signals.list.element", "hr_bpm"):
            assert not any("DICTIONARY" in e for e in encodings[column]), encodings
    assert pq.read_table(tmp_path / name).equals(table)
