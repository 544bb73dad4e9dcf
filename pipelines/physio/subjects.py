"""Which subject a record belongs to: its group key, which no two splits share.

Rules, per record, in this order; the first that gives an answer wins (``RULES`` names them,
and the manifest's ``subject_resolution`` counts records by the rule that decided):

1. ``label_table``: the ``subject`` column of the record's rows in ``<raw>/labels.csv``. Rows
   naming more than one subject reject the record at stage ``list`` (``SubjectConflictError``);
   empty cells, or no such column, give no answer.
2. ``pattern``: ``--subject-pattern``, a regular expression searched (``re.search``) in the
   record path (POSIX, relative to the raw root, no extension); its first group is the subject
   (``^([a-z][0-9]+)`` puts Apnea-ECG's ``a01``, ``a01r`` and ``a01er`` under ``a01``). A record
   the pattern does not match (or whose group is empty) falls through to the next rules.
3. ``header``: a WFDB header comment naming the patient: ``Subject: p000020``,
   ``subject_id=17``, ``Patient ID: 123``, ``patient: x1`` (keys ``subject``/``patient``,
   optionally followed by `` id``/``_id``, any case, then ``:`` or ``=``). Only the comment
   lines of the ``.hea`` text are read, never the data: this runs on the driver for every
   record. A missing or unreadable header gives no answer (decoding rejects the record later).
   WFDB only (PPG-DaLiA pickles have no header).
4. ``folder``: the record's folder (``p04/p044083`` for ``p04/p044083/3544749_0001``, ``S01``
   for ``S01/S01_r1``, ``S1`` for PPG-DaLiA's ``S1/S1``); a record at the root of the raw
   folder is its own subject (``a01``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from crossmodal_ray.pipelines.physio.errors import SubjectConflictError

RULES: tuple[str, ...] = ("label_table", "pattern", "header", "folder")
PATTERN_FLAG = "--subject-pattern"

# ``Subject: p000020``, ``<subject_id>=17``, ``Patient ID: 123``: the value is the first token.
_COMMENT_SUBJECT = re.compile(
    r"(?:^|[\s<,;(])(?:subject|patient)(?:[ _]id)?>?\s*[:=]\s*[\"']?([^\s,;<>()\"']+)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class ResolvedSubject:
    """A record's subject and the rule (one of ``RULES``) that gave it."""

    name: str
    rule: str


def compile_subject_pattern(pattern: str) -> re.Pattern[str] | None:
    """``--subject-pattern`` compiled, or None when empty.

    Raises:
        ValueError: not a regular expression, or one without a group (naming the flag).
    """
    if not pattern:
        return None
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(
            f"{PATTERN_FLAG} {pattern!r} is not a valid regular expression: {exc}"
        ) from exc
    if compiled.groups < 1:
        raise ValueError(
            f"{PATTERN_FLAG} {pattern!r} has no group: put the subject part of the record path "
            f"in parentheses, e.g. '^([a-z][0-9]+)'"
        )
    return compiled


def subject_from_table(record: str, subjects: Iterable[str]) -> str | None:
    """The one subject the record's label-table rows name, None when they name none.

    Raises:
        SubjectConflictError: the rows name more than one subject.
    """
    names = sorted({s.strip() for s in subjects if isinstance(s, str) and s.strip()})
    if len(names) > 1:
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        raise SubjectConflictError(
            f"labels.csv gives record {record} rows of {len(names)} subjects ({shown}); all rows "
            f"of one record must name the same subject"
        )
    return names[0] if names else None


def subject_from_pattern(record: str, pattern: re.Pattern[str] | None) -> str | None:
    """The pattern's first group searched in ``record``; None when it does not match."""
    if pattern is None:
        return None
    match = pattern.search(record)
    return (match.group(1) or None) if match else None


def header_comments(header: Path) -> list[str]:
    """The comment lines of a WFDB header without their ``#`` (what ``wfdb.rdheader`` gives as
    ``comments``, without parsing the signal lines: ~40x cheaper); [] when unreadable."""
    try:
        text = header.read_text(encoding="ascii", errors="ignore")
    except (OSError, ValueError):
        return []
    lines = (line.strip() for line in text.splitlines())
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def subject_from_comments(comments: Iterable[str]) -> str | None:
    """The subject the first comment naming one gives (``Subject: p000020``), else None."""
    for comment in comments:
        match = _COMMENT_SUBJECT.search(comment)
        if match:
            return match.group(1)
    return None


def folder_subject(record: str) -> str:
    """The record's folder (``p04/p044083``), or the record itself at the root (``a01``)."""
    parent = PurePosixPath(record).parent.as_posix()
    return record if parent in (".", "") else parent


def resolve_subject(
    record: str,
    table_subjects: Iterable[str] = (),
    pattern: re.Pattern[str] | None = None,
    header: Path | None = None,
) -> ResolvedSubject:
    """The subject of one record by the rules of the module docstring.

    Args:
        record: Record path relative to the raw root, POSIX, without extension.
        table_subjects: The ``subject`` cells of the record's ``labels.csv`` rows.
        pattern: Compiled ``--subject-pattern`` (``compile_subject_pattern``), or None.
        header: The record's WFDB header, read only when the table and pattern give no
            answer; None for formats without one.

    Raises:
        SubjectConflictError: the label table names more than one subject for the record.
    """
    name = subject_from_table(record, table_subjects)
    if name:
        return ResolvedSubject(name, "label_table")
    name = subject_from_pattern(record, pattern)
    if name:
        return ResolvedSubject(name, "pattern")
    if header is not None:
        name = subject_from_comments(header_comments(header))
        if name:
            return ResolvedSubject(name, "header")
    return ResolvedSubject(folder_subject(record), "folder")
