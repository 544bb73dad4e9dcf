"""Physiological records as a source adapter of the generic ingest runner (WFDB, PPG-DaLiA).

One input = one record (a WFDB record ``S01/S01_r1`` or a PPG-DaLiA ``S1/S1.pkl``); its group
key is the subject (splits never share one), resolved while listing from the label table,
``--subject-pattern``, header comments or the folder (``pipelines/physio/subjects.py``); every
window row carries it. Decoding one record::

    read (wfdb / pickle) -> decode: every channel to the common rate, short NaN gaps filled
    -> window: 8 s windows, 2 s stride (windows over long NaN gaps rejected one by one)
    -> labels: labels.csv rows of the record, else from the signal (beats, breaths)
    -> rows: one per window (``pipelines/physio/schema.py``)

A record that fails as a whole is rejected at the stage it failed in (the runner's per-input
``try/except``) and counts as one read unit; a dropped window counts as one (see the README's
"read = written + rejected").
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa

from crossmodal_ray.pipelines.core.quarantine import at_stage, rejected_row
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem, sum_summaries
from crossmodal_ray.pipelines.physio.errors import (
    NaNGapError,
    ShortRecordError,
    SubjectConflictError,
)
from crossmodal_ray.pipelines.physio.label_stats import label_stats, label_summary
from crossmodal_ray.pipelines.physio.labels import (
    RecordLabelTable,
    load_label_table,
    window_labels,
)
from crossmodal_ray.pipelines.physio.schema import (
    ACTIVITIES,
    CHANNELS,
    DEFAULT_SAMPLE_RATE_HZ,
    DEFAULT_STRIDE_S,
    DEFAULT_WINDOW_S,
    SCHEMA_VERSION,
)
from crossmodal_ray.pipelines.physio.subjects import (
    RULES,
    compile_subject_pattern,
    resolve_subject,
)
from crossmodal_ray.pipelines.physio.windows import (
    build_window_table,
    split_gap_windows,
    to_common_rate,
    window_schema,
    window_starts,
)

FORMATS = ("auto", "wfdb", "ppg_dalia")
# Rejection stages in pipeline order (``physio/schema.py`` documents the same list).
STAGES: tuple[str, ...] = ("list", "read", "decode", "labels", "window")
# Decoded window rows are ~2x the bytes of 16-bit samples at 128 Hz with 8 s windows every
# 2 s; a rough factor is enough to size shard tasks.
ROW_BYTES_PER_INPUT_BYTE = 2


@dataclass
class PhysioSourceConfig:
    """The raw physiological corpus and how its records become windows; each field is a flag.

    Attributes:
        source: Raw folder (WFDB records, or PPG-DaLiA ``S*/S*.pkl``).
        format: ``auto`` (PPG-DaLiA when ``S*/S*.pkl`` exist, else WFDB), ``wfdb``,
            ``ppg_dalia``.
        sample_rate_hz: Common rate of every channel (32 Hz: PPG-DaLiA's wrist rate, enough for
            ECG R peaks and every other modality here).
        window_s: Window length (8 s, PPG-DaLiA's label window).
        stride_s: Window stride (2 s, PPG-DaLiA's label shift).
        max_gap_s: NaN runs up to this long are interpolated; windows over longer runs dropped.
        subject_pattern: Regular expression searched in each record path (relative to the raw
            folder, no extension); its first group is the subject, e.g. ^([a-z][0-9]+) puts
            Apnea-ECG's a01, a01r and a01er under a01. A record it does not match falls through
            to header comments (Subject: ...), then its folder; the subject column of
            labels.csv beats it (pipelines/physio/subjects.py).
    """

    source: str = "data/raw/physio_sample"
    format: str = "auto"
    sample_rate_hz: float = DEFAULT_SAMPLE_RATE_HZ
    window_s: float = DEFAULT_WINDOW_S
    stride_s: float = DEFAULT_STRIDE_S
    max_gap_s: float = 1.0
    subject_pattern: str = ""

    def __post_init__(self) -> None:
        compile_subject_pattern(self.subject_pattern)  # a bad pattern fails at flag parsing

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


class RecordSizes:
    """Bytes of a record's files (``<record>.*``), for sizing shard tasks.

    Each folder is listed once and its files summed per record name (a glob per record listed
    a flat folder of n records n times).
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._folders: dict[Path, tuple[dict[str, int], dict[str, int]]] = {}

    def of(self, record: str) -> int:
        path = self.root / record
        if path.parent not in self._folders:
            try:
                entries = list(os.scandir(path.parent))
            except FileNotFoundError:
                entries = []
            files = {e.name: e.stat().st_size for e in entries if e.is_file()}
            by_stem: dict[str, int] = {}
            for name, size in files.items():
                stem = name.split(".", 1)[0]
                by_stem[stem] = by_stem.get(stem, 0) + size * ("." in name)
            self._folders[path.parent] = files, by_stem
        files, by_stem = self._folders[path.parent]
        if "." not in path.name:
            return by_stem.get(path.name, 0)
        prefix = f"{path.name}."  # a dotted record name: match as the glob did
        return sum(size for name, size in files.items() if name.startswith(prefix))

    def of_wfdb(self, record: str) -> int:
        """Bytes of a WFDB record; a multi-segment master counts its segments' files too."""
        from crossmodal_ray.pipelines.physio.wfdb_header_text import master_segments

        segments = master_segments(self.root / f"{record}.hea") or []
        folder = PurePosixPath(record).parent
        parts = [(folder / s.name).as_posix() for s in segments if s.name != "~"]
        return self.of(record) + sum(self.of(part) for part in parts)


class PhysioSource:
    """WFDB or PPG-DaLiA records -> 8 s window rows (see the module docstring)."""

    schema_version = SCHEMA_VERSION
    group_key_name = "subject"
    input_noun = "records"
    stages = STAGES
    # Reading WFDB and pickles keeps no per-process state: plain Ray tasks, no actor pool.
    decoder_needs_actor = False

    def __init__(self, config: PhysioSourceConfig) -> None:
        if config.format not in FORMATS:
            raise ValueError(f"unknown format {config.format!r}; expected one of {FORMATS}")
        root = Path(config.source)
        if not root.is_dir():
            raise FileNotFoundError(f"source folder {root} does not exist")
        self.config = config
        self.root = str(root.resolve())
        self.format = detect_format(root) if config.format == "auto" else config.format
        self.subject_pattern = compile_subject_pattern(config.subject_pattern)

    def schema(self) -> pa.Schema:
        return window_schema(len(CHANNELS), self.config.window_samples)

    def list_inputs(self) -> tuple[list[InputItem], list[dict]]:
        """One input per record, sorted, its group key the resolved subject.

        Rejected at the ``list`` stage: a record listed in ``RECORDS`` without its header, and
        one whose ``labels.csv`` rows name more than one subject. Each input carries its own
        rows of ``labels.csv``, so no decoding actor reads the whole label table, and the rule
        that decided its subject (``payload["subject_rule"]``).
        """
        from crossmodal_ray.pipelines.physio.ppg_dalia_reader import list_ppg_dalia_files
        from crossmodal_ray.pipelines.physio.wfdb_reader import list_records

        root = Path(self.root)
        entries: list[tuple[str, str]] = []  # (record, source)
        rejected = []
        if self.format == "ppg_dalia":
            for rel in list_ppg_dalia_files(root):
                entries.append((Path(rel).with_suffix("").as_posix(), rel))
        else:
            for record in list_records(root):
                if not (root / f"{record}.hea").is_file():
                    message = f"listed in RECORDS but {record}.hea does not exist"
                    rejected.append(rejected_row(record, "list", FileNotFoundError(message)))
                    continue
                entries.append((record, record))
        table = load_label_table(root) or {}
        sizes = RecordSizes(root)
        items = []
        for record, source in entries:
            labels = table.get(record)
            header = None if self.format == "ppg_dalia" else root / f"{record}.hea"
            try:
                subject = resolve_subject(
                    record, labels.subjects if labels else (), self.subject_pattern, header
                )
            except SubjectConflictError as exc:
                rejected.append(rejected_row(source, "list", exc))
                continue
            items.append(
                InputItem(
                    source=source,
                    group_key=subject.name,
                    size_bytes=ROW_BYTES_PER_INPUT_BYTE
                    * (sizes.of(record) if self.format == "ppg_dalia" else sizes.of_wfdb(record)),
                    payload={
                        "record": record,
                        "labels_json": labels.to_json() if labels else "",
                        "subject_rule": subject.rule,
                    },
                )
            )
        return items, rejected

    def open_decoder(self) -> None:
        return None  # the readers keep no per-process state

    def read(self, item: InputItem, beats: bool = True):
        """The item's record as ``RawRecording`` (WFDB or PPG-DaLiA); ``beats=False`` skips a
        WFDB record's beat annotations (not needed when ``labels.csv`` labels it)."""
        if self.format == "ppg_dalia":
            from crossmodal_ray.pipelines.physio.ppg_dalia_reader import read_ppg_dalia

            return read_ppg_dalia(self.root, item.source)
        from crossmodal_ray.pipelines.physio.wfdb_reader import read_wfdb_record

        return read_wfdb_record(self.root, item.payload["record"], beats=beats)

    def decode(self, item: InputItem, state: Any) -> DecodedInput:
        """One record -> its window rows and the windows dropped over long NaN gaps."""
        config = self.config
        labels_json = item.payload.get("labels_json") or ""
        with at_stage("read"):
            rec = self.read(item, beats=not labels_json)
        rec.subject = item.group_key  # resolved while listing, not the reader's folder guess
        with at_stage("decode"):
            common = to_common_rate(rec, config.sample_rate_hz, config.max_gap_s)
        with at_stage("window"):
            starts = window_starts(common.n_samples, config.window_samples, config.stride_samples)
            if starts.size == 0:
                raise ShortRecordError(
                    f"record of {rec.duration_s:.2f} s is shorter than one "
                    f"{config.window_s:g} s window"
                )
            kept, gap_rejected = split_gap_windows(
                item.source, common, starts, config.window_samples, config.max_gap_s
            )
        with at_stage("labels"):
            table = RecordLabelTable.from_json(labels_json) if labels_json else None
            labels = window_labels(
                rec, common, kept / config.sample_rate_hz, config.window_s, table
            )
        with at_stage("window"):
            rows = build_window_table(rec, common, kept, config.window_samples, labels)
        dropped = sum(row["error_type"] == NaNGapError.__name__ for row in gap_rejected)
        return DecodedInput(
            rows=rows,
            rejected=gap_rejected,
            read=int(starts.size),
            warnings=list(rec.warnings),
            info={
                "label_sources": {labels.label_source: rows.num_rows} if rows.num_rows else {},
                "windows_dropped_nan_gap": dropped,
                "subject_windows": {rec.subject: rows.num_rows},
                "subject_resolution": {item.payload.get("subject_rule", "folder"): 1},
            },
        )

    def summarize(self, rows: pa.Table, infos: list[dict[str, Any]]) -> dict[str, Any]:
        return {"labels": label_summary(rows), **sum_summaries(infos)}

    def manifest_fields(self, summaries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Channels, rates, label statistics, and the subjects: ``subjects`` lists per split the
        subjects with at least one window row; ``subject_resolution`` counts the ingested
        records (not rejected as a whole) by the rule that decided their subject
        (``pipelines/physio/subjects.py``)."""
        per_split = {split: sum_summaries(items) or {} for split, items in summaries.items()}
        everything = sum_summaries([s for s in per_split.values() if s]) or {}
        config = self.config
        return {
            "channels": list(CHANNELS),
            "sample_rate_hz": config.sample_rate_hz,
            "window_s": config.window_s,
            "stride_s": config.stride_s,
            "window_samples": config.window_samples,
            "activities": list(ACTIVITIES),
            "label_stats": {split: label_stats(s.get("labels")) for split, s in per_split.items()},
            "label_sources": everything.get("label_sources") or {},
            "windows_dropped_nan_gap": everything.get("windows_dropped_nan_gap") or 0,
            "subjects": {
                split: sorted(name for name, n in (s.get("subject_windows") or {}).items() if n)
                for split, s in per_split.items()
            },
            "subject_resolution": {
                rule: (everything.get("subject_resolution") or {}).get(rule, 0) for rule in RULES
            },
        }
