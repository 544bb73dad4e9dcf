"""Write the synthetic image-text sample corpus in the COCO and Visual Genome v1.4 layouts.

The same rendered scenes (JPEG, quality 90) are written twice, once per layout, with the same
ids (VG ``image_id`` == COCO ``id`` == VG ``coco_id``)::

    <out>/coco/annotations/captions_{train,val}2017.json    images, 5 captions per image
    <out>/coco/annotations/instances_{train,val}2017.json   images, boxes, categories (shapes)
    <out>/coco/{train,val}2017/000000000001.jpg             12-digit zero-padded COCO ids
    <out>/visual_genome/image_data.json                     every image (VG has no splits)
    <out>/visual_genome/objects.json                        names + synsets per object
    <out>/visual_genome/attributes.json                     the same objects + ["red", "small"]
    <out>/visual_genome/relationships.json                  "left of", "above", "bigger than"...
    <out>/visual_genome/region_descriptions.json            object and relation phrases
    <out>/visual_genome/VG_100K/1.jpg
    <out>/_corpus.json                                      config + counts, written last

Train images have ids ``1..train_images``, validation images the ids after them. Scene ``i`` is
drawn from ``numpy.random.default_rng([seed, i])``, so the corpus is a pure function of the
config: the same config gives byte-identical files. The corpus is built in a sibling temporary
folder and renamed into place; ``_corpus.json`` with the same config means "already built".
Default corpus (2,000 + 300 images at 128 px): about 11 s on one busy core (no process pool
needed), 40 MB with both layouts.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

from crossmodal_ray.pipelines.sample_corpus.image_text.captions import (
    make_captions,
    region_descriptions,
)
from crossmodal_ray.pipelines.sample_corpus.image_text.scenes import (
    SHAPES,
    Scene,
    SceneConfig,
    SceneObject,
    render_scene,
    sample_scene,
    scene_rng,
)
from crossmodal_ray.pipelines.sample_corpus.publish import (
    config_as_json,
    marker_matches,
    publish_corpus,
)

SAMPLE_IMAGE_TEXT_DIR = "data/raw/image_text_sample"
CORPUS_FORMAT_VERSION = 1
CORPUS_MANIFEST = "_corpus.json"
COCO_SPLITS = {"train": "train2017", "val": "val2017"}
# Visual Genome image urls end in VG_100K/<id>.jpg; readers take the file name and look in
# <out>/visual_genome/VG_100K/. The .invalid host (RFC 2606) can never be fetched.
VG_URL_PREFIX = "https://sample.invalid/VG_100K/"
SHAPE_SYNSETS = {
    "circle": "circle.n.01",
    "square": "square.n.01",
    "triangle": "triangle.n.01",
    "star": "star.n.03",
    "diamond": "rhombus.n.01",
    "cross": "cross.n.01",
}
PREDICATE_SYNSETS = {
    "left of": "left.r.01",
    "right of": "right.r.01",
    "above": "above.r.01",
    "below": "below.r.01",
    "bigger than": "big.a.01",
    "smaller than": "small.a.01",
}
COCO_INFO = {
    "description": "crossmodal_ray synthetic shapes sample corpus (COCO 2017 layout)",
    "version": "1.0",
    "contributor": "crossmodal_ray.pipelines.sample_corpus.image_text",
}
PROGRESS_EVERY = 500

Progress = Callable[[str, int, int, float], None]


@dataclass(frozen=True)
class ImageTextSampleConfig:
    """Size and content of the sample corpus.

    Attributes:
        train_images: images in the COCO train2017 split.
        val_images: images in the COCO val2017 split.
        image_size: side of the square images in pixels.
        seed: base seed; image ``i`` is drawn from ``default_rng([seed, i])``.
        min_objects: fewest shapes per image.
        max_objects: most shapes per image.
        captions_per_image: COCO captions per image (at most 5).
        jpeg_quality: JPEG quality of the written images.
    """

    train_images: int = 2000
    val_images: int = 300
    image_size: int = 128
    seed: int = 0
    min_objects: int = 2
    max_objects: int = 4
    captions_per_image: int = 5
    jpeg_quality: int = 90

    def __post_init__(self) -> None:
        if self.train_images < 1 or self.val_images < 0:
            raise ValueError("need train_images >= 1 and val_images >= 0")
        if not 1 <= self.captions_per_image <= 5:
            raise ValueError(f"captions_per_image must be 1..5, got {self.captions_per_image}")
        self.scene_config()  # validates image_size and the object counts

    def scene_config(self) -> SceneConfig:
        """The per-scene part of the config."""
        return SceneConfig(
            image_size=self.image_size,
            min_objects=self.min_objects,
            max_objects=self.max_objects,
            seed=self.seed,
        )

    def split_ids(self) -> dict[str, range]:
        """COCO image ids of each split: train ``1..train_images``, then val."""
        train_end = self.train_images + 1
        return {"train": range(1, train_end), "val": range(train_end, train_end + self.val_images)}


@dataclass(frozen=True)
class SampleImage:
    """One image of the corpus: its scene, captions and JPEG bytes."""

    image_id: int
    split: str
    scene: Scene
    captions: list[str]
    jpeg: bytes


def coco_file_name(image_id: int) -> str:
    """``000000000042.jpg``: COCO 2017 names images by their 12-digit zero-padded id."""
    return f"{image_id:012d}.jpg"


def make_sample_image(config: ImageTextSampleConfig, image_id: int, split: str) -> SampleImage:
    """Sample, describe and encode image ``image_id`` (a pure function of config and id)."""
    scene_config = config.scene_config()
    rng = scene_rng(scene_config, image_id)
    scene = sample_scene(scene_config, rng)
    captions = make_captions(scene, rng, config.captions_per_image)
    buffer = BytesIO()
    render_scene(scene).save(buffer, format="JPEG", quality=config.jpeg_quality)
    return SampleImage(image_id, split, scene, captions, buffer.getvalue())


def is_cached_corpus(out_dir: str | Path, config: ImageTextSampleConfig) -> bool:
    """True when ``out_dir`` holds a finished corpus generated with exactly ``config``."""
    return marker_matches(out_dir, CORPUS_MANIFEST, CORPUS_FORMAT_VERSION, config)


def _coco_image(image: SampleImage) -> dict:
    size = image.scene.image_size
    return {
        "id": image.image_id,
        "file_name": coco_file_name(image.image_id),
        "width": size,
        "height": size,
    }


def coco_categories() -> list[dict]:
    """One COCO category per shape, ids from 1."""
    return [{"id": i + 1, "name": s, "supercategory": "shape"} for i, s in enumerate(SHAPES)]


def coco_captions_json(images: list[SampleImage], first_id: int) -> dict:
    """``captions_<split>2017.json``; caption ids count up from ``first_id``."""
    annotations = []
    for image in images:
        for caption in image.captions:
            annotations.append(
                {"id": first_id + len(annotations), "image_id": image.image_id, "caption": caption}
            )
    return {
        "info": COCO_INFO,
        "licenses": [],
        "images": [_coco_image(image) for image in images],
        "annotations": annotations,
    }


def coco_instances_json(images: list[SampleImage], first_id: int) -> dict:
    """``instances_<split>2017.json``: one box per object; ids count up from ``first_id``."""
    category_ids = {c["name"]: c["id"] for c in coco_categories()}
    annotations = []
    for image in images:
        for obj in image.scene.objects:
            annotations.append(
                {
                    "id": first_id + len(annotations),
                    "image_id": image.image_id,
                    "category_id": category_ids[obj.shape],
                    "bbox": [float(v) for v in obj.box],
                    "area": float(obj.w * obj.h),
                    "iscrowd": 0,
                    "segmentation": [],
                }
            )
    return {
        "info": COCO_INFO,
        "licenses": [],
        "images": [_coco_image(image) for image in images],
        "annotations": annotations,
        "categories": coco_categories(),
    }


def _vg_object(obj: SceneObject, object_id: int) -> dict:
    x, y, w, h = obj.box
    return {
        "object_id": object_id,
        "x": x,
        "y": y,
        "w": w,
        "h": h,
        "names": [obj.shape],
        "synsets": [SHAPE_SYNSETS[obj.shape]],
        "merged_object_ids": [],
    }


def visual_genome_json(images: list[SampleImage]) -> dict[str, list[dict]]:
    """The five Visual Genome v1.4 files (name -> content); object, relationship and region ids
    are unique across the corpus, as in VG."""
    files: dict[str, list[dict]] = {
        "image_data.json": [],
        "objects.json": [],
        "attributes.json": [],
        "relationships.json": [],
        "region_descriptions.json": [],
    }
    next_object = next_relation = next_region = 1
    for image in images:
        scene, image_id = image.scene, image.image_id
        files["image_data.json"].append(
            {
                "image_id": image_id,
                "url": f"{VG_URL_PREFIX}{image_id}.jpg",
                "width": scene.image_size,
                "height": scene.image_size,
                "coco_id": image_id,
                "flickr_id": None,
            }
        )
        objects = [_vg_object(obj, next_object + k) for k, obj in enumerate(scene.objects)]
        next_object += len(objects)
        files["objects.json"].append({"image_id": image_id, "objects": objects})
        attributed = [
            {**vg, "attributes": [obj.colour, obj.size]}
            for vg, obj in zip(objects, scene.objects, strict=True)
        ]
        files["attributes.json"].append({"image_id": image_id, "attributes": attributed})
        relationships = []
        for relation in scene.relations:
            relationships.append(
                {
                    "relationship_id": next_relation,
                    "predicate": relation.predicate,
                    "synsets": [PREDICATE_SYNSETS[relation.predicate]],
                    "subject": objects[relation.subject],
                    "object": objects[relation.object],
                }
            )
            next_relation += 1
        files["relationships.json"].append({"image_id": image_id, "relationships": relationships})
        regions = []
        for phrase, (x, y, w, h) in region_descriptions(scene):
            regions.append(
                {
                    "region_id": next_region,
                    "image_id": image_id,
                    "phrase": phrase,
                    "x": x,
                    "y": y,
                    "width": w,
                    "height": h,
                }
            )
            next_region += 1
        files["region_descriptions.json"].append({"id": image_id, "regions": regions})
    return files


def _write_json(path: Path, content: object) -> None:
    # Compact, like the released COCO / VG files; key order is fixed by the code: same bytes.
    path.write_text(json.dumps(content, separators=(",", ":")))


def _write_corpus(root: Path, config: ImageTextSampleConfig, progress: Progress | None) -> None:
    """Render and write every image, then the annotation files, then ``_corpus.json``."""
    started = time.perf_counter()
    coco, vg = root / "coco", root / "visual_genome"
    (coco / "annotations").mkdir(parents=True)
    (vg / "VG_100K").mkdir(parents=True)
    by_split: dict[str, list[SampleImage]] = {}
    for split, ids in config.split_ids().items():
        image_dir = coco / COCO_SPLITS[split]
        image_dir.mkdir()
        images = by_split.setdefault(split, [])
        for image_id in ids:
            image = make_sample_image(config, image_id, split)
            (image_dir / coco_file_name(image_id)).write_bytes(image.jpeg)
            (vg / "VG_100K" / f"{image_id}.jpg").write_bytes(image.jpeg)
            # Keep what the annotation files need, not the JPEG bytes.
            images.append(dataclasses.replace(image, jpeg=b""))
            done = len(images)
            if progress is not None and (done % PROGRESS_EVERY == 0 or done == len(ids)):
                progress(split, done, len(ids), time.perf_counter() - started)

    n_captions = n_objects = 0
    for split, images in by_split.items():
        name = COCO_SPLITS[split]
        captions = coco_captions_json(images, first_id=n_captions + 1)
        instances = coco_instances_json(images, first_id=n_objects + 1)
        _write_json(coco / "annotations" / f"captions_{name}.json", captions)
        _write_json(coco / "annotations" / f"instances_{name}.json", instances)
        n_captions += len(captions["annotations"])
        n_objects += len(instances["annotations"])
    all_images = [image for images in by_split.values() for image in images]
    vg_files = visual_genome_json(all_images)
    for file_name, content in vg_files.items():
        _write_json(vg / file_name, content)

    meta = {
        "format_version": CORPUS_FORMAT_VERSION,
        "generator": __name__,
        "config": config_as_json(config),
        "images": {split: len(images) for split, images in by_split.items()},
        "captions": n_captions,
        "objects": n_objects,
        "relations": sum(len(e["relationships"]) for e in vg_files["relationships.json"]),
        "regions": sum(len(e["regions"]) for e in vg_files["region_descriptions.json"]),
        "categories": list(SHAPES),
        "coco": "coco",
        "visual_genome": "visual_genome",
    }
    # No timings in here: the whole corpus, this file included, is a function of the config.
    (root / CORPUS_MANIFEST).write_text(json.dumps(meta, indent=2) + "\n")


def read_corpus_summary(out_dir: str | Path) -> dict:
    """The ``_corpus.json`` of a finished corpus (config and counts)."""
    return json.loads((Path(out_dir) / CORPUS_MANIFEST).read_text())


def make_image_text_corpus(
    out_dir: str | Path,
    config: ImageTextSampleConfig | None = None,
    progress: Progress | None = None,
) -> Path:
    """Build the COCO + Visual Genome sample corpus at ``out_dir`` unless it is already there.

    Args:
        out_dir: Corpus folder. An existing corpus with another config is replaced; a non-empty
            folder that is not a corpus is refused.
        config: Corpus config; ``ImageTextSampleConfig()`` (2,000 + 300 images) if None.
        progress: Called every 500 images and at the end of each split with
            (split, images done in the split, images in the split, seconds since the start).

    Returns:
        ``out_dir`` as a Path.

    Raises:
        FileExistsError: ``out_dir`` is a non-empty folder without ``_corpus.json``.
    """
    config = config or ImageTextSampleConfig()
    return publish_corpus(
        Path(out_dir),
        CORPUS_MANIFEST,
        lambda out: is_cached_corpus(out, config),
        lambda tmp: _write_corpus(tmp, config, progress),
    )
