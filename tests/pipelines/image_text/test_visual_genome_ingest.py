"""The Visual Genome ingest: the real v1.4 annotations of ``shared/data/visual_genome_ann``
(no images: every image is rejected as missing, and the parsed objects and relations are
checked against the JSON read here), a small generated sample corpus end to end (uint8
storage), and box rejections that take their relations with them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from repo_paths import SHARED_DATA

from crossmodal_ray.pipelines.core.runner import IngestConfig
from crossmodal_ray.pipelines.core.shard_reader import read_rejected, read_split
from crossmodal_ray.pipelines.core.splits import split_of_key
from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest
from crossmodal_ray.pipelines.image_text.source import ImageTextSource, ImageTextSourceConfig
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    ImageTextSampleConfig,
    make_image_text_corpus,
)

VG_ANN = SHARED_DATA / "visual_genome_ann"
SMALL = ImageTextSampleConfig(train_images=20, val_images=5, image_size=64)


def _load(folder: Path, name: str) -> list:
    path = folder / f"{name}.json"
    return json.loads((path if path.is_file() else folder / f"{name}_samples.json").read_text())


def _vg(folder: Path, **kwargs) -> ImageTextSourceConfig:
    return ImageTextSourceConfig(source=str(folder), format="visual_genome", **kwargs)


def expected_per_image(folder: Path) -> dict[int, dict]:
    """Per image, from the JSON alone: the object ids (objects.json, then relation endpoints
    found in none of them by id or merged id), the relations as (subject ids, predicate,
    object ids) and the region count."""
    out = {}
    relationships = {e["image_id"]: e["relationships"] for e in _load(folder, "relationships")}
    regions = {e["id"]: e["regions"] for e in _load(folder, "region_descriptions")}
    for entry in _load(folder, "objects"):
        image_id = entry["image_id"]
        objects = [(o["object_id"], set(o.get("merged_object_ids", []))) for o in entry["objects"]]
        relations = []
        for r in relationships.get(image_id, []):
            ends = []
            for end in (r["subject"], r["object"]):
                keys = {end["object_id"], *end.get("merged_object_ids", [])}
                if not any(keys & ({oid} | merged) for oid, merged in objects):
                    objects.append((end["object_id"], set(end.get("merged_object_ids", []))))
                ends.append(keys)
            relations.append((ends[0], " ".join(r["predicate"].split()), ends[1]))
        out[image_id] = {
            "objects": objects,
            "relations": relations,
            "regions": len(regions.get(image_id, [])),
        }
    return out


pytestmark = pytest.mark.skipif(not VG_ANN.is_dir(), reason=f"{VG_ANN} not present")


def test_real_annotations_parse_to_the_json_counts():
    items, rejected = ImageTextSource(_vg(VG_ANN)).list_inputs()
    assert rejected == [] and len(items) == 100
    expected = expected_per_image(VG_ANN)
    assert sum(len(e["relations"]) for e in expected.values()) == 2615
    for item in items:
        payload, want = item.payload, expected[int(item.group_key)]
        assert item.split is None and item.source == payload["files"][0]
        assert [o[0] for o in payload["objects"]] == [oid for oid, _ in want["objects"]]
        assert len(payload["relations"]) == len(want["relations"])
        assert len(payload["regions"]) == want["regions"]
        for (_, subject, predicate, _, obj), (subject_keys, words, object_keys) in zip(
            payload["relations"], want["relations"], strict=True
        ):
            assert predicate == words
            for index, keys in ((subject, subject_keys), (obj, object_keys)):
                object_id, merged = want["objects"][index]
                assert keys & ({object_id} | merged), (item.source, index)
    image_1 = next(i for i in items if i.group_key == "1")
    assert image_1.payload["size"] == [800, 600]
    assert image_1.payload["files"] == ["VG_100K_2/1.jpg", "VG_100K/1.jpg"]  # the url's first
    clock = next(o for o in image_1.payload["objects"] if o[0] == 1058498)
    assert clock[1:4] == ["clock", ["clock.n.01"], ["green", "tall"]]  # attributes joined


def test_real_annotations_without_images_reject_every_image(ray_session, tmp_path):
    manifest = run_image_text_ingest(_vg(VG_ANN), IngestConfig(out=str(tmp_path), concurrency=2))
    assert manifest["totals"] == {"read": 100, "written": 0, "rejected": 100}
    assert manifest["rejected_by_stage"]["read"] == 100
    assert manifest["inputs"] == {"read": 100, "ingested": 0, "rejected": 100}
    rejected = read_rejected(str(tmp_path), "visual_genome_ann").to_pylist()
    assert {r["error_type"] for r in rejected} == {"MissingImageError"}
    by_source = {r["source"]: r["message"] for r in rejected}
    assert (
        by_source["VG_100K_2/1.jpg"] == "image file VG_100K_2/1.jpg or VG_100K/1.jpg does not exist"
    )
    listing = manifest["listing"]
    assert (listing["objects_listed"], listing["relations_listed"], listing["regions_listed"]) == (
        2484,
        2615,
        7278,
    )
    assert manifest["annotation_files"]["objects"] == "objects_samples.json"


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    return make_image_text_corpus(tmp_path_factory.mktemp("vg_sample") / "sample", SMALL)


def test_sample_corpus_round_trip(ray_session, sample, tmp_path):
    folder = sample / "visual_genome"
    config = IngestConfig(out=str(tmp_path), concurrency=2, val_fraction=0.2, test_fraction=0.2)
    manifest = run_image_text_ingest(_vg(folder, image_size=32, image_storage="uint8"), config)
    assert manifest["totals"] == {"read": 25, "written": 25, "rejected": 0}
    corpus = tmp_path / "visual_genome"
    for split, info in manifest["splits"].items():  # split by the hash of the image id
        assert all(split_of_key(k, 0.2, 0.2, config.split_seed) == split for k in info["keys"])
    rows = pa.concat_tables(
        [pq.read_table(corpus / f) for info in manifest["splits"].values() for f in info["files"]]
    ).to_pylist()
    objects = {e["image_id"]: e["objects"] for e in _load(folder, "objects")}
    attributes = {e["image_id"]: e["attributes"] for e in _load(folder, "attributes")}
    relations = {e["image_id"]: e["relationships"] for e in _load(folder, "relationships")}
    regions = {e["id"]: e["regions"] for e in _load(folder, "region_descriptions")}
    for row in rows:
        image_id = row["image_id"]
        assert row["source"] == f"VG_100K/{image_id}.jpg" and row["coco_id"] == image_id
        assert row["object_names"] == [o["names"][0] for o in objects[image_id]]
        assert row["object_synsets"] == [o["synsets"] for o in objects[image_id]]
        assert row["object_attributes"] == [a["attributes"] for a in attributes[image_id]]
        boxes = [[o["x"], o["y"], o["w"], o["h"]] for o in objects[image_id]]
        np.testing.assert_allclose(np.asarray(row["object_boxes"]), np.asarray(boxes) * 0.5)
        names = row["object_names"]
        triples = zip(
            row["relation_subjects"],
            row["relation_predicates"],
            row["relation_objects"],
            strict=True,
        )
        pairs = [(names[s], p, names[o]) for s, p, o in triples]
        assert pairs == [
            (r["subject"]["names"][0], r["predicate"], r["object"]["names"][0])
            for r in relations[image_id]
        ]
        assert row["region_phrases"] == [g["phrase"] for g in regions[image_id]]
    ds = read_split(str(tmp_path), "visual_genome", "train")
    batch = next(iter(ds.iter_batches(batch_size=4, batch_format="numpy")))
    assert batch["image"].shape == (4, 32, 32, 3) and batch["image"].dtype == np.uint8


def test_rejected_object_takes_its_relations_and_bad_phrase_is_dropped(sample, tmp_path):
    folder = tmp_path / "vg"
    shutil.copytree(sample / "visual_genome", folder)
    objects = _load(folder, "objects")
    first = objects[0]["objects"][0]  # of image 1
    first["x"] = 1000  # far outside the 64 x 64 image
    (folder / "objects.json").write_text(json.dumps(objects))
    regions = _load(folder, "region_descriptions")
    regions[0]["regions"][0]["phrase"] = "  "
    (folder / "region_descriptions.json").write_text(json.dumps(regions))
    (folder / "VG_100K_2").mkdir()
    shutil.move(folder / "VG_100K" / "2.jpg", folder / "VG_100K_2" / "2.jpg")

    adapter = ImageTextSource(_vg(folder, image_size=32))
    items, rejected = adapter.list_inputs()
    decoder = adapter.open_decoder()
    image_1 = adapter.decode(items[0], decoder)
    lost = [
        r
        for r in relations_of(folder, 1)
        if first["object_id"] in (r["subject"]["object_id"], r["object"]["object_id"])
    ]
    assert lost  # the sample scene relates every pair of objects on some axis
    reasons = sorted((r["stage"], r["error_type"]) for r in image_1.rejected)
    assert reasons == sorted(
        [("annotations", "EmptyCaptionError"), ("boxes", "BoxOutsideImageError")]
        + [("boxes", "DroppedEndpointError")] * len(lost)
    )
    row = image_1.rows[0]  # row values: the runner converts a row group at a time
    assert first["object_id"] not in row["object_ids"]
    assert len(row["relation_ids"]) == len(relations_of(folder, 1)) - len(lost)
    assert max(row["relation_subjects"] + row["relation_objects"], default=0) < len(
        row["object_ids"]
    )
    assert image_1.read_units == 1 + len(image_1.rejected)
    assert image_1.info["dropped"]["relation_endpoint_dropped"] == len(lost)
    image_2 = adapter.decode(items[1], decoder)  # found in the other image folder
    assert [row["source"] for row in image_2.rows] == ["VG_100K_2/2.jpg"]


def relations_of(folder: Path, image_id: int) -> list:
    return next(e for e in _load(folder, "relationships") if e["image_id"] == image_id)[
        "relationships"
    ]
