"""Which physiological shard corpus a training job uses, made ready (sample, ingest) if need be.

Three cases, decided by the flags the user gave (``PhysioCorpusConfig``):

- neither ``--raw-dir`` nor ``--corpus``: the bundled sample corpus (20 simulated subjects as
  WFDB records, generated once under ``data/raw/physio_sample``), ingested once into
  ``<shards-dir>/physio_sample``;
- ``--raw-dir R`` (and optionally ``--corpus NAME``): R is ingested into
  ``<shards-dir>/<NAME or R's folder name>`` unless that corpus is already finished
  (``--reingest`` forces it);
- ``--corpus NAME`` alone: a finished corpus that must exist under ``--shards-dir``; a name that
  is not there stops the job with the list of the corpora that are (a typo never silently
  becomes a freshly simulated corpus).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crossmodal_ray.pipelines.core.manifest import has_manifest, read_manifest
from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig

SAMPLE_RAW_DIR = "data/raw/physio_sample"


@dataclass
class PhysioCorpusConfig:
    """The shard corpus a job trains on; each field is a flag.

    Attributes:
        shards_dir: Shard root (a path, ``s3://`` or ``gs://``).
        corpus: Corpus name under the shard root; given alone it must be a finished corpus.
        raw_dir: Raw folder to ingest (WFDB records or PPG-DaLiA ``S*/S*.pkl``); default: the
            bundled sample corpus, generated under data/raw/physio_sample.
        reingest: Ingest even when the corpus is already finished.
        subject_pattern: With ``--raw-dir``: the regular expression whose first group is a
            record's subject (``pipelines/physio/subjects.py``), e.g. ``^([a-z][0-9]+)`` for
            Apnea-ECG's a01/a01r/a01er.
        sample_subjects: Subjects of the generated sample corpus.
        sample_duration_s: Seconds per sample record.
    """

    shards_dir: str = "data/shards"
    corpus: str | None = None
    raw_dir: str | None = None
    reingest: bool = False
    subject_pattern: str = ""
    sample_subjects: int = 20
    sample_duration_s: int = 600


def ensure_sample_records(
    raw_dir: str = SAMPLE_RAW_DIR,
    subjects: int = 20,
    duration_s: int = 600,
    log: Callable[[str], None] = print,
) -> str:
    """Generate the simulated WFDB sample corpus at ``raw_dir`` (cached: reruns return at once)."""
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import (
        is_cached_corpus,
        make_physio_wfdb_corpus,
    )

    config = PhysioSimulationConfig(n_subjects=subjects, duration_s=duration_s)
    if not is_cached_corpus(raw_dir, config):
        log(
            f"[sample] simulating {subjects} subjects x {duration_s} s of WFDB records at {raw_dir}"
        )
    return str(make_physio_wfdb_corpus(raw_dir, config))


def prepare_physio_corpus(
    config: PhysioCorpusConfig, log: Callable[[str], None] = print
) -> tuple[str, dict]:
    """The corpus name and its manifest, ingesting (and simulating) first where needed."""
    if config.raw_dir is None and config.corpus is not None:
        if config.reingest:
            raise ValueError("--reingest needs --raw-dir: the raw folder to ingest again")
        manifest = read_manifest(config.shards_dir, config.corpus)  # lists corpora if missing
        log(f"[corpus] using the finished corpus {config.corpus} under {config.shards_dir}")
        return config.corpus, manifest
    if config.raw_dir is None:
        raw_dir = ensure_sample_records(
            SAMPLE_RAW_DIR, config.sample_subjects, config.sample_duration_s, log
        )
    else:
        raw_dir = config.raw_dir
        if not Path(raw_dir).is_dir():
            raise FileNotFoundError(f"--raw-dir {raw_dir} does not exist")
    corpus = config.corpus or Path(raw_dir).resolve().name
    if has_manifest(config.shards_dir, corpus) and not config.reingest:
        log(f"[corpus] reusing the finished corpus {corpus} (pass --reingest to rebuild)")
        return corpus, read_manifest(config.shards_dir, corpus)
    log(f"[corpus] ingesting {raw_dir} into {corpus} under {config.shards_dir}")
    manifest = run_physio_ingest(
        PhysioSourceConfig(source=raw_dir, subject_pattern=config.subject_pattern),
        IngestConfig(out=config.shards_dir, corpus=corpus),
        log=log,
    )
    return corpus, manifest
