"""Write the simulated physiological corpus as PhysioNet-style WFDB records (cached, atomic).

Layout (the MBSL ingest reads exactly this)::

    <out>/RECORDS                   one record path per line, e.g. S01/S01_r1
    <out>/labels.csv                per second: record,subject,t_s,hr_bpm,rr_bpm,activity,apnea
    <out>/subjects.csv              subject,age,sex,resting_hr_bpm,resting_rr_bpm
    <out>/S01/S01_r1.hea .dat .atr  WFDB format 16, one fs; .atr: beat "N" at every R peak
    <out>/_corpus.json              generator config + counts, written last

The corpus is built in a sibling temporary folder and renamed into place, so a reader never
sees half a corpus; ``_corpus.json`` with the same config means "already built, reuse it".
Default corpus (20 subjects x 600 s at 128 Hz): about 6-10 s on two busy cores, 22 MB.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import wfdb

from crossmodal_ray.pipelines.sample_corpus.physio.simulation import (
    SIGNAL_NAMES,
    SIGNAL_UNITS,
    PhysioSimulationConfig,
    SimulatedRecording,
    simulate_subject,
    subject_id,
    subject_traits,
)
from crossmodal_ray.pipelines.sample_corpus.publish import (
    config_as_json,
    marker_matches,
    publish_corpus,
)

CORPUS_FORMAT_VERSION = 1
CORPUS_MANIFEST = "_corpus.json"
LABEL_COLUMNS = ("record", "subject", "t_s", "hr_bpm", "rr_bpm", "activity", "apnea")
SUBJECT_COLUMNS = ("subject", "age", "sex", "resting_hr_bpm", "resting_rr_bpm")


def is_cached_corpus(out_dir: str | Path, config: PhysioSimulationConfig) -> bool:
    """True when ``out_dir`` holds a finished corpus generated with exactly ``config``."""
    return marker_matches(out_dir, CORPUS_MANIFEST, CORPUS_FORMAT_VERSION, config)


def _write_record(root: Path, rec: SimulatedRecording) -> None:
    """One ``.hea``/``.dat`` pair (format 16) and its ``.atr`` beat annotations."""
    folder, name = rec.record.split("/")
    write_dir = root / folder
    write_dir.mkdir(parents=True, exist_ok=True)
    t = rec.traits
    wfdb.wrsamp(
        record_name=name,
        fs=rec.sample_rate_hz,
        units=list(SIGNAL_UNITS),
        sig_name=list(SIGNAL_NAMES),
        p_signal=np.column_stack([rec.signals[s] for s in SIGNAL_NAMES]),
        fmt=["16"] * len(SIGNAL_NAMES),
        comments=[f"<age>: {t.age} <sex>: {t.sex}", f"subject: {t.subject}", "simulated"],
        write_dir=str(write_dir),
    )
    wfdb.wrann(
        record_name=name,
        extension="atr",
        sample=rec.r_peak_samples,
        symbol=["N"] * len(rec.r_peak_samples),
        fs=rec.sample_rate_hz,
        write_dir=str(write_dir),
    )


def _labels_frame(rec: SimulatedRecording) -> pd.DataFrame:
    """Per-second ground truth of one record in ``LABEL_COLUMNS`` order."""
    n = len(rec.hr_bpm)
    return pd.DataFrame(
        {
            "record": rec.record,
            "subject": rec.traits.subject,
            "t_s": np.arange(n, dtype=np.int64),
            "hr_bpm": np.round(rec.hr_bpm, 3),
            "rr_bpm": np.round(rec.rr_bpm, 3),
            "activity": rec.activity,
            "apnea": rec.apnea.astype(np.int64),
        }
    )


def _write_corpus(
    root: Path,
    config: PhysioSimulationConfig,
    progress: Callable[[str, int, float], None] | None,
) -> None:
    """Simulate and write every record, then the tables, then ``_corpus.json``."""
    started = time.perf_counter()
    records, labels, subjects = [], [], []
    n_episodes = 0
    for i in range(config.n_subjects):
        t = subject_traits(i, config)
        subjects.append(
            (t.subject, t.age, t.sex, round(t.resting_hr_bpm, 2), round(t.resting_rr_bpm, 2))
        )
        for r in range(config.records_per_subject):
            rec = simulate_subject(i, config, record_index=r)
            _write_record(root, rec)
            records.append(rec.record)
            labels.append(_labels_frame(rec))
            n_episodes += len(rec.apnea_episodes)
        if progress is not None:
            progress(subject_id(i), len(records), time.perf_counter() - started)
    (root / "RECORDS").write_text("".join(f"{r}\n" for r in records))
    label_table = pd.concat(labels, ignore_index=True)
    label_table.to_csv(root / "labels.csv", index=False)
    pd.DataFrame(subjects, columns=list(SUBJECT_COLUMNS)).to_csv(root / "subjects.csv", index=False)
    meta = {
        "format_version": CORPUS_FORMAT_VERSION,
        "generator": __name__,
        "config": config_as_json(config),
        "subjects": config.n_subjects,
        "records": len(records),
        "label_rows": len(label_table),
        "apnea_episodes": n_episodes,
        "signal_names": list(SIGNAL_NAMES),
        "units": list(SIGNAL_UNITS),
        "sample_rate_hz": config.sample_rate_hz,
        "generation_seconds": round(time.perf_counter() - started, 3),
    }
    (root / CORPUS_MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")


def make_physio_wfdb_corpus(
    out_dir: str | Path,
    config: PhysioSimulationConfig | None = None,
    progress: Callable[[str, int, float], None] | None = None,
) -> Path:
    """Build the sample WFDB corpus at ``out_dir`` unless it is already there with ``config``.

    Args:
        out_dir: Corpus folder. An existing corpus with another config is replaced; a non-empty
            folder that is not a corpus is refused.
        config: Simulation config; ``PhysioSimulationConfig()`` (20 subjects x 600 s) if None.
        progress: Called after each subject with (subject id, records written, seconds).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        FileExistsError: ``out_dir`` is a non-empty folder without ``_corpus.json``.
    """
    config = config or PhysioSimulationConfig()
    return publish_corpus(
        Path(out_dir),
        CORPUS_MANIFEST,
        lambda out: is_cached_corpus(out, config),
        lambda tmp: _write_corpus(tmp, config, progress),
    )
