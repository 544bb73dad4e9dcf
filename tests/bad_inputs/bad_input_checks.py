"""Run an ingest job on one corpus of the bad-input corpus and list what it got wrong.

:func:`ingest_and_check` runs the job in this process (``main(argv)``, the way
``python jobs/<job>.py`` runs it, on the test session's Ray), then reads back the manifest, the
``_rejected/`` rows and the shards' ``source`` column, and returns every broken promise as a line
of text (an empty list: all kept), so one failing kind never hides the others.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq
from bad_input_kinds import BadCorpus
from job_loader import load_job

from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.shard_reader import read_rejected


@dataclass
class IngestOutcome:
    """What one ingest of a bad corpus left behind."""

    summary: dict
    manifest: dict
    rejected: list[dict]
    written_sources: set[str]
    corpus_path: Path | None = None

    def rows(self) -> list[dict]:
        """Every written row (all columns), in manifest order."""
        rows = []
        for info in self.manifest["splits"].values():
            for file_name in info["files"]:
                rows += pq.read_table(Path(self.corpus_path) / file_name).to_pylist()
        return rows


def run_ingest(corpus: BadCorpus, out: Path) -> IngestOutcome:
    """Run ``corpus.job`` on ``corpus.raw`` with ``--out out``; read back its output."""
    summary = load_job(corpus.job).main([*corpus.argv, "--out", str(out)])
    corpus_path = Path(summary["corpus_path"])
    root, name = str(corpus_path.parent), corpus_path.name
    manifest = read_manifest(root, name)
    written = set()
    for info in manifest["splits"].values():
        for file_name in info["files"]:
            written |= set(
                pq.read_table(corpus_path / file_name, columns=["source"])["source"].to_pylist()
            )
    rejected = read_rejected(root, name).to_pylist()
    return IngestOutcome(summary, manifest, rejected, written, corpus_path)


def balance_failures(manifest: dict) -> list[str]:
    """Every count of the manifest that has ``read`` balances: read = written (ingested, kept) +
    rejected."""
    failures = []
    for key, value in manifest.items():
        if isinstance(value, dict) and {"read", "rejected"} <= value.keys():
            kept = value.get("written", value.get("ingested", value.get("kept")))
            if kept is None or value["read"] != kept + value["rejected"]:
                failures.append(f"manifest {key} does not balance: {value}")
    if "totals" not in manifest:
        failures.append("manifest has no totals")
    return failures


def kind_failures(corpus: BadCorpus, outcome: IngestOutcome) -> list[str]:
    """Each kind rejected with its stage, error type and words; good and accepted inputs
    written; totals balanced."""
    failures = []
    by_source: dict[str, list[dict]] = {}
    for row in outcome.rejected:
        by_source.setdefault(row["source"], []).append(row)
    for kind in corpus.kinds:
        rows = by_source.get(kind.source, [])
        label = f"[{corpus.format}] {kind.name} ({kind.source})"
        if len(rows) != kind.rows:
            failures.append(f"{label}: {len(rows)} rejected rows, expected {kind.rows}: {rows}")
            continue
        for row in rows:
            got = (row["stage"], row["error_type"])
            if got != (kind.stage, kind.error_type):
                failures.append(
                    f"{label}: rejected as {got}, expected {(kind.stage, kind.error_type)}"
                )
            if kind.words not in row["message"]:
                failures.append(f"{label}: message lacks {kind.words!r}: {row['message']!r}")
        whole_input = any(not row["sample_id"] for row in rows)
        if whole_input and kind.source in outcome.written_sources:
            # (a part of an input, e.g. one object of an image, leaves the input written)
            failures.append(f"{label}: rejected as a whole yet written to the shards")
    missing = corpus.written_sources - outcome.written_sources
    if missing:
        failures.append(f"[{corpus.format}] good inputs not written: {sorted(missing)}")
    for name, source in corpus.accepted_kinds.items():
        if source not in outcome.written_sources:
            failures.append(f"[{corpus.format}] {name} ({source}) should be written, was not")
    expected_sources = {kind.source for kind in corpus.kinds}
    unexpected = sorted({r["source"] for r in outcome.rejected} - expected_sources)
    if unexpected:
        failures.append(f"[{corpus.format}] rejected inputs no kind names: {unexpected}")
    return failures + balance_failures(outcome.manifest)
