"""The synthetic image-text sample corpus: COCO and Visual Genome layouts, captions that are true
of the pictures, geometry of relations, caching and determinism.

A small corpus (40 train + 10 val images at 64 px) is built once per module in about 0.2 s.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np
import pytest
from job_loader import load_job
from PIL import Image

from crossmodal_ray.pipelines.sample_corpus.image_text.captions import (
    RELATION_WORDS,
    make_captions,
)
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    SHAPE_SYNSETS,
    ImageTextSampleConfig,
    make_image_text_corpus,
)
from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    BACKGROUND_KINDS,
    COLOURS,
    SHAPES,
    SceneConfig,
    render_scene,
    sample_scene,
    scene_rng,
)

SMALL = ImageTextSampleConfig(train_images=40, val_images=10, image_size=64)
TINY = ImageTextSampleConfig(train_images=8, val_images=2, image_size=48)
SIZE = SMALL.image_size


def _load(path: Path):
    return json.loads(path.read_text())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    return make_image_text_corpus(tmp_path_factory.mktemp("image_text") / "sample", SMALL)


@pytest.fixture(scope="module")
def coco(corpus) -> dict[str, dict]:
    annotations = corpus / "coco" / "annotations"
    return {p.stem: _load(p) for p in sorted(annotations.glob("*.json"))}


@pytest.fixture(scope="module")
def vg(corpus) -> dict[str, list]:
    folder = corpus / "visual_genome"
    return {p.stem: _load(p) for p in sorted(folder.glob("*.json"))}


def _boxes(vg) -> dict[int, dict]:
    """object_id -> {x, y, w, h, shape, colour, size} from attributes.json."""
    objects = {}
    for entry in vg["attributes"]:
        for obj in entry["attributes"]:
            colour, size = obj["attributes"]
            objects[obj["object_id"]] = {
                **{k: obj[k] for k in "xywh"},
                "shape": obj["names"][0],
                "colour": colour,
                "size": size,
            }
    return objects


def _holds(predicate: str, a: dict, b: dict) -> bool:
    """The relation recomputed from the boxes (strictly apart along the axis)."""
    return {
        "left of": a["x"] + a["w"] < b["x"],
        "right of": b["x"] + b["w"] < a["x"],
        "above": a["y"] + a["h"] < b["y"],
        "below": b["y"] + b["h"] < a["y"],
        "bigger than": a["w"] > b["w"] and a["size"] == "large" and b["size"] == "small",
        "smaller than": a["w"] < b["w"] and a["size"] == "small" and b["size"] == "large",
    }[predicate]


def test_coco_captions_have_five_per_existing_image(coco):
    for split, ids in (("train2017", range(1, 41)), ("val2017", range(41, 51))):
        captions = coco[f"captions_{split}"]
        assert set(captions) == {"info", "licenses", "images", "annotations"}
        images = {image["id"]: image for image in captions["images"]}
        assert sorted(images) == list(ids)
        for image in images.values():
            assert image == {
                "id": image["id"],
                "file_name": f"{image['id']:012d}.jpg",
                "width": SIZE,
                "height": SIZE,
            }
        per_image = {image_id: 0 for image_id in images}
        for annotation in captions["annotations"]:
            assert set(annotation) == {"id", "image_id", "caption"}
            assert annotation["image_id"] in images
            assert isinstance(annotation["caption"], str) and len(annotation["caption"]) > 10
            per_image[annotation["image_id"]] += 1
        assert set(per_image.values()) == {5}
    all_ids = [
        a["id"] for s in ("train2017", "val2017") for a in coco[f"captions_{s}"]["annotations"]
    ]
    assert len(set(all_ids)) == len(all_ids) == 250


def test_coco_instances_boxes_lie_inside_their_images(coco):
    for split in ("train2017", "val2017"):
        instances = coco[f"instances_{split}"]
        assert [c["name"] for c in instances["categories"]] == list(SHAPES)
        assert all(c["supercategory"] == "shape" for c in instances["categories"])
        category_ids = {c["id"] for c in instances["categories"]}
        image_ids = {image["id"] for image in instances["images"]}
        assert image_ids == {image["id"] for image in coco[f"captions_{split}"]["images"]}
        for annotation in instances["annotations"]:
            assert set(annotation) == {
                "id",
                "image_id",
                "category_id",
                "bbox",
                "area",
                "iscrowd",
                "segmentation",
            }
            assert annotation["image_id"] in image_ids
            assert annotation["category_id"] in category_ids
            x, y, w, h = annotation["bbox"]
            assert all(isinstance(v, float) for v in annotation["bbox"])
            assert 0 <= x and 0 <= y and w > 0 and h > 0 and x + w <= SIZE and y + h <= SIZE
            assert annotation["area"] == w * h
            assert annotation["iscrowd"] == 0 and annotation["segmentation"] == []
        per_image = np.bincount([a["image_id"] for a in instances["annotations"]])
        assert per_image[sorted(image_ids)].min() >= SMALL.min_objects
        assert per_image.max() <= SMALL.max_objects


def test_visual_genome_files_agree_with_each_other_and_with_coco(corpus, coco, vg):
    assert set(vg) == {
        "image_data",
        "objects",
        "attributes",
        "relationships",
        "region_descriptions",
    }
    ids = list(range(1, 51))
    assert [e["image_id"] for e in vg["image_data"]] == ids
    for entry in vg["image_data"]:
        assert entry["url"].endswith(f"/VG_100K/{entry['image_id']}.jpg")
        assert entry["coco_id"] == entry["image_id"] and entry["flickr_id"] is None
        assert (entry["width"], entry["height"]) == (SIZE, SIZE)
    assert [e["image_id"] for e in vg["objects"]] == ids
    assert [e["image_id"] for e in vg["attributes"]] == ids
    assert [e["image_id"] for e in vg["relationships"]] == ids
    assert [e["id"] for e in vg["region_descriptions"]] == ids

    objects = {o["object_id"]: o for e in vg["objects"] for o in e["objects"]}
    attributed = _boxes(vg)
    n_instances = sum(len(coco[f"instances_{s}"]["annotations"]) for s in ("train2017", "val2017"))
    assert len(objects) == len(attributed) == n_instances
    for entry_objects, entry_attributes in zip(vg["objects"], vg["attributes"], strict=True):
        assert [o["object_id"] for o in entry_objects["objects"]] == [
            o["object_id"] for o in entry_attributes["attributes"]
        ]
    for obj in objects.values():
        assert obj["names"][0] in SHAPES
        assert obj["synsets"] == [SHAPE_SYNSETS[obj["names"][0]]]
        assert attributed[obj["object_id"]]["colour"] in COLOURS
        assert attributed[obj["object_id"]]["size"] in ("small", "large")

    relations = [r for e in vg["relationships"] for r in e["relationships"]]
    assert len({r["relationship_id"] for r in relations}) == len(relations) > 50
    for entry in vg["relationships"]:
        own = {o["object_id"] for o in vg["objects"][entry["image_id"] - 1]["objects"]}
        for relation in entry["relationships"]:
            for role in ("subject", "object"):
                ref = relation[role]
                assert ref["object_id"] in own
                assert {k: ref[k] for k in ("x", "y", "w", "h", "names")} == {
                    k: objects[ref["object_id"]][k] for k in ("x", "y", "w", "h", "names")
                }
    meta = _load(corpus / "_corpus.json")
    assert meta["images"] == {"train": 40, "val": 10}
    assert meta["objects"] == n_instances and meta["relations"] == len(relations)
    assert meta["captions"] == 250

    regions = [r for e in vg["region_descriptions"] for r in e["regions"]]
    assert len(regions) == n_instances + len(relations) == meta["regions"]
    for region in regions:
        assert set(region) == {"region_id", "image_id", "phrase", "x", "y", "width", "height"}
        assert region["x"] + region["width"] <= SIZE and region["y"] + region["height"] <= SIZE


def test_relations_are_geometrically_right(vg):
    objects = _boxes(vg)
    seen = set()
    for entry in vg["relationships"]:
        pairs = set()
        for relation in entry["relationships"]:
            a = objects[relation["subject"]["object_id"]]
            b = objects[relation["object"]["object_id"]]
            assert _holds(relation["predicate"], a, b), relation
            seen.add(relation["predicate"])
            pair = frozenset((relation["subject"]["object_id"], relation["object"]["object_id"]))
            axis = relation["predicate"].split()[0]
            axis = {"right": "left", "below": "above", "smaller": "bigger"}.get(axis, axis)
            assert (pair, axis) not in pairs  # one direction per pair and axis
            pairs.add((pair, axis))
    assert seen == set(RELATION_WORDS)


def test_captions_are_true_of_their_image(coco, vg):
    objects = _boxes(vg)
    by_image: dict[int, list[dict]] = {}
    for entry in vg["attributes"]:
        by_image[entry["image_id"]] = [objects[o["object_id"]] for o in entry["attributes"]]
    words = "|".join(sorted((w for ws in RELATION_WORDS.values() for w in ws), key=len)[::-1])
    thing = rf"(?:small |large )?({'|'.join(COLOURS)}) ({'|'.join(SHAPES)})"
    relation_pattern = re.compile(rf"{thing} (?:is )?({words}) (?:a |an |the ){thing}")
    inverse = {w: p for p, ws in RELATION_WORDS.items() for w in ws}
    n_relation_captions = 0
    for split in ("train2017", "val2017"):
        for annotation in coco[f"captions_{split}"]["annotations"]:
            caption, scene = annotation["caption"], by_image[annotation["image_id"]]
            present = {(o["colour"], o["shape"]) for o in scene}
            for colour, shape in re.findall(thing, caption):
                assert (colour, shape) in present, caption
            match = relation_pattern.search(caption)
            if match:
                n_relation_captions += 1
                c1, s1, said, c2, s2 = match.groups()
                a = next(o for o in scene if (o["colour"], o["shape"]) == (c1, s1))
                b = next(o for o in scene if (o["colour"], o["shape"]) == (c2, s2))
                assert _holds(inverse[said], a, b), caption
    assert n_relation_captions >= 50  # at least one per image that has a relation


def test_images_are_rgb_jpegs_that_show_their_objects(corpus, vg):
    objects = _boxes(vg)
    for entry in vg["attributes"]:
        image_id = entry["image_id"]
        split = "train2017" if image_id <= 40 else "val2017"
        coco_path = corpus / "coco" / split / f"{image_id:012d}.jpg"
        vg_path = corpus / "visual_genome" / "VG_100K" / f"{image_id}.jpg"
        assert coco_path.read_bytes() == vg_path.read_bytes()
        with Image.open(coco_path) as image:
            assert image.format == "JPEG" and image.mode == "RGB"
            assert image.size == (SIZE, SIZE)
            pixels = np.asarray(image, dtype=np.float64)
        for obj in entry["attributes"]:
            o = objects[obj["object_id"]]
            # Every shape covers the centre of its box: the colour there is the named colour.
            cx, cy = o["x"] + o["w"] // 2, o["y"] + o["h"] // 2
            seen = pixels[cy - 1 : cy + 2, cx - 1 : cx + 2].mean(axis=(0, 1))
            assert np.abs(seen - COLOURS[o["colour"]]).max() < 40, (image_id, o)
    n_files = len(list((corpus / "coco" / "train2017").iterdir()))
    assert n_files == 40 and len(list((corpus / "coco" / "val2017").iterdir())) == 10


def _mtimes(root: Path) -> dict[str, float]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def _json_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.json"))}


def test_corpus_is_cached_deterministic_and_refuses_foreign_folders(tmp_path):
    first = make_image_text_corpus(tmp_path / "a", TINY)
    before = _mtimes(first)
    started = time.perf_counter()
    assert make_image_text_corpus(tmp_path / "a", TINY) == first
    assert time.perf_counter() - started < 0.5
    assert _mtimes(first) == before  # nothing rewritten

    twin = make_image_text_corpus(tmp_path / "b", TINY)
    assert _json_bytes(first) == _json_bytes(twin)
    assert len(_json_bytes(first)) == 10  # 4 COCO + 5 VG + _corpus.json
    jpeg = "visual_genome/VG_100K/3.jpg"
    assert (first / jpeg).read_bytes() == (twin / jpeg).read_bytes()

    other = make_image_text_corpus(
        tmp_path / "c", ImageTextSampleConfig(**{**TINY.__dict__, "seed": 1})
    )
    captions = "coco/annotations/captions_train2017.json"

    def texts(root: Path) -> list[str]:
        return [a["caption"] for a in _load(root / captions)["annotations"]]

    assert texts(first) != texts(other)
    assert (first / jpeg).read_bytes() != (other / jpeg).read_bytes()

    bigger = ImageTextSampleConfig(**{**TINY.__dict__, "train_images": 9})
    make_image_text_corpus(tmp_path / "a", bigger)  # another config: rebuilt in place
    assert _load(first / "_corpus.json")["config"]["train_images"] == 9
    assert (first / "coco" / "train2017" / "000000000009.jpg").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders

    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("not a corpus")
    with pytest.raises(FileExistsError):
        make_image_text_corpus(foreign, TINY)
    assert sorted(p.name for p in foreign.iterdir()) == ["keep.txt"]


def test_defaults_are_the_demo_corpus():
    config = ImageTextSampleConfig()
    assert (config.train_images, config.val_images) == (2000, 300)
    assert (config.image_size, config.seed, config.max_objects) == (128, 0, 4)
    assert config.captions_per_image == 5 and config.jpeg_quality == 90
    assert SceneConfig() == SceneConfig(image_size=128, min_objects=2, max_objects=4, seed=0)
    assert config.scene_config() == SceneConfig()
    with pytest.raises(ValueError):
        ImageTextSampleConfig(min_objects=5, max_objects=3)


def test_scenes_vary_and_keep_objects_apart():
    config = SceneConfig(image_size=96, min_objects=2, max_objects=5)
    shapes, colours, kinds, sides = set(), set(), set(), set()
    for index in range(300):
        rng = scene_rng(config, index)
        scene = sample_scene(config, rng)
        assert config.min_objects <= len(scene.objects) <= config.max_objects
        assert len({(o.shape, o.colour) for o in scene.objects}) == len(scene.objects)
        for i, a in enumerate(scene.objects):
            for b in scene.objects[i + 1 :]:
                assert (
                    a.x + a.w < b.x or b.x + b.w < a.x or a.y + a.h < b.y or b.y + b.h < a.y
                )  # boxes never touch
        shapes.update(o.shape for o in scene.objects)
        colours.update(o.colour for o in scene.objects)
        sides.update((o.size, o.w) for o in scene.objects)
        kinds.add(scene.background.kind)
        captions = make_captions(scene, rng)
        assert len(set(captions)) == 5
    assert len(shapes) >= 4 and len(colours) >= 6 and kinds == set(BACKGROUND_KINDS)
    small, large = dict(sides)["small"], dict(sides)["large"]
    assert len(sides) == 2 and large >= 1.6 * small
    again = render_scene(sample_scene(config, scene_rng(config, 7)))
    assert again.tobytes() == render_scene(sample_scene(config, scene_rng(config, 7))).tobytes()


def test_make_image_text_corpus_job_prints_summary(tmp_path, capsys):
    job = load_job("make_image_text_corpus")
    out = tmp_path / "job"
    argv = ["--out", str(out), "--train-images", "6", "--val-images", "2", "--image-size", "48"]
    summary = job.main(argv)
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1]) == summary
    assert lines[:-1] and all(line.startswith("[sample] ") for line in lines[:-1])
    assert summary["images"] == {"train": 6, "val": 2} and summary["captions"] == 40
    assert summary["cached"] is False and summary["objects"] >= 16
    assert job.main(argv)["cached"] is True
