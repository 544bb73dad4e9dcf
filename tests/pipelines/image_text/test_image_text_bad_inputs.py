"""Every kind of bad image-text input lands in ``_rejected/`` with its stage and reason, while
the good images of the same corpus (CMYK, greyscale, alpha, EXIF-rotated) are still written.
One COCO ingest over one mixed corpus."""

from __future__ import annotations

import image_text_fixtures as fx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_reader import read_rejected
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest
from crossmodal_ray.pipelines.image_text.rows import sample_id_for
from crossmodal_ray.pipelines.image_text.source import ImageTextSourceConfig

SIZE = 32
BAD_UTF8 = "@@BAD_UTF8@@"
# image id -> (file name, file bytes or None for a missing file, captions)
IMAGES = {
    1: ("good.jpg", fx.encode(fx.marked_image(40, 40, (4, 4, 8, 8)), "JPEG"), ["a red square"]),
    2: ("cmyk.jpg", fx.cmyk_jpeg(), ["a red picture"]),
    3: ("grey.jpg", fx.grey_jpeg(level=90), ["a grey picture"]),
    4: ("alpha.png", fx.rgba_png(), ["half red, half nothing"]),
    5: ("rotated.jpg", fx.with_orientation(fx.marked_image(48, 32, (20, 10, 12, 8)), 6), ["up"]),
    6: ("truncated.jpg", fx.truncated_jpeg(), ["cut short"]),
    7: ("text.jpg", b"just some text, no picture\n", ["not a picture"]),
    8: ("zero.png", fx.zero_pixel_png(), ["nothing"]),
    9: ("missing.jpg", None, ["the file is gone"]),
    10: ("no_caption.jpg", fx.grey_jpeg(), ["", "   "]),
    11: ("one_empty.jpg", fx.grey_jpeg(), ["a grey square", ""]),
    12: ("bad_utf8.jpg", fx.grey_jpeg(), ["fine words", BAD_UTF8]),
}
WRITTEN = {1, 2, 3, 4, 5, 11, 12}
# source -> (stage, error type, words of the message)
WHOLE = {
    "train2017/truncated.jpg": ("decode", "CorruptImageError", "truncated or corrupt JPEG"),
    "train2017/text.jpg": ("decode", "NotAnImageError", "not an image file"),
    "train2017/zero.png": ("decode", "ZeroPixelImageError", "zero-pixel image"),
    "train2017/missing.jpg": ("read", "MissingImageError", "does not exist"),
    "train2017/no_caption.jpg": ("annotations", "NoCaptionError", "no usable caption"),
}


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, ray_session):
    raw = tmp_path_factory.mktemp("bad") / "mixed_coco"
    (raw / "train2017").mkdir(parents=True)
    images, captions = [], []
    for image_id, (name, data, texts) in IMAGES.items():
        if data is not None:
            (raw / "train2017" / name).write_bytes(data)
        width, height = (48, 32) if image_id == 5 else (40, 40)  # 5: the stored pixels' size
        images.append({"id": image_id, "file_name": name, "width": width, "height": height})
        for text in texts:
            captions.append({"id": 100 + len(captions), "image_id": image_id, "caption": text})
    captions.append({"id": 999, "image_id": 4242, "caption": "an image nobody listed"})
    path = raw / "annotations" / "captions_train2017.json"
    fx.write_coco_json(path, images, captions)
    path.write_bytes(path.read_bytes().replace(BAD_UTF8.encode(), b"caf\xff au lait"))
    boxes = [
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [4, 4, 8, 8]},
        {"id": 2, "image_id": 1, "category_id": 1, "bbox": [30, 30, 20, 20]},  # outside 40x40
        {"id": 3, "image_id": 5, "category_id": 1, "bbox": [20, 10, 12, 8]},  # stored pixels
    ]
    categories = [{"id": 1, "name": "square", "supercategory": "shape"}]
    fx.write_coco_json(
        raw / "annotations" / "instances_train2017.json", images, boxes, categories=categories
    )
    (raw / "annotations" / "captions_val2017.json").write_text('{"images": [{"id": 1,')
    out = tmp_path_factory.mktemp("bad_out")
    manifest = run_image_text_ingest(
        ImageTextSourceConfig(source=str(raw), image_size=SIZE, image_storage="uint8"),
        IngestConfig(out=str(out), concurrency=2),
    )
    rows = pa.concat_tables(
        [pq.read_table(out / "mixed_coco" / f) for f in manifest["splits"]["train"]["files"]]
    )
    rejected = read_rejected(str(out), "mixed_coco").to_pylist()
    by_id = {row["image_id"]: row for row in rows.to_pylist()}
    return {"manifest": manifest, "rows": by_id, "rejected": rejected}


@pytest.mark.parametrize("source", list(WHOLE))
def test_bad_image_is_quarantined_with_reason(ingested, source):
    rows = [r for r in ingested["rejected"] if r["source"] == source]
    assert len(rows) == 1, rows  # one row: the whole image
    stage, error_type, words = WHOLE[source]
    assert (rows[0]["stage"], rows[0]["error_type"]) == (stage, error_type), rows[0]
    assert words in rows[0]["message"] and rows[0]["sample_id"] == ""


def test_annotation_files_and_unknown_ids_rejected_at_listing(ingested):
    listed = [r for r in ingested["rejected"] if r["stage"] == "list"]
    assert sorted((r["source"], r["error_type"]) for r in listed) == [
        ("annotations/captions_train2017.json", "UnknownImageError"),
        ("annotations/captions_val2017.json", "MalformedAnnotationError"),
    ]
    unknown, malformed = sorted(listed, key=lambda r: r["source"])
    assert "caption 999 names image id 4242" in unknown["message"]
    assert "malformed JSON at line 1" in malformed["message"]
    assert "whole file is rejected" in malformed["message"]


def test_dropped_captions_and_boxes_keep_their_image(ingested):
    parts = {r["source"]: r for r in ingested["rejected"] if r["sample_id"]}
    assert set(parts) == {
        "train2017/good.jpg",
        "train2017/one_empty.jpg",
        "train2017/bad_utf8.jpg",
    }
    box = parts["train2017/good.jpg"]
    assert (box["stage"], box["error_type"]) == ("boxes", "BoxOutsideImageError")
    assert "box 2 (square)" in box["message"] and "outside the 40x40 image" in box["message"]
    assert box["sample_id"] == sample_id_for("train2017/good.jpg")
    empty, utf8 = parts["train2017/one_empty.jpg"], parts["train2017/bad_utf8.jpg"]
    assert (empty["stage"], empty["error_type"]) == ("annotations", "EmptyCaptionError")
    assert (utf8["stage"], utf8["error_type"]) == ("annotations", "BadUtf8Error")
    assert "not valid UTF-8" in utf8["message"] and "caf\ufffd au lait" in utf8["message"]
    rows = ingested["rows"]
    assert rows[1]["box_ids"] == [1] and rows[1]["categories"] == ["square"]
    assert rows[11]["captions"] == ["a grey square"]
    assert rows[12]["captions"] == ["fine words"]
    assert ingested["manifest"]["dropped"] == {
        "box_outside_image": 1,
        "caption_bad_utf8": 1,
        "caption_empty": 1,
    }


def test_odd_but_valid_images_are_written_upright_rgb(ingested):
    rows = ingested["rows"]
    assert set(rows) == WRITTEN

    def pixels(image_id: int) -> np.ndarray:
        return np.asarray(rows[image_id]["image"], dtype=int).reshape(SIZE, SIZE, 3)

    assert np.abs(pixels(2).mean(axis=(0, 1)) - fx.RED).max() < 12  # CMYK
    grey = pixels(3)
    assert (grey.max(axis=2) - grey.min(axis=2)).max() <= 1  # greyscale -> R = G = B
    alpha = pixels(4)
    assert (alpha[:, :12] >= 250).all()  # transparent -> white
    rotated = rows[5]
    assert (rotated["width"], rotated["height"]) == (32, 48)  # upright size
    x, y, w, h = (int(round(v)) for v in rotated["boxes"][0])
    assert (x, y, w, h) == (14, 12, 8, 12)  # the box turned with the pixels
    assert np.abs(pixels(5)[y + 1 : y + h - 1, x + 1 : x + w - 1] - fx.RED).max() < 40
    assert rotated["boxes_original"] == [[20.0, 10.0, 12.0, 8.0]]


def test_totals_add_up(ingested):
    m = ingested["manifest"]
    assert m["totals"]["written"] == len(WRITTEN)
    assert m["totals"]["rejected"] == len(ingested["rejected"]) == 5 + 2 + 3
    assert m["totals"]["read"] == m["totals"]["written"] + m["totals"]["rejected"]
    assert m["rejected_by_stage"] == {
        "list": 2,
        "annotations": 3,
        "read": 1,
        "decode": 3,
        "boxes": 1,
    }
    assert m["inputs"] == {"read": len(IMAGES) + 2, "ingested": 7, "rejected": 5 + 2}
    assert m["file_modes"] == {"RGB": 2, "CMYK": 1, "L": 3, "RGBA": 1}  # of the written rows
