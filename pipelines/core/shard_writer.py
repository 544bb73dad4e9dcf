"""Write one split's rows as ``part-00000.parquet``, ``part-00001.parquet``, ... and publish.

Files are zstd-compressed Parquet with fixed-size row groups (``row_group_rows``), so a reader
can stream a shard a row group at a time; a new file starts once ``rows_per_shard`` rows are in
the current one. Rows arrive in a deterministic order (records sorted, windows by start), and
no timestamps are written, so the same input gives byte-identical files.

Idempotence: every run writes into a fresh staging folder inside ``<out>/<corpus>/``;
``publish_staged`` then removes the old manifest (the corpus is "not finished" from that
instant), swaps each staged folder in place of the old one and deletes the rest of the staging
folder. Re-running therefore never duplicates shards, and a crash leaves either the old corpus or
an unfinished one without manifest, never a mix that looks finished.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

DEFAULT_ROW_GROUP_ROWS = 512
STAGING_PREFIX = "_staging-"


def rows_per_shard_for(row_bytes: int, shard_mb: float, row_group_rows: int) -> int:
    """Rows in a shard of about ``shard_mb`` MiB of uncompressed rows (at least a row group)."""
    return max(row_group_rows, int(shard_mb * 2**20) // max(1, row_bytes))


class ShardWriter:
    """Streams tables into ``<split_dir>/part-NNNNN.parquet`` files.

    Args:
        split_dir: Folder of the split (created).
        schema: Schema of every table written.
        rows_per_shard: Rows per file before the next one starts.
        row_group_rows: Rows per Parquet row group (the streaming unit).
    """

    def __init__(
        self,
        split_dir: str | Path,
        schema: pa.Schema,
        rows_per_shard: int,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
    ) -> None:
        self.split_dir = Path(split_dir)
        self.split_dir.mkdir(parents=True, exist_ok=True)
        self.schema = schema
        self.rows_per_shard = max(1, int(rows_per_shard))
        self.row_group_rows = max(1, min(int(row_group_rows), self.rows_per_shard))
        self.rows = 0
        self.files: list[str] = []
        self._pending: list[pa.Table] = []
        self._pending_rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._rows_in_file = 0

    def write(self, table: pa.Table) -> None:
        """Queue ``table``'s rows; full row groups are written as they fill."""
        if table.num_rows == 0:
            return
        if not table.schema.equals(self.schema):
            table = table.cast(self.schema)
        self._pending.append(table)
        self._pending_rows += table.num_rows
        self.rows += table.num_rows
        while self._pending_rows >= self._next_group_rows():
            self._flush(self._next_group_rows())

    def close(self) -> list[str]:
        """Write what is left and close; returns the file names (at least ``part-00000``)."""
        while self._pending_rows:
            self._flush(min(self._pending_rows, self._next_group_rows()))
        if not self.files:  # an empty split still gets a readable, empty part-00000
            self._open_next()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return list(self.files)

    def _next_group_rows(self) -> int:
        """A row group never straddles two files."""
        full = self._writer is None or self._rows_in_file >= self.rows_per_shard
        used = 0 if full else self._rows_in_file
        return min(self.row_group_rows, self.rows_per_shard - used)

    def _open_next(self) -> None:
        if self._writer is not None:
            self._writer.close()
        name = f"part-{len(self.files):05d}.parquet"
        self._writer = pq.ParquetWriter(
            self.split_dir / name, self.schema, compression="zstd", write_statistics=True
        )
        self.files.append(name)
        self._rows_in_file = 0

    def _flush(self, n_rows: int) -> None:
        combined = pa.concat_tables(self._pending)
        group, rest = combined.slice(0, n_rows), combined.slice(n_rows)
        self._pending = [rest] if rest.num_rows else []
        self._pending_rows = rest.num_rows
        if self._writer is None or self._rows_in_file >= self.rows_per_shard:
            self._open_next()
        self._writer.write_table(group, row_group_size=n_rows)
        self._rows_in_file += n_rows


def new_staging_dir(corpus_dir: str | Path) -> Path:
    """A fresh staging folder inside the corpus folder (same filesystem: renames are atomic)."""
    path = Path(corpus_dir) / f"{STAGING_PREFIX}{uuid.uuid4().hex[:12]}"
    path.mkdir(parents=True)
    return path


def publish_staged(corpus_dir: str | Path, staging_dir: str | Path, names: list[str]) -> None:
    """Replace ``<corpus>/<name>`` by ``<staging>/<name>`` for each name, then drop staging.

    The manifest is removed first: between here and the new manifest the corpus is unfinished.
    Stale staging folders of crashed runs are removed too.
    """
    corpus_dir, staging_dir = Path(corpus_dir), Path(staging_dir)
    manifest = corpus_dir / "_manifest.json"
    if manifest.exists():
        manifest.unlink()
    for name in names:
        target = corpus_dir / name
        if target.exists():
            shutil.rmtree(target)
        os.replace(staging_dir / name, target)
    for stale in corpus_dir.glob(f"{STAGING_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
