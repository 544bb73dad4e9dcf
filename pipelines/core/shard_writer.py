"""Write one shard task's rows as ``<split>/part-<task>-<k>.parquet`` on any storage.

Files are zstd-compressed Parquet with fixed-size row groups (``row_group_rows``), so a reader
streams a shard a row group at a time; a task's rows start a new file once ``rows_per_shard``
rows are in the current one (``k`` counts those files). Rows arrive in a deterministic order
(inputs sorted, rows in decode order) and no timestamps are written, so the same input gives
byte-identical files, whichever worker writes them and however often a failed task is retried.

Dictionary encoding is on for string columns only (ids, sources, labels repeat): on the float
signal and embedding columns pyarrow's default builds a dictionary per column chunk that never
pays (every value distinct), falls back to plain encoding, and made writing a physio shard 3.4x
slower and its file 35 % larger (issue 14's profile).
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

from crossmodal_ray.pipelines.core import storage

DEFAULT_ROW_GROUP_ROWS = 512


def dictionary_columns(schema: pa.Schema) -> list[str]:
    """Columns worth dictionary-encoding: the string ones (top-level)."""
    return [
        f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)
    ]


def rows_per_shard_for(row_bytes: int, shard_mb: float, row_group_rows: int) -> int:
    """Rows in a shard of about ``shard_mb`` MiB of uncompressed rows (at least a row group)."""
    return max(row_group_rows, int(shard_mb * 2**20) // max(1, row_bytes))


def shard_file_name(task_index: int, file_index: int) -> str:
    """``part-<task>-<k>.parquet``: task number within its split, file number within the task."""
    return f"part-{task_index:05d}-{file_index:03d}.parquet"


class ShardWriter:
    """Streams tables into ``<split_dir>/part-<task>-<k>.parquet`` files.

    Args:
        split_dir: Folder (local path or URI) of the split.
        schema: Schema of every table written.
        rows_per_shard: Rows per file before the next one starts.
        row_group_rows: Rows per Parquet row group (the streaming unit).
        task_index: The shard task's number within its split (first part of the file names).
    """

    def __init__(
        self,
        split_dir: str,
        schema: pa.Schema,
        rows_per_shard: int,
        row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
        task_index: int = 0,
    ) -> None:
        self.split_dir = storage.normalize(split_dir)
        self.schema = schema
        self.rows_per_shard = max(1, int(rows_per_shard))
        self.row_group_rows = max(1, min(int(row_group_rows), self.rows_per_shard))
        self.task_index = task_index
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

    def close(self, write_empty: bool = False) -> list[str]:
        """Write what is left and close; returns the file names written.

        ``write_empty``: with no rows at all, still write one readable, empty file (an empty
        split keeps a file so that readers need no special case).
        """
        while self._pending_rows:
            self._flush(min(self._pending_rows, self._next_group_rows()))
        if not self.files and write_empty:
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
        name = shard_file_name(self.task_index, len(self.files))
        fs, path = storage.resolve(storage.join(self.split_dir, name))
        fs.create_dir(path.rsplit("/", 1)[0])
        self._writer = pq.ParquetWriter(
            path,
            self.schema,
            filesystem=fs,
            compression="zstd",
            write_statistics=True,
            use_dictionary=dictionary_columns(self.schema),
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
