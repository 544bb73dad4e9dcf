"""The contract of the bad-input corpus: one :class:`BadKind` per kind of broken input.

Each area's generator (``bad_<area>.py`` in this folder) writes one raw corpus that mixes
good inputs with one input of each of its kinds, and returns a :class:`BadCorpus`: the ingest
job's flags for it, the kinds it holds and the good inputs that must be written. The test
(``test_bad_input_corpus.py``) runs the ingest job on every corpus and checks each kind's
rejection (stage, error type, words of the message) and that ``read = written + rejected``.
An area module may also define ``extra_checks(corpus, outcome) -> list[str]`` for what only
its format has (the malicious pickle ran nothing, a multi-segment master is one record, exact
counts); the test runs it after the common checks. The README's table of kinds and reasons is
generated from these records
(``python tests/bad_inputs/bad_input_table.py``) and a test keeps the two equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class BadKind:
    """One kind of broken input and the rejection a user sees for it.

    Attributes:
        name: Short name of the kind (the README's first column), e.g. ``"truncated .dat"``.
        format: The raw format it breaks (``wfdb``, ``ppg_dalia``, ``coco``, ``visual_genome``,
            ``mediaeval``, ``weibo``, ``ava``).
        source: The ``source`` column of its row in ``_rejected/`` (relative to the raw root,
            with the reader's ``#line`` / ``#id`` suffix where the reader adds one).
        stage: The ``stage`` column.
        error_type: The ``error_type`` column (the exception class name).
        words: Words the ``message`` column must contain (what the user reads).
        rows: How many rejected rows the input gives (1 for a whole input; more when the reader
            rejects, e.g., every window of a record separately).
    """

    name: str
    format: str
    source: str
    stage: str
    error_type: str
    words: str
    rows: int = 1


@dataclass
class BadCorpus:
    """One raw corpus of the bad-input corpus, ready for its ingest job.

    Attributes:
        format: As :attr:`BadKind.format`.
        job: The ingest job's name (``ingest_physio`` runs ``jobs/ingest_physio.py``).
        argv: The job's flags, except ``--out`` (the test adds it).
        raw: The corpus folder.
        kinds: The kinds it holds.
        written_sources: The good inputs (``source`` column values) that must reach the shards.
        accepted_kinds: Unusual but valid inputs that must be written, not rejected
            (e.g. a CMYK JPEG), by name, with the source of each.
        area: The generator module that wrote it (set by ``bad_input_corpus``).
    """

    format: str
    job: str
    argv: list[str]
    raw: Path
    kinds: list[BadKind]
    written_sources: set[str]
    accepted_kinds: dict[str, str] = field(default_factory=dict)
    area: str = ""
