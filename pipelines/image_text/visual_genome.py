"""Visual Genome v1.4 -> one row per image: objects (name, synsets, attributes, box), relations
(subject index, predicate, object index into the row's objects) and region phrases with boxes.

Layout (``<root>`` is the folder given as ``--source``; each ``<name>.json`` may also be named
``<name>_samples.json``, as in ``shared/data/visual_genome_ann``)::

    <root>/image_data.json            images: id, width, height, url, coco_id (required)
    <root>/objects.json               v1.4's cleaned objects, per image
    <root>/relationships.json         relationships; subject/object are object records
    <root>/attributes.json            objects with their attributes (v1.2 object ids)
    <root>/region_descriptions.json   region phrases with boxes
    <root>/VG_100K/<image_id>.jpg, <root>/VG_100K_2/<image_id>.jpg   (the url names which)

Object list of a row: the image's objects of ``objects.json``, then every relation endpoint that
is none of them (by ``object_id`` or one of its ``merged_object_ids``), added from the
relationship's own object record: in v1.4 a fifth of the endpoints are not in ``objects.json``
(on ids 1-100: 1,047 of the 5,230 endpoints of 2,615 relations, 584 distinct objects).
Relation indices point into that list.
Attributes join onto it by object id (or a merged id); an attribute record matching no object
is counted (``attribute_records_unmatched``), not rejected: v1.4 kept v1.2's attribute file,
whose object ids the cleaning merged away.

Splits: VG has none; the runner hashes the image id (the group key). With
``--coco-split-annotations`` (``coco_splits.py``) an image whose ``coco_id`` is a COCO train
image goes to train, a COCO val image to val or test (half each), so that a stage 1 trained on
COCO train never meets its images in VG's val/test; the others are hashed. Listing
(:func:`list_visual_genome`) streams each file (``json_files.iter_json_array``) and keeps a
compact payload per image; a malformed file is rejected whole (one ``list`` row) and the rows
go on without what it held; an entry naming an image that ``image_data.json`` lacks is
rejected. Decoding (actor, :func:`visual_genome_values`): empty or non-UTF-8 region phrases
dropped, the image rejected when it has neither object nor phrase; read, decode; each object
and region box checked, and a relation whose subject or object was dropped dropped with it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from crossmodal_ray.pipelines.core.source import InputItem
from crossmodal_ray.pipelines.image_text.boxes import BoxFrame, parse_box
from crossmodal_ray.pipelines.image_text.coco_splits import aligned_split
from crossmodal_ray.pipelines.image_text.errors import (
    DroppedEndpointError,
    MalformedAnnotationError,
    NoCaptionError,
    UnknownImageError,
)
from crossmodal_ray.pipelines.image_text.json_files import iter_json_array
from crossmodal_ray.pipelines.image_text.listing import Listing
from crossmodal_ray.pipelines.image_text.rows import Dropped, clean_text, label_text, map_box

ANNOTATION_FILES = ("image_data", "objects", "relationships", "attributes", "region_descriptions")
IMAGE_FOLDERS = ("VG_100K", "VG_100K_2")
# Estimated annotation bytes of a row per object, relation and region (for sizing shard tasks).
OBJECT_BYTES, RELATION_BYTES, REGION_BYTES = 96, 48, 96

Reject = Callable[[BaseException], None]
# The row columns a Visual Genome image's annotations fill (``schema.visual_genome_schema``).
ANNOTATION_COLUMNS = tuple(
    f"{kind}_{column}"
    for kind, columns in (
        ("object", ("ids", "names", "synsets", "attributes", "boxes", "boxes_original")),
        ("relation", ("ids", "subjects", "predicates", "synsets", "objects")),
        ("region", ("ids", "phrases", "boxes", "boxes_original")),
    )
    for column in columns
)


def find_annotation_file(root: Path, name: str) -> Path | None:
    """``<name>.json``, else ``<name>_samples.json``, else None."""
    for candidate in (f"{name}.json", f"{name}_samples.json"):
        if (root / candidate).is_file():
            return root / candidate
    return None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _labels(values: Any) -> list[str]:
    if not isinstance(values, list):
        return []
    return [t for t in (label_text(v) for v in values if isinstance(v, str)) if t]


def compact_object(record: dict) -> list:
    """``[object_id, name, synsets, box, merged_ids]`` of an object record (``names[0]`` or
    ``name``; box None unless x, y, w, h are four finite numbers)."""
    names = record.get("names")
    name = names[0] if isinstance(names, list) and names else record.get("name", "")
    box = parse_box([record.get(k) for k in ("x", "y", "w", "h")])
    merged = [m for m in record.get("merged_object_ids") or [] if _int(m) is not None]
    synsets = _labels(record.get("synsets"))
    return [_int(record.get("object_id")), label_text(name), synsets, box, merged]


def image_files(image_id: int, url: Any) -> list[str]:
    """Candidate image paths: the url's folder first (``.../VG_100K_2/1.jpg``), then the other."""
    folders = list(IMAGE_FOLDERS)
    if isinstance(url, str) and "/" in url:
        named = url.rstrip("/").split("/")[-2]
        if named in folders:
            folders.remove(named)
            folders.insert(0, named)
    return [f"{folder}/{image_id}.jpg" for folder in folders]


def parse_image_data(entries, rel: str, listing: Listing) -> dict[int, dict]:
    """Image id -> payload skeleton (size, coco id, candidate files), from ``image_data``."""
    payloads: dict[int, dict] = {}
    for k, entry in enumerate(entries):
        image_id = _int(entry.get("image_id", entry.get("id"))) if isinstance(entry, dict) else None
        if image_id is None:
            listing.reject(rel, MalformedAnnotationError(f"{rel}: [{k}] has no integer image_id"))
            continue
        if image_id in payloads:
            listing.reject(rel, MalformedAnnotationError(f"{rel}: image id {image_id} twice"))
            continue
        width, height = _int(entry.get("width")), _int(entry.get("height"))
        payloads[image_id] = {
            "image_id": image_id,
            "coco_id": _int(entry.get("coco_id")),
            "size": [width, height] if width and height else None,
            "files": image_files(image_id, entry.get("url")),
            "objects": [],  # [object_id, name, synsets, attributes, box]
            "relations": [],  # [relationship_id, subject index, predicate, synsets, object index]
            "regions": [],  # [region_id, phrase, box]
        }
    return payloads


def _objects_of(entry: dict, rel: str, reject: Reject) -> list:
    return [compact_object(o) for o in entry.get("objects") or [] if isinstance(o, dict)]


def _relations_of(entry: dict, rel: str, reject: Reject) -> list:
    out = []
    for r in entry.get("relationships") or []:
        relation_id = _int(r.get("relationship_id")) if isinstance(r, dict) else None
        ends = [r.get(k) for k in ("subject", "object")] if isinstance(r, dict) else []
        if not all(isinstance(end, dict) for end in ends) or not ends:
            message = f"{rel}: relationship {relation_id} lacks its subject or object"
            reject(MalformedAnnotationError(message))
            continue
        relation_id = -1 if relation_id is None else relation_id
        subject, obj = (compact_object(end) for end in ends)
        predicate, synsets = label_text(r.get("predicate")), _labels(r.get("synsets"))
        out.append([relation_id, subject, predicate, synsets, obj])
    return out


def _attributes_of(entry: dict, rel: str, reject: Reject) -> list:
    out = []
    for a in entry.get("attributes") or []:
        if isinstance(a, dict) and _labels(a.get("attributes")):
            merged = [m for m in a.get("merged_object_ids") or [] if _int(m) is not None]
            out.append([_int(a.get("object_id")), merged, _labels(a.get("attributes"))])
    return out


def _regions_of(entry: dict, rel: str, reject: Reject) -> list:
    out = []
    for g in entry.get("regions") or []:
        if not isinstance(g, dict):
            continue
        box = parse_box([g.get(k) for k in ("x", "y", "width", "height")])
        phrase = g.get("phrase")
        region_id = _int(g.get("region_id"))
        out.append(
            [-1 if region_id is None else region_id, phrase if isinstance(phrase, str) else "", box]
        )
    return out


PARSERS = {
    "objects": _objects_of,
    "relationships": _relations_of,
    "attributes": _attributes_of,
    "region_descriptions": _regions_of,
}


def stream_per_image(
    path: Path, rel: str, known: dict[int, dict], parse, listing: Listing
) -> dict[int, list] | None:
    """Image id -> compact records of one annotation file, or None when the file is rejected
    (then nothing of it is kept, not even its entries' rejections: the file is one row)."""
    per_image: dict[int, list] = {}
    rejected = Listing()
    try:
        for k, entry in enumerate(iter_json_array(path, rel)):
            image_id = (
                _int(entry.get("image_id", entry.get("id"))) if isinstance(entry, dict) else None
            )
            if image_id not in known:
                shown = entry.get("image_id", entry.get("id")) if isinstance(entry, dict) else None
                message = f"{rel}: [{k}] is for image id {shown!r}, not in image_data"
                rejected.reject(rel, UnknownImageError(message))
                continue
            records = parse(entry, rel, lambda exc: rejected.reject(rel, exc))
            per_image.setdefault(image_id, []).extend(records)
    except MalformedAnnotationError as exc:
        listing.reject(rel, exc)
        listing.warnings.append(f"{rel} rejected: rows carry nothing from it")
        return None
    listing.rejected.extend(rejected.rejected)
    return per_image


class _ObjectIndex:
    """One image's object list and its object id (and merged id) -> index map."""

    def __init__(self, payload: dict) -> None:
        self.objects = payload["objects"]
        self.index: dict[int, int] = {}

    def add(self, record: list) -> int:
        object_id, name, synsets, box, merged = record
        self.objects.append([-1 if object_id is None else object_id, name, synsets, [], box])
        position = len(self.objects) - 1
        for key in (object_id, *merged):
            if key is not None:
                self.index.setdefault(key, position)
        return position

    def find(self, object_id: int | None, merged: list[int]) -> int | None:
        for key in (object_id, *merged):
            if key is not None and key in self.index:
                return self.index[key]
        return None


def join_annotations(payloads: dict[int, dict], files: dict[str, dict | None]) -> Counter:
    """Fold each file's per-image records into the payloads (objects, then relation endpoints
    not among them, attributes, regions); returns the join counts."""
    counts: Counter = Counter()
    indices = {image_id: _ObjectIndex(p) for image_id, p in payloads.items()}
    for image_id, records in (files.get("objects") or {}).items():
        for record in records:
            indices[image_id].add(record)
        counts["objects_listed"] += len(records)
    for image_id, records in (files.get("relationships") or {}).items():
        index = indices[image_id]
        for relation_id, subject, predicate, synsets, obj in records:
            ends = []
            for record in (subject, obj):
                position = index.find(record[0], record[4])
                if position is None:
                    position = index.add(record)
                    counts["relation_endpoints_added"] += 1
                ends.append(position)
            payloads[image_id]["relations"].append(
                [relation_id, ends[0], predicate, synsets, ends[1]]
            )
        counts["relations_listed"] += len(records)
    for image_id, records in (files.get("attributes") or {}).items():
        index = indices[image_id]
        for object_id, merged, attributes in records:
            position = index.find(object_id, merged)
            if position is None:
                counts["attribute_records_unmatched"] += 1
                continue
            known = index.objects[position][3]
            known.extend(a for a in attributes if a not in known)
    for image_id, records in (files.get("region_descriptions") or {}).items():
        payloads[image_id]["regions"].extend(records)
        counts["regions_listed"] += len(records)
    return counts


def list_visual_genome(
    root: Path, image_bytes: int, coco_splits: dict[int, str] | None = None
) -> Listing:
    """Every image of ``image_data`` with its parsed annotations, by image id; ``image_bytes``
    is the estimated bytes of one stored image. With ``coco_splits`` (COCO image id -> COCO
    split, :func:`~.coco_splits.read_coco_image_splits`), an image whose ``coco_id`` it holds
    gets its COCO-aligned split (:func:`~.coco_splits.aligned_split`); the info counts them.

    Raises:
        FileNotFoundError: no ``image_data.json`` (nor ``image_data_samples.json``).
    """
    listing = Listing()
    paths = {name: find_annotation_file(root, name) for name in ANNOTATION_FILES}
    listing.files = {name: path.name if path else None for name, path in paths.items()}
    if paths["image_data"] is None:
        raise FileNotFoundError(f"no image_data.json (or image_data_samples.json) under {root}")
    rel = paths["image_data"].name
    try:
        payloads = parse_image_data(iter_json_array(paths["image_data"], rel), rel, listing)
    except MalformedAnnotationError as exc:
        listing.reject(rel, exc)
        listing.warnings.append(f"{rel} rejected: no image is listed")
        return listing
    per_file: dict[str, dict | None] = {}
    for name, parse in PARSERS.items():
        if paths[name] is None:
            listing.warnings.append(f"no {name}.json: rows carry none of its annotations")
            continue
        per_file[name] = stream_per_image(paths[name], paths[name].name, payloads, parse, listing)
    counts = join_annotations(payloads, per_file)
    aligned: Counter = Counter()
    for image_id in sorted(payloads):
        p = payloads[image_id]
        split = None
        if coco_splits is not None and p["coco_id"] in coco_splits:
            split = aligned_split(coco_splits[p["coco_id"]], image_id)
            aligned[split] += 1
        annotation_bytes = (
            OBJECT_BYTES * len(p["objects"])
            + RELATION_BYTES * len(p["relations"])
            + REGION_BYTES * len(p["regions"])
        )
        listing.items.append(
            InputItem(
                source=p["files"][0],
                group_key=str(image_id),
                split=split,
                size_bytes=image_bytes + annotation_bytes,
                payload=p,
            )
        )
    listing.info = {"listed_images": len(listing.items), **counts}
    if coco_splits is not None:
        listing.info["coco_aligned_images"] = {
            name: aligned[name] for name in ("train", "val", "test")
        }
        if not aligned:
            listing.warnings.append(
                "coco split annotations: no image's coco_id is a listed COCO image; "
                "every image is split by the hash of its id"
            )
    return listing


def visual_genome_regions(payload: dict, dropped: Dropped) -> list[list]:
    """The regions whose phrase is usable (whitespace collapsed).

    Raises:
        NoCaptionError: the image has no object and no usable region phrase.
    """
    regions = []
    for region_id, phrase, box in payload["regions"]:
        cleaned = clean_text(phrase, "region", f"region {region_id} phrase", dropped)
        if cleaned is not None:
            regions.append([region_id, cleaned, box])
    if not regions and not payload["objects"]:
        reasons = "; ".join(row["message"] for row in dropped.rows)
        raise NoCaptionError(
            "no object and no usable region description" + (f": {reasons}" if reasons else "")
        )
    return regions


def visual_genome_values(
    payload: dict, regions: list[list], frame: BoxFrame, dropped: Dropped
) -> dict[str, Any]:
    """The object, relation and region columns of one image's row; rejected boxes become
    dropped parts, and so does a relation that lost its subject or object."""
    v: dict[str, list] = {name: [] for name in ANNOTATION_COLUMNS}
    kept: dict[int, int] = {}  # payload object index -> row object index
    for position, (object_id, name, synsets, attributes, box) in enumerate(payload["objects"]):
        out = map_box(frame, box, "object_box", f"object {object_id} ({name})", dropped)
        if out is None:
            continue
        kept[position] = len(v["object_ids"])
        v["object_ids"].append(object_id)
        v["object_names"].append(name)
        v["object_synsets"].append(synsets)
        v["object_attributes"].append(attributes)
        v["object_boxes"].append(out)
        v["object_boxes_original"].append(box)
    for relation_id, subject, predicate, synsets, obj in payload["relations"]:
        if subject not in kept or obj not in kept:
            role = "subject" if subject not in kept else "object"
            lost = payload["objects"][subject if role == "subject" else obj][0]
            message = (
                f"relation {relation_id} ({predicate}): its {role}, object {lost}, was rejected"
            )
            dropped.add("boxes", "relation_endpoint_dropped", DroppedEndpointError(message))
            continue
        v["relation_ids"].append(relation_id)
        v["relation_subjects"].append(kept[subject])
        v["relation_predicates"].append(predicate)
        v["relation_synsets"].append(synsets)
        v["relation_objects"].append(kept[obj])
    for region_id, phrase, box in regions:
        out = map_box(frame, box, "region_box", f"region {region_id} ({phrase[:40]!r})", dropped)
        if out is None:
            continue
        v["region_ids"].append(region_id)
        v["region_phrases"].append(phrase)
        v["region_boxes"].append(out)
        v["region_boxes_original"].append(box)
    return v
