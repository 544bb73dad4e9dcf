"""The source adapter: what one corpus format supplies to the generic ingest runner.

A system's reader is an adapter (``pipelines/physio/source.py`` for WFDB and PPG-DaLiA; the
image-text, news and audio-visual readers follow the same shape). The runner
(:mod:`crossmodal_ray.pipelines.core.runner`) does everything else: splits, parallel decoding in
an actor pool, shard and quarantine files, the manifest.

The adapter is pickled to every decoding actor, so it holds only configuration (paths, rates,
sizes); per-process state (a tokenizer, a video reader, a model) is built once per actor by
:meth:`SourceAdapter.open_decoder`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import pyarrow as pa


@dataclass
class InputItem:
    """One input the adapter listed: a record, an image, a post, a video.

    Attributes:
        source: The input's name relative to the raw root (messages, ``_rejected/``, ids).
        group_key: What splits never share (subject, event, video id).
        split: An explicit split when the corpus has its own (COCO's train/val); ``None`` =
            hashed from ``group_key`` (:mod:`crossmodal_ray.pipelines.core.splits`).
        size_bytes: Estimate of the input's decoded row bytes; sizes the shard files.
        payload: Whatever :meth:`SourceAdapter.decode` needs besides (JSON-serialisable).
    """

    source: str
    group_key: str
    split: str | None = None
    size_bytes: int = 0
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class DecodedInput:
    """What decoding one input gave.

    Attributes:
        rows: Shard rows (the adapter's schema), possibly none: a table, or row values (one
            dict per row) from an adapter with ``table_from_rows``, which the runner turns
            into a table a row group at a time (one Arrow conversion per ~512 rows instead of
            one per input: a one-row table cost an image ingest ~15 % of its time).
        rejected: ``rejected_row`` dicts of the parts that were dropped (windows, segments).
        read: Units read, in the corpus's counting unit: ``num_rows + len(rejected)``
            unless the adapter counts otherwise (it must still equal written + rejected).
        warnings: Messages worth a user's attention that did not reject anything.
        info: Small per-input facts the adapter folds into its summary (e.g. label source).
    """

    rows: pa.Table | list[dict[str, Any]]
    rejected: list[dict] = field(default_factory=list)
    read: int | None = None
    warnings: list[str] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_rows(self) -> int:
        return len(self.rows) if isinstance(self.rows, list) else self.rows.num_rows

    @property
    def read_units(self) -> int:
        return self.num_rows + len(self.rejected) if self.read is None else int(self.read)


def add_summaries(a: Any, b: Any) -> Any:
    """Add two additive summaries: numbers add, lists add element-wise, dicts key-wise."""
    if a is None:
        return b
    if b is None:
        return a
    if isinstance(a, dict):
        return {k: add_summaries(a.get(k), b.get(k)) for k in {**a, **b}}
    if isinstance(a, list):
        return [add_summaries(x, y) for x, y in zip(a, b, strict=True)]
    return a + b


def sum_summaries(summaries: list[Any]) -> Any:
    total = None
    for summary in summaries:
        total = add_summaries(total, summary)
    return total


class SourceAdapter(Protocol):
    """A corpus format, as the generic ingest runner sees it."""

    # Short format name written into the manifest (``wfdb``, ``ppg_dalia``, ``coco`` ...).
    format: str
    # Version of the row schema, written into the manifest.
    schema_version: int
    # What the group key is (``subject``, ``event``, ``video``), for messages and the manifest.
    group_key_name: str
    # Rejection stages in pipeline order; the first is the listing stage.
    stages: tuple[str, ...]

    def schema(self) -> pa.Schema:
        """The Arrow schema of every shard row."""
        ...

    def list_inputs(self) -> tuple[list[InputItem], list[dict]]:
        """Every input of the corpus in a stable order, and ``rejected_row`` dicts of what the
        listing itself found broken (a listed record whose files are missing)."""
        ...

    def open_decoder(self) -> Any:
        """Per-process state for :meth:`decode`, built once in each decoding actor."""
        ...

    def decode(self, item: InputItem, state: Any) -> DecodedInput:
        """Rows of one input. May raise: the runner rejects the whole input then, at the stage
        that :func:`~crossmodal_ray.pipelines.core.quarantine.at_stage` recorded."""
        ...

    def summarize(self, rows: pa.Table, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """A JSON-able, additive summary of some rows of a shard task (label statistics ...)
        and the ``info`` of the inputs they came from; the runner adds the summaries of a
        task's row groups."""
        ...

    # Optional: ``table_from_rows(rows: list[dict]) -> pa.Table`` for an adapter whose
    # ``decode`` returns row values instead of a table (see ``DecodedInput.rows``).

    def manifest_fields(self, summaries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Format-specific manifest fields from the per-split lists of task summaries."""
        ...
