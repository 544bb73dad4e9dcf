"""Ray Data ingest of physiological records into the shard corpus (DESIGN.md "Shard contract").

Flow::

    driver: list records (RECORDS / *.hea / S*/S*.pkl), split subjects, load labels.csv
      -> ray.data.from_items(one item per record)
      -> map(process_record_item)          # a Ray task per record, try/except around all of it:
             read -> common rate -> windows -> labels -> Arrow tables (window rows, rejected rows)
      -> driver streams the results in record order into ShardWriters (one per split)
      -> _rejected/part-00000.parquet, publish staged folders, _manifest.json last

Why the worker returns Arrow IPC bytes instead of window rows: the rows then keep the exact
shard schema (canonical ``arrow.fixed_shape_tensor`` columns; Ray Data would re-type tensors as
its own extension), window rows and rejected rows travel together, and the driver can write
every split with stable file numbering and byte-identical files on re-runs (``preserve_order``
keeps records in sorted order). The heavy work (decode, resample, peak detection) is in the
tasks; the driver only appends compressed row groups. A physiological window is ~7 KB, so even
1M windows are a few GB through the driver.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from crossmodal_ray.pipelines.core.manifest import LabelStats, write_manifest
from crossmodal_ray.pipelines.core.quarantine import (
    REJECTED_SCHEMA,
    STAGES,
    ShortRecordError,
    rejected_row,
    rejected_table,
)
from crossmodal_ray.pipelines.core.shard_writer import (
    ShardWriter,
    new_staging_dir,
    publish_staged,
    rows_per_shard_for,
)
from crossmodal_ray.pipelines.core.splits import SPLITS, split_subjects
from crossmodal_ray.pipelines.physio.labels import RecordLabelTable, load_label_table, window_labels
from crossmodal_ray.pipelines.physio.schema import (
    ACTIVITIES,
    CHANNELS,
    DEFAULT_SAMPLE_RATE_HZ,
    DEFAULT_STRIDE_S,
    DEFAULT_WINDOW_S,
    SCHEMA_VERSION,
)
from crossmodal_ray.pipelines.physio.windows import (
    build_window_table,
    split_gap_windows,
    to_common_rate,
    window_schema,
    window_starts,
)

FORMATS = ("auto", "wfdb", "ppg_dalia")
REJECTED_DIR = "_rejected"


@dataclass
class PhysioIngestConfig:
    """Everything the ingest needs; each field is a ``--kebab-case`` flag of the job.

    Attributes:
        source: Raw folder (WFDB records or PPG-DaLiA ``S*/S*.pkl``).
        out: Shard root; the corpus goes to ``<out>/<corpus>/``.
        corpus: Corpus name (default: the source folder's name).
        format: ``auto`` (PPG-DaLiA when ``S*/S*.pkl`` exist, else WFDB), ``wfdb``,
            ``ppg_dalia``.
        sample_rate_hz: Common rate of every channel (32 Hz: PPG-DaLiA's wrist rate, enough for
            ECG R peaks and every other modality here).
        window_s: Window length (8 s, PPG-DaLiA's label window).
        stride_s: Window stride (2 s, PPG-DaLiA's label shift).
        val_fraction: Share of subjects in val.
        test_fraction: Share of subjects in test.
        split_seed: Seed of the subject shuffle.
        max_gap_s: NaN runs up to this long are interpolated; windows over longer runs dropped.
        shard_rows: Rows per shard file; overrides ``shard_mb``.
        shard_mb: Size hint per shard in MiB of uncompressed rows.
        row_group_rows: Rows per Parquet row group (the streaming unit).
        concurrency: Records processed at once (default: the cluster's CPUs).
    """

    source: str
    out: str
    corpus: str | None = None
    format: str = "auto"
    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ
    window_s: float = DEFAULT_WINDOW_S
    stride_s: float = DEFAULT_STRIDE_S
    val_fraction: float = 0.15
    test_fraction: float = 0.15
    split_seed: int = 0
    max_gap_s: float = 1.0
    shard_rows: int | None = None
    shard_mb: float = 128.0
    row_group_rows: int = 512
    concurrency: int | None = None

    @property
    def corpus_name(self) -> str:
        return self.corpus or Path(self.source).resolve().name

    @property
    def window_samples(self) -> int:
        return int(round(self.window_s * self.sample_rate_hz))

    @property
    def stride_samples(self) -> int:
        return int(round(self.stride_s * self.sample_rate_hz))


def detect_format(source: str | Path) -> str:
    """``ppg_dalia`` when ``S*/S*.pkl`` files exist, else ``wfdb``."""
    from crossmodal_ray.pipelines.physio.ppg_dalia_reader import list_ppg_dalia_files

    return "ppg_dalia" if list_ppg_dalia_files(source) else "wfdb"


def list_inputs(config: PhysioIngestConfig, fmt: str) -> tuple[list[dict], list[dict]]:
    """One Ray Data item per record, and rejected rows for listed records that do not exist.

    Items carry everything a task needs: paths, subject, split and the record's rows of
    ``labels.csv`` (as JSON), so no task reads the whole label table.
    """
    from crossmodal_ray.pipelines.physio.ppg_dalia_reader import list_ppg_dalia_files
    from crossmodal_ray.pipelines.physio.wfdb_reader import list_records, subject_of

    root = Path(config.source)
    entries: list[tuple[str, str, str]] = []  # (record, source, subject)
    rejected = []
    if fmt == "ppg_dalia":
        for rel in list_ppg_dalia_files(root):
            entries.append((Path(rel).with_suffix("").as_posix(), rel, Path(rel).parent.name))
    else:
        for record in list_records(root):
            if not (root / f"{record}.hea").is_file():
                message = f"listed in RECORDS but {record}.hea does not exist"
                rejected.append(rejected_row(record, "list", FileNotFoundError(message)))
                continue
            entries.append((record, record, subject_of(record)))
    assignment = split_subjects(
        {subject for _, _, subject in entries},
        config.val_fraction,
        config.test_fraction,
        config.split_seed,
    )
    table = load_label_table(root) or {}
    items = [
        {
            "format": fmt,
            "root": str(root),
            "record": record,
            "source": source,
            "subject": subject,
            "split": assignment[subject],
            "labels_json": table[record].to_json() if record in table else "",
        }
        for record, source, subject in entries
    ]
    return items, rejected


def table_to_bytes(table: pa.Table) -> bytes:
    """Arrow IPC stream bytes (keeps extension types such as fixed_shape_tensor)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def table_from_bytes(data: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(data)).read_all()


def read_item(item: dict):
    """The item's record as ``RawRecording`` (WFDB or PPG-DaLiA)."""
    if item["format"] == "ppg_dalia":
        from crossmodal_ray.pipelines.physio.ppg_dalia_reader import read_ppg_dalia

        return read_ppg_dalia(item["root"], item["source"])
    from crossmodal_ray.pipelines.physio.wfdb_reader import read_wfdb_record

    return read_wfdb_record(item["root"], item["record"])


def process_record_item(
    item: dict, sample_rate_hz: float, window_s: float, stride_s: float, max_gap_s: float
) -> dict:
    """Ray task body: one record -> its window rows and rejected rows (never raises).

    Returns:
        ``item`` plus ``windows``/``rejected`` (Arrow IPC bytes), ``n_read``, ``n_written``,
        ``n_rejected``, ``record_rejected``, ``label_source``, ``warnings`` (JSON list) and ``seconds``.
    """
    started = time.perf_counter()
    source = item["source"]
    window_samples = int(round(window_s * sample_rate_hz))
    stride_samples = int(round(stride_s * sample_rate_hz))
    schema = window_schema(len(CHANNELS), window_samples)
    stage, warnings, label_source = "read", [], ""
    try:
        rec = read_item(item)
        warnings = list(rec.warnings)
        stage = "decode"
        common = to_common_rate(rec, sample_rate_hz, max_gap_s)
        stage = "window"
        starts = window_starts(common.n_samples, window_samples, stride_samples)
        if starts.size == 0:
            raise ShortRecordError(
                f"record of {rec.duration_s:.2f} s is shorter than one {window_s:g} s window"
            )
        kept, gap_rejected = split_gap_windows(source, common, starts, window_samples, max_gap_s)
        stage = "labels"
        labels_json = item.get("labels_json") or ""
        table = RecordLabelTable.from_json(labels_json) if labels_json else None
        labels = window_labels(rec, common, kept / sample_rate_hz, window_s, table)
        label_source = labels.label_source
        stage = "window"
        windows = build_window_table(rec, common, kept, window_samples, labels)
        rejected = rejected_table(gap_rejected)
        n_read, record_rejected = int(starts.size), False
    except Exception as exc:  # noqa: BLE001 - one bad record must never stop the job
        windows = schema.empty_table()
        rejected = rejected_table([rejected_row(source, stage, exc)])
        # A whole-record rejection counts as one read input (see manifest.py).
        n_read, record_rejected = 1, True
    return {
        **item,
        "labels_json": "",
        "windows": table_to_bytes(windows),
        "rejected": table_to_bytes(rejected),
        "n_read": n_read,
        "record_rejected": record_rejected,
        "n_written": windows.num_rows,
        "n_rejected": rejected.num_rows,
        "label_source": label_source,
        "warnings": json.dumps(warnings),
        "seconds": time.perf_counter() - started,
    }


def _iter_results(items: list[dict], config: PhysioIngestConfig):
    """Run ``process_record_item`` over ``items`` with Ray Data; yields results in item order."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1)) or 1
    concurrency = config.concurrency or max(1, min(len(items), cpus))
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    # Results in record order make shard files deterministic across runs.
    ds.context.execution_options.preserve_order = True
    ds = ds.map(
        process_record_item,
        fn_kwargs={
            "sample_rate_hz": config.sample_rate_hz,
            "window_s": config.window_s,
            "stride_s": config.stride_s,
            "max_gap_s": config.max_gap_s,
        },
        compute=ray.data.TaskPoolStrategy(size=concurrency),
    )
    yield from ds.iter_rows()


def run_physio_ingest(config: PhysioIngestConfig, log=None) -> dict:
    """Ingest ``config.source`` into ``<config.out>/<corpus>/`` and return the manifest.

    Ray must be initialised (``training.ray_runtime.init_ray``) or is started by Ray Data.

    Args:
        config: What to ingest and how.
        log: ``print``-like progress sink (default: print with flush).

    Returns:
        The manifest dict, as written to ``_manifest.json``.
    """
    log = log or (lambda message: print(message, flush=True))
    started = time.perf_counter()
    if config.format not in FORMATS:
        raise ValueError(f"unknown format {config.format!r}; expected one of {FORMATS}")
    source = Path(config.source)
    if not source.is_dir():
        raise FileNotFoundError(f"source folder {source} does not exist")
    fmt = detect_format(source) if config.format == "auto" else config.format
    corpus_dir = Path(config.out) / config.corpus_name
    corpus_dir.mkdir(parents=True, exist_ok=True)

    items, rejected_tables = list_inputs(config, fmt)
    rejected_tables = [rejected_table(rejected_tables)]
    if not items and not rejected_tables[0].num_rows:
        raise FileNotFoundError(f"no {fmt} records found under {source}")
    subjects_by_split = Counter(item["split"] for item in items)
    log(
        f"[ingest] list: {len(items)} {fmt} records under {source}; records per split "
        f"{dict(subjects_by_split)}; -> {corpus_dir}"
    )

    schema = window_schema(len(CHANNELS), config.window_samples)
    row_bytes = len(CHANNELS) * config.window_samples * 4 + len(CHANNELS) + 160
    rows_per_shard = config.shard_rows or rows_per_shard_for(
        row_bytes, config.shard_mb, config.row_group_rows
    )
    staging = new_staging_dir(corpus_dir)
    try:
        writers = {
            split: ShardWriter(staging / split, schema, rows_per_shard, config.row_group_rows)
            for split in SPLITS
        }
        stats = {split: LabelStats() for split in SPLITS}
        subjects = {split: set() for split in SPLITS}
        counts = Counter(read=rejected_tables[0].num_rows, records_rejected=0, records_ingested=0)
        label_sources: Counter = Counter()
        warnings = []
        for done, result in enumerate(_iter_results(items, config) if items else [], start=1):
            windows = table_from_bytes(result["windows"])
            rejected = table_from_bytes(result["rejected"])
            split = result["split"]
            writers[split].write(windows)
            stats[split].add(windows)
            rejected_tables.append(rejected)
            counts["read"] += int(result["n_read"])
            whole = bool(result["record_rejected"])
            counts["records_rejected" if whole else "records_ingested"] += 1
            if windows.num_rows:
                subjects[split].add(result["subject"])
                label_sources[result["label_source"]] += windows.num_rows
            warnings += [
                {"source": result["source"], "message": m} for m in json.loads(result["warnings"])
            ]
            status = (
                f"REJECTED ({rejected.column('stage')[0]}: {rejected.column('message')[0]})"
                if whole
                else f"{windows.num_rows} windows, {rejected.num_rows} dropped"
            )
            log(
                f"[ingest] {done}/{len(items)} {result['source']} -> {split}: {status} "
                f"({result['seconds']:.1f} s)"
            )
        files = {split: writer.close() for split, writer in writers.items()}
        all_rejected = pa.concat_tables(rejected_tables).cast(REJECTED_SCHEMA)
        rejected_writer = ShardWriter(staging / REJECTED_DIR, REJECTED_SCHEMA, 1 << 40)
        rejected_writer.write(all_rejected)
        rejected_files = rejected_writer.close()
        publish_staged(corpus_dir, staging, [*SPLITS, REJECTED_DIR])
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    stages = all_rejected.column("stage").to_pylist()
    written = sum(writer.rows for writer in writers.values())
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "corpus": config.corpus_name,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": str(source.resolve()),
        "format": fmt,
        "ingest": dataclasses.asdict(config),
        "channels": list(CHANNELS),
        "sample_rate_hz": config.sample_rate_hz,
        "window_s": config.window_s,
        "stride_s": config.stride_s,
        "window_samples": config.window_samples,
        "activities": list(ACTIVITIES),
        "splits": {
            split: {
                "rows": writers[split].rows,
                "files": [f"{split}/{name}" for name in files[split]],
                "subjects": sorted(subjects[split]),
            }
            for split in SPLITS
        },
        "rejected_file": f"{REJECTED_DIR}/{rejected_files[0]}",
        "totals": {"read": counts["read"], "written": written, "rejected": all_rejected.num_rows},
        "records": {
            "read": len(items) + rejected_tables[0].num_rows,
            "ingested": counts["records_ingested"],
            "rejected": counts["records_rejected"] + rejected_tables[0].num_rows,
        },
        "rejected_by_stage": {stage: stages.count(stage) for stage in STAGES},
        "windows_dropped_nan_gap": all_rejected.column("error_type")
        .to_pylist()
        .count("NaNGapError"),
        "label_stats": {split: stats[split].to_dict() for split in SPLITS},
        "label_sources": dict(label_sources),
        "warnings": warnings,
        "seconds": round(time.perf_counter() - started, 3),
    }
    if manifest["totals"]["read"] != written + all_rejected.num_rows:
        raise AssertionError(f"ingest bookkeeping broken: {manifest['totals']}")
    write_manifest(corpus_dir, manifest)
    log(
        f"[ingest] done: {written} windows written, {all_rejected.num_rows} rejected "
        f"({manifest['rejected_by_stage']}) in {manifest['seconds']:.1f} s"
    )
    return manifest
