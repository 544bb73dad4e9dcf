"""COCO-aligned Visual Genome splits (``--coco-split-annotations``): COCO train images stay in
VG's train, COCO val images go to VG's val or test, the rest are hashed; on the generated
sample corpus (40 COCO train + 20 COCO val images, VG ``coco_id`` == image id)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.splits import split_of_key, unit_hash
from crossmodal_ray.pipelines.image_text.coco_splits import (
    COCO_VAL_SALT,
    aligned_split,
    read_coco_image_splits,
)
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest
from crossmodal_ray.pipelines.image_text.source import ImageTextSource, ImageTextSourceConfig
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    ImageTextSampleConfig,
    make_image_text_corpus,
)

SMALL = ImageTextSampleConfig(train_images=40, val_images=20, image_size=32, captions_per_image=1)
TRAIN_IDS, VAL_IDS = set(range(1, 41)), set(range(41, 61))


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_image_text_corpus(tmp_path_factory.mktemp("vg_coco") / "sample", SMALL)


def _vg(folder: Path, annotations: Path | str, **kwargs) -> ImageTextSourceConfig:
    return ImageTextSourceConfig(
        source=str(folder),
        format="visual_genome",
        coco_split_annotations=str(annotations),
        **kwargs,
    )


def test_read_coco_image_splits(sample, tmp_path):
    annotations = sample / "coco" / "annotations"
    splits = read_coco_image_splits(annotations)
    assert splits == {**dict.fromkeys(TRAIN_IDS, "train"), **dict.fromkeys(VAL_IDS, "val")}
    assert read_coco_image_splits(sample / "coco") == splits  # the COCO root works too
    instances_only = tmp_path / "instances"
    instances_only.mkdir()
    for path in annotations.glob("instances_*.json"):
        shutil.copy(path, instances_only / path.name)
    assert read_coco_image_splits(instances_only) == splits
    # An image in two files (2014 next to 2017) is train if any file says so.
    (instances_only / "captions_val2014.json").write_text(
        json.dumps({"images": [{"id": 1}, {"id": 99}], "annotations": []})
    )
    both = read_coco_image_splits(instances_only)
    assert both[1] == "train" and both[99] == "val" and both[41] == "val"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_coco_image_splits(tmp_path / "absent")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="captions_<split>.json"):
        read_coco_image_splits(tmp_path / "empty")


def test_aligned_split():
    assert {aligned_split("train", i) for i in range(200)} == {"train"}
    halves = [aligned_split("val", i) for i in range(200)]
    assert set(halves) == {"val", "test"} and 70 < halves.count("test") < 130
    for i in range(200):
        expected = "test" if unit_hash(str(i), COCO_VAL_SALT) < 0.5 else "val"
        assert aligned_split("val", i) == expected == aligned_split("val", i, COCO_VAL_SALT)
    assert aligned_split("val", 7, salt=1) == ("test" if unit_hash("7", 1) < 0.5 else "val")
    with pytest.raises(ValueError, match="unknown COCO split"):
        aligned_split("minival", 1)


def test_config_and_flag(sample):
    with pytest.raises(ValueError, match="visual_genome only"):
        ImageTextSourceConfig(source=str(sample / "coco"), coco_split_annotations="x")
    job = load_job("ingest_image_text")
    args = job.parse_args(["--format", "visual_genome", "--coco-split-annotations", "/a/b"])
    assert args.coco_split_annotations == "/a/b"
    assert ImageTextSourceConfig().coco_split_annotations == ""


def test_listing_sets_aligned_splits_and_hashes_the_rest(sample, tmp_path):
    folder = tmp_path / "vg"
    shutil.copytree(sample / "visual_genome", folder, ignore=shutil.ignore_patterns("VG_100K"))
    image_data = json.loads((folder / "image_data.json").read_text())
    image_data[0]["coco_id"] = None  # image 1: not a COCO image
    image_data[-1]["coco_id"] = 1000  # image 60: a COCO id the annotations lack
    (folder / "image_data.json").write_text(json.dumps(image_data))
    adapter = ImageTextSource(_vg(folder, sample / "coco" / "annotations"))
    items, rejected = adapter.list_inputs()
    assert rejected == [] and len(items) == 60
    splits = {int(item.group_key): item.split for item in items}
    assert splits[1] is None and splits[60] is None
    assert {splits[i] for i in TRAIN_IDS - {1}} == {"train"}
    assert {splits[i] for i in VAL_IDS - {60}} == {"val", "test"}
    aligned = adapter.listing_facts["listing"]["coco_aligned_images"]
    assert aligned["train"] == 39 and aligned["val"] + aligned["test"] == 19
    assert adapter.listing_facts["listing_warnings"] == []


def test_ingest_keeps_coco_train_images_out_of_val_and_test(ray_session, sample, tmp_path):
    folder = sample / "visual_genome"
    config = IngestConfig(out=str(tmp_path), concurrency=2, min_shard_tasks=4)
    manifest = run_image_text_ingest(_vg(folder, sample / "coco", image_size=32), config)
    totals = manifest["totals"]
    assert totals["read"] == totals["written"] + totals["rejected"]
    assert totals == {"read": 60, "written": 60, "rejected": 0}
    keys = {split: {int(k) for k in info["keys"]} for split, info in manifest["splits"].items()}
    assert keys["train"] == TRAIN_IDS
    assert keys["val"] | keys.get("test", set()) == VAL_IDS and keys["val"] and keys["test"]
    for split in ("val", "test"):
        assert all(aligned_split("val", i) == split for i in keys[split])
    aligned = manifest["listing"]["coco_aligned_images"]
    assert aligned == {split: len(keys[split]) for split in ("train", "val", "test")}
    for split, info in manifest["splits"].items():  # the rows agree with the manifest
        rows = pa.concat_tables(
            [pq.read_table(tmp_path / "visual_genome" / f) for f in info["files"]]
        )
        assert set(rows.column("coco_id").to_pylist()) == keys[split]
    # Without the option the same corpus is hashed: some COCO train images leave train.
    hashed = {i: split_of_key(str(i), 0.15, 0.15, config.split_seed) for i in TRAIN_IDS}
    assert set(hashed.values()) != {"train"}
