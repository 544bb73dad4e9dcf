"""Subjects come from the data: label table, then --subject-pattern, then header comments, then
the folder (``pipelines/physio/subjects.py``); related records never land in two splits."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.splits import split_of_key
from crossmodal_ray.pipelines.physio.errors import SubjectConflictError
from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
from crossmodal_ray.pipelines.physio.source import PhysioSource, PhysioSourceConfig
from crossmodal_ray.pipelines.physio.subjects import (
    RULES,
    compile_subject_pattern,
    folder_subject,
    resolve_subject,
    subject_from_comments,
    subject_from_table,
)
from tests import physio_fixtures as fx

DURATION_S = 40.0
WINDOWS_PER_RECORD = int((DURATION_S - 8) // 2 + 1)  # 17
APNEA_PATTERN = r"^([a-z]\d+)"
# Apnea-ECG naming: a01, a01r and a01er are recordings of one person, all at the root.
APNEA_RECORDS = [
    "a01", "a01r", "a01er", "a02", "a02r", "a03", "b01", "b01r", "b03",
    "c01", "c01r", "c02", "c03", "x01", "x02",
]  # fmt: skip
APNEA_SUBJECTS = sorted({re.match(APNEA_PATTERN, r).group(1) for r in APNEA_RECORDS})


def _write_header(path: Path, comments: list[str]) -> Path:
    """A minimal WFDB header (one ECG signal) with ``comments``; no data file is needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"{path.name} 1 100 1000", f"{path.name}.dat 16 200/mV 16 0 0 0 0 ECG"]
    path.with_suffix(".hea").write_text("\n".join(lines + [f"# {c}" for c in comments]) + "\n")
    return path.with_suffix(".hea")


def _append_comment(root: Path, record: str, comment: str) -> None:
    hea = (root / record).with_suffix(".hea")
    hea.write_text(hea.read_text() + f"# {comment}\n")


def _labels(root: Path, rows: dict[str, list[str | None]]) -> None:
    """``labels.csv`` with one row per second per record; ``subject`` cells from ``rows``."""
    frames = [
        pd.DataFrame(
            {
                "record": record,
                "subject": subjects,
                "t_s": [float(t) for t in range(len(subjects))],
                "hr_bpm": fx.TABLE_HR_BPM,
                "rr_bpm": fx.TABLE_RR_BPM,
                "activity": "rest",
                "apnea": 0,
            }
        )
        for record, subjects in rows.items()
    ]
    pd.concat(frames, ignore_index=True).to_csv(root / "labels.csv", index=False)


# ---------------------------------------------------------------- rules, one at a time


def test_folder_rule():
    assert folder_subject("p04/p044083/3544749_0001") == "p04/p044083"
    assert folder_subject("S01/S01_r1") == "S01"
    assert folder_subject("S1/S1") == "S1"  # PPG-DaLiA
    assert folder_subject("a01r") == "a01r"  # a root-level record is its own subject


@pytest.mark.parametrize(
    ("comment", "subject"),
    [
        ("Subject: p000020", "p000020"),
        ("subject_id=17", "17"),
        ("Patient ID: 123", "123"),
        ("patient: x1", "x1"),
        ("SUBJECT ID = 'abc'", "abc"),
        ("<age>: 54 <sex>: M <subject>: S07", "S07"),
        ("<age>: 54 <sex>: M", None),
        ("69 M 1085 1629 x1", None),  # MIT-BIH 100: no key, no subject
        ("Patient age: 54", None),
        ("number of patients: 3", None),
    ],
)
def test_header_comment_rule(comment, subject):
    assert subject_from_comments(["unrelated", comment]) == subject


def test_label_table_rule_and_conflict():
    assert subject_from_table("r1", ["P7", "P7", " P7 "]) == "P7"
    assert subject_from_table("r1", []) is None
    assert subject_from_table("r1", ["", " "]) is None
    with pytest.raises(SubjectConflictError, match="record r1 rows of 2 subjects"):
        subject_from_table("r1", ["P7", "P8"])


@pytest.mark.parametrize(
    ("pattern", "words"),
    [("([a-z]", "not a valid regular expression"), (r"^[a-z]\d+", "has no group")],
)
def test_bad_pattern_is_refused_with_the_flag_name(tmp_path, pattern, words):
    for build in (
        lambda: compile_subject_pattern(pattern),
        lambda: PhysioSourceConfig(source=str(tmp_path), subject_pattern=pattern),
    ):
        with pytest.raises(ValueError, match="--subject-pattern") as error:
            build()
        assert words in str(error.value)


# ---------------------------------------------------------------- the order


def test_order_table_then_pattern_then_header_then_folder(tmp_path):
    header = _write_header(tmp_path / "S01" / "a01r", ["Subject: H1"])
    pattern = compile_subject_pattern(r"/([a-z]\d+)")
    record = "S01/a01r"

    def resolve(table=(), pattern=pattern, header=header):
        got = resolve_subject(record, table, pattern, header)
        return got.name, got.rule

    assert resolve(table=["P7"]) == ("P7", "label_table")
    assert resolve() == ("a01", "pattern")
    assert resolve(pattern=None) == ("H1", "header")
    assert resolve(pattern=None, header=None) == ("S01", "folder")
    # A pattern that does not match the record falls through to the header, then the folder.
    unmatched = compile_subject_pattern(r"^(p\d+)/")
    assert resolve(pattern=unmatched) == ("H1", "header")
    assert resolve(pattern=unmatched, header=tmp_path / "missing.hea") == ("S01", "folder")
    # Empty table cells give no answer either.
    assert resolve(table=["", " "]) == ("a01", "pattern")
    assert {rule for rule in RULES} == {"label_table", "pattern", "header", "folder"}


def test_unreadable_header_gives_no_subject(tmp_path):
    bad = tmp_path / "r1.hea"
    bad.write_bytes(b"\xff\xfe\x00garbage # Subject\n")
    (tmp_path / "r2.hea").mkdir()  # not even a file
    for header in (bad, tmp_path / "r2.hea", tmp_path / "absent.hea"):
        assert resolve_subject("r1", header=header).rule == "folder"


# ---------------------------------------------------------------- through the source


def test_label_table_subject_wins(tmp_path):
    """labels.csv says P7; the header says H1, the pattern S01, the folder S01: P7 it is, in
    the items and in every window row."""
    record = "S01/S01_r1"
    fx.write_record(tmp_path, record, DURATION_S, names=("ECG", "RESP"))
    _append_comment(tmp_path, record, "Subject: H1")
    _labels(tmp_path, {record: ["P7"] * int(DURATION_S)})
    source = PhysioSource(PhysioSourceConfig(source=str(tmp_path), subject_pattern=r"^(S\d+)/"))
    items, rejected = source.list_inputs()
    assert rejected == []
    [item] = items
    assert (item.group_key, item.payload["subject_rule"]) == ("P7", "label_table")
    decoded = source.decode(item, None)
    assert set(decoded.rows.column("subject").to_pylist()) == {"P7"}
    assert decoded.rows.num_rows == WINDOWS_PER_RECORD
    assert decoded.info["subject_resolution"] == {"label_table": 1}


def test_header_comment_gives_the_subject(tmp_path):
    """No subject column in labels.csv, no pattern: ``Subject: p000020`` beats the folder."""
    records = ["w/3544749_0001", "w/3544749_0002"]
    for i, record in enumerate(records):
        fx.write_record(tmp_path, record, DURATION_S, seed=i, names=("ECG", "RESP"))
    _append_comment(tmp_path, records[0], "Subject: p000020")
    _labels(tmp_path, {r: [None] * int(DURATION_S) for r in records})
    frame = pd.read_csv(tmp_path / "labels.csv")
    frame.drop(columns=["subject"]).to_csv(tmp_path / "labels.csv", index=False)
    source = PhysioSource(PhysioSourceConfig(source=str(tmp_path)))
    items, _ = source.list_inputs()
    got = {i.source: (i.group_key, i.payload["subject_rule"]) for i in items}
    assert got == {records[0]: ("p000020", "header"), records[1]: ("w", "folder")}
    rows = source.decode(items[0], None).rows
    assert set(rows.column("subject").to_pylist()) == {"p000020"}
    assert set(rows.column("label_source").to_pylist()) == {"table"}


def test_conflicting_table_subjects_reject_the_record_at_listing(tmp_path):
    good, bad = "S01/S01_r1", "S02/S02_r1"
    for record in (good, bad):
        fx.write_record(tmp_path, record, 10.0, names=("ECG",))
    _labels(tmp_path, {good: ["P1"] * 10, bad: ["P2"] * 5 + ["P3"] * 5})
    items, rejected = PhysioSource(PhysioSourceConfig(source=str(tmp_path))).list_inputs()
    assert [(i.source, i.group_key) for i in items] == [(good, "P1")]
    [row] = rejected
    assert (row["source"], row["stage"], row["error_type"]) == (
        bad,
        "list",
        "SubjectConflictError",
    )
    assert "record S02/S02_r1 rows of 2 subjects (P2, P3)" in row["message"]


def test_ppg_dalia_keeps_its_folder_unless_the_pattern_says_otherwise(tmp_path):
    for name in ("S1", "S2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / f"{name}.pkl").write_bytes(b"listing never opens the pickle")
    listed = PhysioSource(PhysioSourceConfig(source=str(tmp_path))).list_inputs()[0]
    assert [(i.group_key, i.payload["subject_rule"]) for i in listed] == [
        ("S1", "folder"),
        ("S2", "folder"),
    ]
    config = PhysioSourceConfig(source=str(tmp_path), subject_pattern=r"^S(\d+)/")
    listed = PhysioSource(config).list_inputs()[0]
    assert [(i.group_key, i.payload["subject_rule"]) for i in listed] == [
        ("1", "pattern"),
        ("2", "pattern"),
    ]


# ---------------------------------------------------------------- end to end: Apnea-ECG names


@pytest.fixture(scope="module")
def apnea(tmp_path_factory, ray_session):
    raw = tmp_path_factory.mktemp("apnea") / "apnea_ecg"
    raw.mkdir()
    for i, record in enumerate(APNEA_RECORDS):
        fx.write_record(raw, record, DURATION_S, seed=i, names=("ECG", "RESP"))
    out = tmp_path_factory.mktemp("shards")
    ingest = IngestConfig(out=str(out))
    manifest = run_physio_ingest(
        PhysioSourceConfig(source=str(raw), subject_pattern=APNEA_PATTERN), ingest
    )
    corpus_dir = out / manifest["corpus"]
    rows = {
        split: pa.concat_tables(
            [pq.read_table(corpus_dir / f, columns=["subject", "source"]) for f in info["files"]]
        ).to_pylist()
        for split, info in manifest["splits"].items()
    }
    return {"raw": raw, "ingest": ingest, "manifest": manifest, "rows": rows}


def _split(key: str, ingest: IngestConfig) -> str:
    return split_of_key(key, ingest.val_fraction, ingest.test_fraction, ingest.split_seed)


def test_related_records_share_one_split(apnea):
    m, rows = apnea["manifest"], apnea["rows"]
    assert m["inputs"] == {"read": 15, "ingested": 15, "rejected": 0}
    assert m["ingest"]["physio"]["subject_pattern"] == APNEA_PATTERN
    assert m["subject_resolution"] == {"label_table": 0, "pattern": 15, "header": 0, "folder": 0}
    # Every row carries the subject the pattern gives its record.
    for split_rows in rows.values():
        for row in split_rows:
            assert row["subject"] == re.match(APNEA_PATTERN, row["source"]).group(1), row
    # a01, a01r and a01er (and every other family) sit in exactly one split.
    splits_of_source = {r["source"]: split for split, rs in rows.items() for r in rs}
    assert sorted(splits_of_source) == sorted(APNEA_RECORDS)
    for subject in APNEA_SUBJECTS:
        family = [r for r in APNEA_RECORDS if r.startswith(subject)]
        assert len({splits_of_source[r] for r in family}) == 1, family
    # The manifest lists the subjects per split: those of the rows, as the hash puts them.
    expected = {
        split: sorted(s for s in APNEA_SUBJECTS if _split(s, apnea["ingest"]) == split)
        for split in ("train", "val", "test")
    }
    assert m["subjects"] == expected
    for split, info in m["splits"].items():
        assert m["subjects"][split] == info["keys"] == sorted({r["subject"] for r in rows[split]})
        assert info["rows"] == len(rows[split])
    assert sum(bool(v) for v in m["subjects"].values()) >= 2
    assert len(APNEA_SUBJECTS) == 10 and m["totals"]["written"] == 15 * WINDOWS_PER_RECORD


def test_without_the_pattern_families_would_leak(apnea):
    """The old rule (and the folder rule now) makes each root-level record its own subject: the
    hash then sends a02 and a02r (b01/b01r, c01/c01r) to different splits."""
    items, _ = PhysioSource(PhysioSourceConfig(source=str(apnea["raw"]))).list_inputs()
    assert {i.source: i.group_key for i in items} == {r: r for r in APNEA_RECORDS}
    assert {i.payload["subject_rule"] for i in items} == {"folder"}
    leaking = [
        family
        for family in (["a01", "a01r", "a01er"], ["a02", "a02r"], ["b01", "b01r"], ["c01", "c01r"])
        if len({_split(r, apnea["ingest"]) for r in family}) > 1
    ]
    assert leaking, "the corpus must show the leak the pattern prevents"
