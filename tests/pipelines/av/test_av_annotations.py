"""The AVA CSV reader: good rows kept by video, each kind of bad row rejected on its own with
its reason; which files are annotation CSVs; sync labels; the listing's inputs."""

from __future__ import annotations

import pytest
from av_ingest_fixtures import csv_line

from crossmodal_ray.pipelines.av.annotations import (
    find_annotation_files,
    read_annotations,
    rows_by_entity,
)
from crossmodal_ray.pipelines.av.listing import list_av_inputs
from crossmodal_ray.pipelines.av.sync_labels import read_sync_labels

GOOD = [
    csv_line("vid_a", 0.08, entity="vid_a:0"),
    csv_line("vid_a", 0.00, entity="vid_a:0"),
    csv_line("vid_a", 0.04, label="NOT_SPEAKING", entity="vid_a:1"),
    csv_line("vid_b", 1.00, box=(-0.005, 0.0, 1.004, 1.0), label="SPEAKING_NOT_AUDIBLE"),
]
# line content -> (error type, words of the message)
BAD = {
    "vid_a,0.12,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE": ("WrongColumnCountError", "7 columns"),
    "vid_a,0.12,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,vid_a:0,extra": (
        "WrongColumnCountError",
        "9 columns",
    ),
    "vid_a,abc,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,vid_a:0": ("NonNumericFieldError", "'abc'"),
    "vid_a,0.16,0.3,nan,0.6,0.7,SPEAKING_AUDIBLE,vid_a:0": ("NonNumericFieldError", "finite"),
    "vid_a,-1,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,vid_a:0": ("NonNumericFieldError", "negative"),
    "vid_a,0.20,0.3,0.2,0.6,0.7,TALKING,vid_a:0": ("UnknownLabelError", "'TALKING'"),
    "vid_a,0.24,0.3,0.2,1.2,0.7,SPEAKING_AUDIBLE,vid_a:0": ("BoxOutOfRangeError", "1.2"),
    "vid_a,0.28,0.6,0.2,0.3,0.7,SPEAKING_AUDIBLE,vid_a:0": ("InvertedBoxError", "inverted"),
    "vid_a,0.32,0.3,0.7,0.6,0.7,SPEAKING_AUDIBLE,vid_a:0": ("InvertedBoxError", "inverted"),
    ",0.36,0.3,0.2,0.6,0.7,SPEAKING_AUDIBLE,vid_a:0": ("EmptyIdError", "empty"),
    "vid_a,0.00,0.3,0.2,0.6,0.7,NOT_SPEAKING,vid_a:0": ("DuplicateAnnotationError", "already"),
}


def write_csv(path, lines, raw_tail: bytes = b""):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(("\n".join(lines) + "\n").encode() + raw_tail)


def test_good_rows_are_kept_by_video_and_entity_sorted_by_time(tmp_path):
    write_csv(tmp_path / "all.csv", GOOD)
    table = read_annotations(tmp_path)
    assert table.rejected == [] and table.rows_read == 4
    assert sorted(table.by_video) == ["vid_a", "vid_b"]
    entities = rows_by_entity(table.by_video["vid_a"])
    assert [a.timestamp for a in entities["vid_a:0"]] == [0.0, 0.08]
    assert entities["vid_a:1"][0].label == "NOT_SPEAKING"
    # within the tolerance: clipped to [0, 1]
    assert table.by_video["vid_b"][0].box == (0.0, 0.0, 1.0, 1.0)


def test_each_bad_row_is_rejected_with_its_reason_and_the_file_goes_on(tmp_path):
    lines = [GOOD[0], GOOD[1], "", *BAD]
    write_csv(tmp_path / "annotations" / "vid_a-activespeaker.csv", lines, b"vid_a,0.4\xff\n")
    table = read_annotations(tmp_path)
    assert table.files == ["annotations/vid_a-activespeaker.csv"]
    assert [a.timestamp for a in table.by_video["vid_a"]] == [0.08, 0.0]
    assert table.rows_read == 2 + len(BAD) + 1  # the blank line is not a row
    by_line = {r["source"]: r for r in table.rejected}
    assert all(r["stage"] == "csv" for r in table.rejected)
    for number, line in enumerate(lines, start=1):
        if line in BAD:
            row = by_line.pop(f"annotations/vid_a-activespeaker.csv#line{number}")
            error_type, words = BAD[line]
            assert row["error_type"] == error_type, line
            assert words in row["message"], (line, row["message"])
    (last,) = by_line.values()
    assert last["error_type"] == "BadUtf8Error"
    assert last["source"].endswith(f"#line{len(lines) + 1}")


def test_a_header_row_is_skipped_not_rejected(tmp_path):
    header = ",".join(
        [
            "video_id",
            "frame_timestamp",
            "entity_box_x1",
            "entity_box_y1",
            "entity_box_x2",
            "entity_box_y2",
            "label",
            "entity_id",
        ]
    )
    write_csv(tmp_path / "a.csv", [header, GOOD[0]])
    table = read_annotations(tmp_path)
    assert table.rejected == [] and table.header_rows_skipped == 1 and table.rows_read == 1


def test_duplicates_are_found_across_files(tmp_path):
    write_csv(tmp_path / "a.csv", [GOOD[0]])
    write_csv(tmp_path / "b.csv", [GOOD[0]])
    table = read_annotations(tmp_path)
    assert [r["error_type"] for r in table.rejected] == ["DuplicateAnnotationError"]
    assert table.rejected[0]["source"] == "b.csv#line1"


def test_annotation_files_exclude_sync_labels_side_tables_and_other_folders(tmp_path):
    for name in (
        "a.csv",
        "sync_labels.csv",
        "_tracks.csv",
        ".hidden.csv",
        "annotations/train/b.csv",
        "videos/c.csv",
    ):
        write_csv(tmp_path / name, [GOOD[0]])
    found = [p.relative_to(tmp_path).as_posix() for p in find_annotation_files(tmp_path)]
    assert found == ["a.csv", "annotations/train/b.csv"]


def test_sync_labels_header_values_and_bad_rows(tmp_path):
    (tmp_path / "sync_labels.csv").write_text(
        "video_id,entity_id,in_sync\nv1,v1:0,0\nv1,v1:1,True\nv2,v2:0,maybe\nv3,only-two\n"
    )
    labels = read_sync_labels(tmp_path)
    assert labels.in_sync == {("v1", "v1:0"): False, ("v1", "v1:1"): True}
    assert labels.of("v1", "v1:0") is False and labels.of("v9", "x") is True
    assert labels.rows_skipped == 2 and len(labels.warnings) == 2
    assert "line4" in labels.warnings[0]


@pytest.mark.parametrize("videos_dir", ["videos", "."])
def test_listing_one_input_per_present_video_one_rejection_per_absent(tmp_path, videos_dir):
    write_csv(
        tmp_path / "ann.csv",
        [*GOOD, csv_line("gone", 0.0), csv_line("gone", 0.04), "bad,row"],
    )
    (tmp_path / videos_dir).mkdir(exist_ok=True)
    for name in ("vid_a.mp4", "vid_b.mkv", "spare.webm"):
        (tmp_path / videos_dir / name).write_bytes(b"not decoded while listing")
    (tmp_path / "sync_labels.csv").write_text("vid_a,vid_a:1,0\n")
    listing = list_av_inputs(tmp_path, fps=25.0, frame_size=112, box_tolerance=0.01)
    prefix = "" if videos_dir == "." else "videos/"
    assert [i.source for i in listing.items] == [f"{prefix}vid_a.mp4", f"{prefix}vid_b.mkv"]
    assert [i.group_key for i in listing.items] == ["vid_a", "vid_b"]
    item = listing.items[0]
    assert item.payload["files"] == ["ann.csv"] and item.payload["rows"] == 3
    entities = item.payload["entities"]
    assert entities["vid_a:1"]["in_sync"] is False and entities["vid_a:0"]["in_sync"] is True
    # [t, x1, y1, x2, y2, speaking, file, line], sorted by time
    assert entities["vid_a:0"]["rows"][0] == [0.0, 0.3, 0.2, 0.6, 0.7, 1, 0, 2]
    stages = sorted((r["stage"], r["error_type"], r["source"]) for r in listing.rejected)
    assert stages == [
        ("csv", "WrongColumnCountError", "ann.csv#line7"),
        ("list", "MissingVideoError", "gone"),
    ]
    assert "2 rows" in [r for r in listing.rejected if r["stage"] == "list"][0]["message"]
    assert any("spare" in w for w in listing.warnings)
    assert listing.facts["annotation_rows_of_absent_videos"] == 2
    assert listing.items[0].size_bytes > 0


TALKNET_HEADER = (
    "video_id,frame_timestamp,entity_box_x1,entity_box_y1,entity_box_x2,entity_box_y2,label,"
    "entity_id,label_id,instance_id"
)


def test_a_header_row_maps_columns_by_name_in_any_order_extra_ones_ignored(tmp_path):
    """TalkNet's CSVs name their columns and add label_id and instance_id."""
    reordered = "Entity_ID, label ,video_id,frame_timestamp,entity_box_x1,entity_box_y1,"
    reordered += "entity_box_x2,entity_box_y2,note"
    write_csv(tmp_path / "a.csv", [TALKNET_HEADER, GOOD[0] + ",1,vid_a:0:3"])
    write_csv(
        tmp_path / "b.csv",
        [reordered, "vid_b:0,NOT_SPEAKING,vid_b,1.5,0.1,0.2,0.3,0.4,x", "vid_b,1.6,0.1"],
    )
    table = read_annotations(tmp_path)
    assert table.header_rows_skipped == 2 and table.rows_read == 3
    (row_a,) = table.by_video["vid_a"]
    assert (row_a.entity_id, row_a.timestamp, row_a.label) == ("vid_a:0", 0.08, "SPEAKING_AUDIBLE")
    (row_b,) = table.by_video["vid_b"]
    assert (row_b.entity_id, row_b.timestamp, row_b.label) == ("vid_b:0", 1.5, "NOT_SPEAKING")
    assert row_b.box == (0.1, 0.2, 0.3, 0.4)
    (short,) = table.rejected
    assert (short["source"], short["error_type"]) == ("b.csv#line3", "WrongColumnCountError")
    assert "3 columns, the file's header row names 9" in short["message"]


@pytest.mark.parametrize(
    ("header", "words"),
    [
        (TALKNET_HEADER.replace("label,", ""), "the header row lacks the label column"),
        (
            "video_id,frame_timestamp,label,entity_id",
            "lacks the entity_box_x1, entity_box_y1, entity_box_x2, entity_box_y2 columns",
        ),
        (TALKNET_HEADER.replace("label_id", "label"), "names label twice"),
    ],
)
def test_a_header_lacking_a_column_rejects_the_file_once(tmp_path, header, words):
    write_csv(tmp_path / "annotations" / "x.csv", [header, GOOD[0], GOOD[1]])
    write_csv(tmp_path / "y.csv", [GOOD[3]])
    table = read_annotations(tmp_path)
    (rejected,) = table.rejected
    assert (rejected["source"], rejected["stage"]) == ("annotations/x.csv", "list")
    assert rejected["error_type"] == "MissingColumnsError"
    assert words in rejected["message"] and "no row of the file is read" in rejected["message"]
    assert table.rows_read == 1 and sorted(table.by_video) == ["vid_b"]


def test_a_first_row_without_column_names_is_a_data_row(tmp_path):
    write_csv(tmp_path / "a.csv", ["bad,row", GOOD[0]])
    table = read_annotations(tmp_path)
    assert table.header_rows_skipped == 0 and table.rows_read == 2
    assert [r["error_type"] for r in table.rejected] == ["WrongColumnCountError"]
