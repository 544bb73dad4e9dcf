"""The generic ingest runner: raw inputs -> Parquet shards + ``_rejected/`` + ``_manifest.json``.

Every ingest job runs this with its format's source adapter
(:class:`~crossmodal_ray.pipelines.core.source.SourceAdapter`)::

    driver:  adapter.list_inputs() -> split of every input (by group-key hash, or the corpus's
             own) -> shard tasks (runs of consecutive inputs of one split, ~shard_mb each)
    Ray Data: from_items(tasks) -> map_batches(ShardTaskWorker, concurrency=N)   # actor pool
             (or, for an adapter whose decoder keeps no state, N plain Ray tasks at a time)
             each actor: adapter.open_decoder() once; per task: per input try/except around
             adapter.decode -> rows to <corpus>/<split>/part-<task>-<k>.parquet, bad inputs
             and dropped rows to <corpus>/_rejected/part-<split>-<task>.parquet
             -> one small result row per task: counts, file names, additive summary
    driver:  counts -> manifest (read == written + rejected) -> _manifest.json last, atomically

Rows never pass through the driver: the actors write the shards, the driver only sees per-task
counts, so its memory does not grow with the corpus (``benchmarks/ingest_driver_memory.py``).

Why tasks of consecutive inputs rather than Ray Data's own ``write_parquet``: file names and
contents are then a function of the input alone (the same input gives the same sample ids and
byte-identical files, whatever the cluster, and a retried task rewrites exactly its own files),
shards can be sized for streaming (``shard_mb``), and each input's rows and its rejections stay
together for the bookkeeping. A task is at most ``shard_mb`` of rows and, so that small corpora
still decode in parallel, at most 1/``min_shard_tasks`` of the corpus (the plan depends on the
inputs and the flags only, never on the cluster).

Re-running: the manifest is deleted first (the corpus is unfinished from that instant), then the
old split folders; a crash leaves no manifest, never a mix that looks finished.

Faults (``tests/pipelines/core/test_ingest_faults.py``):

- a decoding worker killed mid-task: Ray runs the task again (a plain task up to
  ``SHARD_TASK_RETRIES`` times; a pool actor is restarted and its task retried), and the retry
  rewrites exactly the task's own files: the output equals an undisturbed run's;
- the driver killed: no manifest, so no reader takes the corpus; the next run deletes what the
  killed one wrote and writes the same files;
- a full disk (``ENOSPC``) is not a bad input: the task fails, the driver cancels the tasks
  still running and stops with :class:`~crossmodal_ray.pipelines.core.storage.NoSpaceLeftError`
  ("no space left on device while writing <path>: free space and run again"); no manifest.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.manifest import MANIFEST_NAME, write_manifest
from crossmodal_ray.pipelines.core.quarantine import (
    REJECTED_SCHEMA,
    rejected_row,
    rejected_table,
    stage_of,
)
from crossmodal_ray.pipelines.core.shard_writer import ShardWriter, rows_per_shard_for
from crossmodal_ray.pipelines.core.source import (
    DecodedInput,
    InputItem,
    SourceAdapter,
    add_summaries,
)
from crossmodal_ray.pipelines.core.splits import SPLITS, check_fractions, split_of_key

REJECTED_DIR = "_rejected"
# Runs of a plain shard task whose worker process died (killed, out of memory, node lost).
SHARD_TASK_RETRIES = 3
# Whole-input rejections a task reports back by name (the rest are only counted there).
MAX_REPORTED_FAILURES = 20


@dataclass
class IngestConfig:
    """Where shards go and how the ingest runs, for every format; each field is a flag.

    Attributes:
        out: Shard root (a path, ``s3://`` or ``gs://``); the corpus goes to ``<out>/<corpus>/``.
        corpus: Corpus name (default: the raw folder's name).
        val_fraction: Share of group keys (subjects, events, videos) in val.
        test_fraction: Share of group keys in test.
        split_seed: Salt of the group-key hash (:mod:`crossmodal_ray.pipelines.core.splits`);
            the default 10 splits the 20-subject sample corpus 14/3/3.
        shard_mb: Size hint per shard task, in MiB of uncompressed rows.
        shard_rows: Hard cap of rows per shard file (a task then writes several files).
        row_group_rows: Rows per Parquet row group (the streaming unit).
        min_shard_tasks: Cut the corpus into at least this many shard tasks when it has enough
            inputs, so that small corpora decode in parallel too.
        concurrency: Decoding actors (default: as many as the cluster's CPUs hold).
        cpus_per_decoder: CPUs each decoding actor reserves.
    """

    out: str = "data/shards"
    corpus: str | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 10
    shard_mb: float = 128.0
    shard_rows: int | None = None
    row_group_rows: int = 512
    min_shard_tasks: int = 64
    concurrency: int | None = None
    cpus_per_decoder: float = 1.0


def corpus_name_for(ingest: IngestConfig, raw_source: str) -> str:
    """``--corpus``, else the raw folder's name."""
    return ingest.corpus or Path(raw_source).resolve().name


def layout_corpus_name(raw_source: str) -> str:
    """``<parent>_<folder>``: the corpus name of a raw folder that is one layout of a corpus
    (``image_text_sample/coco`` -> ``image_text_sample_coco``), what the training jobs use."""
    path = Path(raw_source).resolve()
    return f"{path.parent.name}_{path.name}"


@dataclass
class ShardTask:
    """Consecutive inputs of one split, decoded and written by one actor call."""

    split: str
    index: int
    inputs: list[InputItem] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(
            {
                "split": self.split,
                "index": self.index,
                "inputs": [dataclasses.asdict(item) for item in self.inputs],
            }
        )

    @classmethod
    def from_json(cls, text: str) -> ShardTask:
        data = json.loads(text)
        return cls(data["split"], data["index"], [InputItem(**i) for i in data["inputs"]])


def split_of_input(item: InputItem, config: IngestConfig) -> str:
    """The corpus's own split of the input, else the hashed split of its group key."""
    if item.split is not None:
        if item.split not in SPLITS:
            raise ValueError(f"{item.source}: unknown split {item.split!r}; expected {SPLITS}")
        return item.split
    return split_of_key(
        item.group_key, config.val_fraction, config.test_fraction, config.split_seed
    )


def plan_shard_tasks(items: list[InputItem], config: IngestConfig) -> list[ShardTask]:
    """Cut the listed inputs into shard tasks (deterministic: depends on inputs and flags only).

    Within a split, inputs keep their listing order and are packed into a task until it holds
    ``min(shard_mb, corpus / min_shard_tasks)`` of estimated row bytes (at least one input).
    """
    weights = [max(1, int(item.size_bytes)) for item in items]
    target = min(config.shard_mb * 2**20, sum(weights) / max(1, config.min_shard_tasks))
    tasks: list[ShardTask] = []
    for split in SPLITS:
        current: ShardTask | None = None
        current_bytes = 0.0
        for item, weight in zip(items, weights, strict=True):
            if split_of_input(item, config) != split:
                continue
            if current is None or (current.inputs and current_bytes + weight > target):
                index = sum(task.split == split for task in tasks)
                current, current_bytes = ShardTask(split, index), 0.0
                tasks.append(current)
            current.inputs.append(item)
            current_bytes += weight
    return tasks


class ShardTaskWorker:
    """A decoding actor: builds the adapter's per-process state once, then runs shard tasks.

    ``map_batches`` hands it batches of serialized :class:`ShardTask` (one per call); it returns
    one JSON result per task (counts, file names, summary), never rows.
    """

    def __init__(
        self, adapter: SourceAdapter, corpus_dir: str, rows_per_shard: int, row_group_rows: int
    ) -> None:
        self.adapter = adapter
        self.corpus_dir = corpus_dir
        self.rows_per_shard = rows_per_shard
        self.row_group_rows = row_group_rows
        self.schema = adapter.schema()
        self.state = adapter.open_decoder()

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        results = [json.dumps(self.run(ShardTask.from_json(str(t)))) for t in batch["task"]]
        return {"result": np.array(results, dtype=object)}

    def decode_one(self, item: InputItem) -> tuple[DecodedInput, bool]:
        """The input's rows, or the whole input rejected (True) when decoding raised."""
        try:
            decoded = self.adapter.decode(item, self.state)
        except Exception as exc:  # noqa: BLE001 - one bad input must never stop the job
            if storage.is_disk_full(exc):
                raise  # not the input's fault: the job stops
            # A whole-input rejection counts as one read input (see manifest.py).
            row = rejected_row(item.source, stage_of(exc, self.adapter.stages[1]), exc)
            return DecodedInput(rows=self.schema.empty_table(), rejected=[row], read=1), True
        if decoded.read_units != decoded.num_rows + len(decoded.rejected):
            raise AssertionError(
                f"{item.source}: read {decoded.read_units} != written {decoded.num_rows} "
                f"+ rejected {len(decoded.rejected)} (adapter bookkeeping)"
            )
        return decoded, False

    def run(self, task: ShardTask) -> dict[str, Any]:
        """Decode and write one task; a full disk raises ``NoSpaceLeftError`` naming the file."""
        writer = ShardWriter(
            storage.join(self.corpus_dir, task.split),
            self.schema,
            self.rows_per_shard,
            self.row_group_rows,
            task_index=task.index,
        )
        try:
            return self._run(task, writer)
        except OSError as exc:
            current = writer.files[-1] if writer.files else ""
            storage.raise_if_disk_full(exc, storage.join(writer.split_dir, current))
            raise

    def _run(self, task: ShardTask, writer: ShardWriter) -> dict[str, Any]:
        started = time.perf_counter()
        rejected: list[dict] = []
        counts: Counter = Counter()
        keys, warnings, failures, summary = set(), [], [], None
        group = PendingRows(self.adapter, self.schema)

        def report_whole_input_rejected(row: dict) -> None:
            counts["inputs_rejected"] += 1
            if len(failures) < MAX_REPORTED_FAILURES:
                failures.append({k: row[k] for k in ("source", "stage", "error_type", "message")})

        def write_group() -> None:
            nonlocal summary
            group_summary, group_keys, unconvertible = group.write_to(writer)
            summary = add_summaries(summary, group_summary)
            keys.update(group_keys)
            for item, decoded, error in unconvertible:  # now rejected as a whole input
                row = rejected_row(item.source, self.adapter.stages[1], error)
                rejected.append(row)
                counts["read"] += 1 - decoded.num_rows
                counts["inputs_ingested"] -= 1
                report_whole_input_rejected(row)

        for item in task.inputs:
            decoded, whole_input_rejected = self.decode_one(item)
            rejected += decoded.rejected
            counts["read"] += decoded.read_units
            if whole_input_rejected:
                report_whole_input_rejected(decoded.rejected[0])
            else:
                counts["inputs_ingested"] += 1
                group.add(item, decoded)
            if group.rows >= writer.row_group_rows:
                write_group()
            warnings += [{"source": item.source, "message": m} for m in decoded.warnings]
        if group.pending:
            write_group()
        files = writer.close()
        rejected_file = None
        if rejected:
            rejected_file = f"{REJECTED_DIR}/part-{task.split}-{task.index:05d}.parquet"
            write_rejected(storage.join(self.corpus_dir, rejected_file), rejected)
        return {
            "split": task.split,
            "index": task.index,
            "files": [f"{task.split}/{name}" for name in files],
            "rows": writer.rows,
            "read": counts["read"],
            "rejected": len(rejected),
            "rejected_by_stage": dict(Counter(row["stage"] for row in rejected)),
            "rejected_file": rejected_file,
            "inputs_ingested": counts["inputs_ingested"],
            "inputs_rejected": counts["inputs_rejected"],
            "keys": sorted(keys),
            "summary": summary,
            "warnings": warnings,
            "failures": failures,
            "first_input": task.inputs[0].source,
            "seconds": round(time.perf_counter() - started, 3),
        }


class PendingRows:
    """Decoded rows of consecutive inputs, written and summarised a row group at a time.

    Per input, an image ingest spent ~15 % of its time turning one row into a one-row table
    and another ~10 % summarising it; per row group both cost a fraction of that. Rows keep
    their order, so the files are the same as writing input by input. Should an input's row
    values not convert to the schema (a value the adapter let through), the group is
    converted input by input and that input alone is rejected.
    """

    def __init__(self, adapter: SourceAdapter, schema: pa.Schema) -> None:
        self.adapter = adapter
        self.schema = schema
        self.pending: list[tuple[InputItem, DecodedInput]] = []
        self.rows = 0

    def add(self, item: InputItem, decoded: DecodedInput) -> None:
        self.pending.append((item, decoded))
        self.rows += decoded.num_rows

    def _table(self, parts: list[pa.Table | list[dict]]) -> pa.Table:
        """One table of ``schema`` (row values converted in runs)."""
        tables, values = [], []
        for part in parts:
            if isinstance(part, list):
                values += part
                continue
            if values:
                tables.append(self.adapter.table_from_rows(values))
                values = []
            tables.append(part)
        if values:
            tables.append(self.adapter.table_from_rows(values))
        tables = [t if t.schema.equals(self.schema) else t.cast(self.schema) for t in tables]
        return pa.concat_tables(tables) if tables else self.schema.empty_table()

    def write_to(self, writer: ShardWriter) -> tuple[dict[str, Any], set[str], list[tuple]]:
        """Write the pending rows and empty the buffer.

        Returns:
            The summary of what was written, the group keys with rows written, and
            ``(item, decoded, error)`` of each input whose rows did not convert.
        """
        pending, failed = self.pending, []
        try:
            table = self._table([decoded.rows for _, decoded in pending])
        except Exception:  # noqa: BLE001 - find the input at fault, keep the others
            kept = []
            for item, decoded in pending:
                try:
                    self._table([decoded.rows])
                    kept.append((item, decoded))
                except Exception as exc:  # noqa: BLE001
                    failed.append((item, decoded, exc))
            pending = kept
            table = self._table([decoded.rows for _, decoded in pending])
        writer.write(table)
        summary = self.adapter.summarize(table, [decoded.info for _, decoded in pending])
        keys = {item.group_key for item, decoded in pending if decoded.num_rows}
        self.pending, self.rows = [], 0
        return summary, keys, failed


def run_shard_task(worker_args: dict, task_json: str) -> dict[str, Any]:
    """One shard task as a plain Ray task, for adapters whose decoder keeps no state."""
    return ShardTaskWorker(**worker_args).run(ShardTask.from_json(task_json))


def write_rejected(location: str, rows: list[dict]) -> None:
    """One ``_rejected/`` file (zstd Parquet with ``REJECTED_SCHEMA``)."""
    import pyarrow.parquet as pq

    fs, path = storage.resolve(location)
    with storage.reporting_disk_full(location):
        fs.create_dir(path.rsplit("/", 1)[0])
        pq.write_table(rejected_table(rows), path, filesystem=fs, compression="zstd")


def decoder_count(config: IngestConfig, n_tasks: int) -> int:
    """Decoders running at once: ``concurrency``, else as many as the cluster's CPUs hold."""
    import ray

    cluster_cpus = float(ray.cluster_resources().get("CPU", 1.0))
    workers = config.concurrency or max(1, int(cluster_cpus // config.cpus_per_decoder))
    return max(1, min(workers, n_tasks))


def _run_tasks(
    tasks: list[ShardTask],
    adapter: SourceAdapter,
    corpus_dir: str,
    rows_per_shard: int,
    config: IngestConfig,
):
    """Run the shard tasks on Ray; yields each task's result as it finishes."""
    workers = decoder_count(config, len(tasks))
    worker_args = {
        "adapter": adapter,
        "corpus_dir": corpus_dir,
        "rows_per_shard": rows_per_shard,
        "row_group_rows": config.row_group_rows,
    }
    if getattr(adapter, "decoder_needs_actor", True):
        yield from _run_in_actor_pool(tasks, worker_args, workers, config.cpus_per_decoder)
    else:
        yield from _run_as_tasks(tasks, worker_args, workers, config.cpus_per_decoder)


def _run_in_actor_pool(tasks: list[ShardTask], worker_args: dict, workers: int, cpus: float):
    """Per-process state (a tokenizer, a video reader): a Ray Data actor pool, the state built
    once per actor."""
    import ray

    ds = ray.data.from_items([{"task": t.to_json()} for t in tasks], override_num_blocks=len(tasks))
    ds = ds.map_batches(
        ShardTaskWorker,
        fn_constructor_kwargs=worker_args,
        compute=ray.data.ActorPoolStrategy(size=workers),
        batch_size=1,
        batch_format="numpy",
        num_cpus=cpus,
        # An actor whose process dies is restarted and its task retried: Ray Data's defaults
        # (max_restarts=-1, max_task_retries=-1), which the fault tests check.
    )
    for row in ds.iter_rows():
        yield json.loads(row["result"])


def _run_as_tasks(tasks: list[ShardTask], worker_args: dict, workers: int, cpus: float):
    """Stateless decoding: one plain Ray task per shard task, ``workers`` of them at a time.

    Plain tasks run on Ray's already-started worker processes, and skip what a Ray Data
    pipeline costs before its first task (Ray Data's import, its executor, its stats and
    coordinator actors: 2-3 s of a 2-core machine's start-up); a task returns only its small
    result, so nothing else would need Ray Data's streaming. A task whose worker dies is
    retried by Ray (``max_retries``), like a Ray Data task; an exception fails the ingest, and
    the tasks still running are cancelled (they would otherwise go on writing into the corpus
    folder that a re-run clears).
    """
    import ray

    remote = ray.remote(num_cpus=cpus, max_retries=SHARD_TASK_RETRIES)(run_shard_task)
    args_ref = ray.put(worker_args)  # the adapter once in the object store, not once per task
    queue = iter(tasks)
    running = [remote.remote(args_ref, task.to_json()) for task in itertools.islice(queue, workers)]
    try:
        while running:
            done, running = ray.wait(running, num_returns=1)
            task = next(queue, None)
            if task is not None:
                running.append(remote.remote(args_ref, task.to_json()))
            yield ray.get(done[0])
    finally:
        for ref in running:
            ray.cancel(ref)


def _stop_on_disk_full(results: Iterator[dict]) -> Iterator[dict]:
    """The tasks' results; a task's full disk raised as a plain ``NoSpaceLeftError`` (its
    message, not Ray's wrapped traceback)."""
    try:
        yield from results
    except Exception as exc:
        full = storage.disk_full_error_in(exc)
        if full is None:
            raise
        raise full from None


def run_ingest(
    adapter: SourceAdapter,
    config: IngestConfig,
    corpus_name: str,
    source: str,
    log: Callable[[str], None] | None = None,
    extra_config: dict[str, Any] | None = None,
) -> dict:
    """Ingest everything ``adapter`` lists into ``<config.out>/<corpus_name>/``.

    Ray must be initialised (``crossmodal_ray.training.ray_runtime.init_ray``) or is started
    by Ray Data.

    Args:
        adapter: The corpus format.
        config: Output and execution settings.
        corpus_name: Folder name of the corpus under ``config.out``.
        source: The raw corpus's location (recorded in the manifest).
        log: ``print``-like progress sink (default: print with flush).
        extra_config: The format's own settings, recorded under ``ingest`` in the manifest.

    Returns:
        The manifest dict, as written to ``_manifest.json``.
    """
    log = log or (lambda message: print(message, flush=True))
    started = time.perf_counter()
    check_fractions(config.val_fraction, config.test_fraction)
    corpus_dir = storage.join(config.out, corpus_name)
    noun = getattr(adapter, "input_noun", "inputs")
    items, listing_rejected = adapter.list_inputs()
    if not items and not listing_rejected:
        raise FileNotFoundError(f"no {adapter.format} {noun} found under {source}")
    tasks = plan_shard_tasks(items, config)
    per_split = Counter(split_of_input(item, config) for item in items)
    log(
        f"[ingest] list: {len(items)} {adapter.format} {noun} under {source}; {noun} per split "
        f"{dict(per_split)}; {len(tasks)} shard tasks -> {corpus_dir}"
    )

    schema = adapter.schema()
    row_bytes = max(1, schema_row_bytes(schema))
    rows_per_shard = config.shard_rows or rows_per_shard_for(
        row_bytes, config.shard_mb, config.row_group_rows
    )
    # From here the corpus is unfinished: manifest first, then the old files (a killed run's
    # too: its shards and a manifest's temporary copy it was publishing).
    storage.delete_file(storage.join(corpus_dir, MANIFEST_NAME))
    for folder in (*SPLITS, REJECTED_DIR):
        storage.delete_dir(storage.join(corpus_dir, folder))
    for leftover in storage.list_dir(corpus_dir):
        if storage.name(leftover).startswith(f".{MANIFEST_NAME}.tmp-"):
            storage.delete_file(leftover)
    storage.makedirs(corpus_dir)

    results = []
    if listing_rejected:
        rejected_file = f"{REJECTED_DIR}/part-list.parquet"
        write_rejected(storage.join(corpus_dir, rejected_file), listing_rejected)
        results.append(listing_result(listing_rejected, rejected_file))
    for done, result in enumerate(
        _stop_on_disk_full(_run_tasks(tasks, adapter, corpus_dir, rows_per_shard, config))
        if tasks
        else [],
        start=1,
    ):
        results.append(result)
        log(
            f"[ingest] {done}/{len(tasks)} {result['split']} task {result['index']} "
            f"({result['inputs_ingested'] + result['inputs_rejected']} {noun} from "
            f"{result['first_input']}): {result['rows']} rows, {result['rejected']} rejected "
            f"({result['seconds']:.1f} s)"
        )
        for failure in result["failures"]:
            log(
                f"[ingest]   REJECTED {failure['source']} ({failure['stage']}: "
                f"{failure['error_type']}: {failure['message'][:200]})"
            )
    for split in SPLITS:  # an empty split still gets one readable, empty file
        if not any(r["split"] == split and r["files"] for r in results):
            writer = ShardWriter(storage.join(corpus_dir, split), schema, rows_per_shard)
            with storage.reporting_disk_full(writer.split_dir):
                files = writer.close(write_empty=True)
            results.append(empty_split_result(split, files))

    manifest = assemble_manifest(
        adapter, config, corpus_name, source, results, extra_config or {}, started
    )
    write_manifest(corpus_dir, manifest)
    totals = manifest["totals"]
    log(
        f"[ingest] done: {totals['written']} rows written, {totals['rejected']} rejected "
        f"({manifest['rejected_by_stage']}) in {manifest['seconds']:.1f} s"
    )
    wanted = {"train": 1.0, "val": config.val_fraction, "test": config.test_fraction}
    for split, info in manifest["splits"].items():
        if not info["rows"] and wanted[split] > 0:
            log(
                f"[ingest] WARNING: split '{split}' is empty ({len(items)} {noun}): choose "
                f"another --split-seed or other fractions"
            )
    return manifest


def schema_row_bytes(schema: pa.Schema) -> int:
    """Uncompressed bytes of one row of fixed-width columns (tensors included); 64 per other."""
    total = 0
    for f in schema:
        kind = f.type
        shape = math.prod(kind.shape) if isinstance(kind, pa.FixedShapeTensorType) else 1
        value_type = kind.value_type if isinstance(kind, pa.FixedShapeTensorType) else kind
        try:
            width = max(1, value_type.bit_width // 8)
        except ValueError:  # variable width (strings, lists): a guess
            width = 64
        total += width * shape
    return total


def listing_result(rows: list[dict], rejected_file: str) -> dict:
    """The result of the listing stage: inputs rejected before any task ran."""
    return {
        "split": None,
        "files": [],
        "rows": 0,
        "read": len(rows),
        "rejected": len(rows),
        "rejected_by_stage": dict(Counter(row["stage"] for row in rows)),
        "rejected_file": rejected_file,
        "inputs_ingested": 0,
        "inputs_rejected": len(rows),
        "keys": [],
        "summary": None,
        "warnings": [],
    }


def empty_split_result(split: str, files: list[str]) -> dict:
    return {
        **listing_result([], None),
        "split": split,
        "files": [f"{split}/{name}" for name in files],
    }


def assemble_manifest(
    adapter: SourceAdapter,
    config: IngestConfig,
    corpus_name: str,
    source: str,
    results: list[dict],
    extra_config: dict[str, Any],
    started: float,
) -> dict:
    """The manifest from the per-task results (see :mod:`crossmodal_ray.pipelines.core.manifest`)."""
    ordered = sorted(results, key=lambda r: (str(r["split"]), r.get("index", -1)))
    splits = {}
    summaries: dict[str, list] = {}
    for split in SPLITS:
        mine = [r for r in ordered if r["split"] == split]
        splits[split] = {
            "rows": sum(r["rows"] for r in mine),
            "files": [f for r in mine for f in r["files"]],
            "keys": sorted({k for r in mine for k in r["keys"]}),
        }
        summaries[split] = [r["summary"] for r in mine if r["summary"] is not None]
    by_stage = Counter()
    for r in results:
        by_stage.update(r["rejected_by_stage"])
    totals = {
        "read": sum(r["read"] for r in results),
        "written": sum(r["rows"] for r in results),
        "rejected": sum(r["rejected"] for r in results),
    }
    if totals["read"] != totals["written"] + totals["rejected"]:
        raise AssertionError(f"ingest bookkeeping broken: {totals}")
    ingested = sum(r["inputs_ingested"] for r in results)
    rejected_inputs = sum(r["inputs_rejected"] for r in results)
    return {
        "schema_version": adapter.schema_version,
        "corpus": corpus_name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": source,
        "format": adapter.format,
        "ingest": {**dataclasses.asdict(config), **extra_config},
        "group_key": adapter.group_key_name,
        "splits": splits,
        "rejected_files": sorted(r["rejected_file"] for r in results if r["rejected_file"]),
        "totals": totals,
        "inputs": {
            "read": ingested + rejected_inputs,
            "ingested": ingested,
            "rejected": rejected_inputs,
        },
        "rejected_by_stage": {stage: by_stage.get(stage, 0) for stage in adapter.stages},
        **adapter.manifest_fields(summaries),
        "warnings": [w for r in ordered for w in r["warnings"]],
        "seconds": round(time.perf_counter() - started, 3),
    }


__all__ = [
    "REJECTED_DIR",
    "REJECTED_SCHEMA",
    "IngestConfig",
    "ShardTask",
    "ShardTaskWorker",
    "decoder_count",
    "plan_shard_tasks",
    "run_ingest",
]
