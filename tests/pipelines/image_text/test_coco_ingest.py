"""The COCO ingest on real files (``shared/data/coco_mini``: 159 images, 795 captions, 1,363
boxes) and, through the job with no arguments, on a small generated sample corpus."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from job_loader import load_job
from repo_paths import SHARED_DATA

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_reader import read_split
from crossmodal_ray.pipelines.image_text.images import jpeg_to_uint8
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest
from crossmodal_ray.pipelines.image_text.rows import sample_id_for
from crossmodal_ray.pipelines.image_text.source import ImageTextSource, ImageTextSourceConfig
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    ImageTextSampleConfig,
    make_image_text_corpus,
)

COCO_MINI = SHARED_DATA / "coco_mini"
SIZE = 224
SMALL = ImageTextSampleConfig(train_images=20, val_images=5, image_size=64)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def expected_box(box: list[float], width: int, height: int, size: int) -> list[float]:
    """The box after resizing the shorter side to ``size`` and the centre crop (independent)."""
    scale = size / min(width, height)
    rw, rh = max(size, round(width * scale)), max(size, round(height * scale))
    left, top = (rw - size) // 2, (rh - size) // 2
    x, y, w, h = box
    x0, x1 = (np.clip([x * rw / width - left, (x + w) * rw / width - left], 0, size)).tolist()
    y0, y1 = (np.clip([y * rh / height - top, (y + h) * rh / height - top], 0, size)).tolist()
    return [x0, y0, x1 - x0, y1 - y0]


@pytest.fixture(scope="module")
def real(tmp_path_factory, ray_session):
    out = tmp_path_factory.mktemp("coco_mini")
    manifest = run_image_text_ingest(
        ImageTextSourceConfig(source=str(COCO_MINI)), IngestConfig(out=str(out), concurrency=2)
    )
    tables = [
        pq.read_table(out / "coco_mini" / f)
        for info in manifest["splits"].values()
        for f in info["files"]
    ]
    rows = {row["image_id"]: row for row in pa.concat_tables(tables).to_pylist()}
    return {"manifest": manifest, "rows": rows}


@pytest.fixture(scope="module")
def truth() -> dict[int, dict]:
    """Per image id, read straight from the COCO files: split, file, size, captions, boxes."""
    images: dict[int, dict] = {}
    for split in ("train2017", "val2017"):
        captions = _load(COCO_MINI / "annotations" / f"captions_{split}.json")
        instances = _load(COCO_MINI / "annotations" / f"instances_{split}.json")
        names = {c["id"]: c["name"] for c in instances["categories"]}
        for image in captions["images"]:
            images[image["id"]] = {**image, "folder": split, "captions": [], "boxes": []}
        for a in captions["annotations"]:
            images[a["image_id"]]["captions"].append(" ".join(a["caption"].split()))
        for a in instances["annotations"]:
            images[a["image_id"]]["boxes"].append((a["id"], names[a["category_id"]], a["bbox"]))
    return images


pytestmark = pytest.mark.skipif(not COCO_MINI.is_dir(), reason=f"{COCO_MINI} not present")


def test_listing_holds_every_caption_and_box(truth):
    items, rejected = ImageTextSource(ImageTextSourceConfig(source=str(COCO_MINI))).list_inputs()
    assert rejected == [] and len(items) == len(truth) == 159
    assert {item.split for item in items} == {"train", "val"}
    assert sum(len(item.payload["captions"]) for item in items) == 795
    assert sum(len(item.payload["boxes"]) for item in items) == 1363


def test_every_real_image_is_written(real):
    m = real["manifest"]
    assert m["totals"] == {"read": 159, "written": 159, "rejected": 0}
    assert m["inputs"] == {"read": 159, "ingested": 159, "rejected": 0}
    assert {s: info["rows"] for s, info in m["splits"].items()} == {
        "train": 80,
        "val": 79,
        "test": 0,
    }
    assert m["counts"]["train"]["captions"] + m["counts"]["val"]["captions"] == 795
    assert m["counts"]["train"]["boxes"] + m["counts"]["val"]["boxes"] == 1363
    assert m["dropped"] == {} and m["rejected_files"] == []
    assert m["ingest"]["val_fraction"] == 0.0 and m["ingest"]["split_rule"] == "corpus"


def test_rows_match_the_annotation_files(real, truth):
    splits = defaultdict(set)
    for image_id, row in real["rows"].items():
        image = truth[image_id]
        source = f"{image['folder']}/{image['file_name']}"
        assert row["source"] == source and row["sample_id"] == sample_id_for(source)
        assert row["split"] == image["folder"][:-4]
        splits[row["split"]].add(str(image_id))
        assert (row["width"], row["height"]) == (image["width"], image["height"])
        assert row["captions"] == image["captions"] and len(row["captions"]) == 5
        assert row["box_ids"] == [b[0] for b in image["boxes"]]
        assert row["categories"] == [b[1] for b in image["boxes"]]
        original = np.asarray([b[2] for b in image["boxes"]], dtype=np.float32).reshape(-1, 4)
        np.testing.assert_array_equal(np.asarray(row["boxes_original"]).reshape(-1, 4), original)
        for box, (_, _, bbox) in zip(row["boxes"], image["boxes"], strict=True):
            want = expected_box(bbox, image["width"], image["height"], SIZE)
            np.testing.assert_allclose(box, want, atol=1e-3)
    manifest = real["manifest"]
    assert {s: set(manifest["splits"][s]["keys"]) for s in splits} == dict(splits)


def test_images_are_224_px_jpegs(real):
    row = real["rows"][min(real["rows"])]
    pixels = jpeg_to_uint8(row["image"])
    assert pixels.shape == (SIZE, SIZE, 3) and pixels.dtype == np.uint8
    assert 2_000 < len(row["image"]) < 60_000 and pixels.std() > 10


def test_job_without_arguments_ingests_the_sample_corpus(
    ray_session, tmp_path, monkeypatch, capsys
):
    job = load_job("ingest_image_text")
    monkeypatch.chdir(tmp_path)  # the sample corpus and shards land in data/ here
    monkeypatch.setattr(
        job, "make_image_text_corpus", lambda out: make_image_text_corpus(out, SMALL)
    )
    summary = job.main(["--image-size", "32", "--concurrency", "2", "--out", "shards"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == summary
    assert summary["rows"] == {"train": 20, "val": 5, "test": 0}
    assert summary["totals"] == {"read": 25, "written": 25, "rejected": 0}
    assert summary["corpus_path"] == str(tmp_path / "shards" / "coco")
    assert summary["image_storage"] == "jpeg"

    raw = tmp_path / "data" / "raw" / "image_text_sample" / "coco" / "annotations"
    captions, boxes = defaultdict(list), defaultdict(list)
    for split in ("train2017", "val2017"):
        for a in _load(raw / f"captions_{split}.json")["annotations"]:
            captions[a["image_id"]].append(a["caption"])
        for a in _load(raw / f"instances_{split}.json")["annotations"]:
            boxes[a["image_id"]].append(a["bbox"])
    seen = 0
    for split in ("train", "val"):
        ds = read_split("shards", "coco", split)
        for batch in ds.iter_batches(batch_size=8, batch_format="numpy"):
            for i, image_id in enumerate(batch["image_id"]):
                assert list(batch["captions"][i]) == captions[int(image_id)]
                got = np.stack(batch["boxes"][i]).astype(np.float32)
                np.testing.assert_allclose(got, np.asarray(boxes[int(image_id)]) * 0.5, atol=1e-4)
                assert jpeg_to_uint8(batch["image"][i]).shape == (32, 32, 3)
                seen += 1
    assert seen == 25
