"""COCO 2017 captions (+ instances) -> one row per image with all its captions and boxes.

Layout (``<root>`` is the folder given as ``--source``)::

    <root>/annotations/captions_<split>.json     images + captions (required, one per split)
    <root>/annotations/instances_<split>.json    boxes + categories (optional)
    <root>/<split>/<file_name>                   e.g. train2017/000000493652.jpg

Why one row per image, not one per caption: a contrastive batch treats every other row as a
negative. With a row per caption, two captions of one image could land in one batch and be
pushed apart as if they described different pictures (COCO has five per image, so in a batch of
256 drawn from 118k images such false negatives are rare but certain over an epoch, and a
``group_by`` on the fly cannot rule them out across shards). A row per image holds all its
captions; the training collate samples one caption per image per step, so every caption is seen
over the epochs and a batch never holds the same image twice.

Listing (driver, :func:`list_coco`): the caption files give the images and captions, the
instance files the boxes; the split is COCO's own (``train2017`` -> train, ``val2017`` -> val).
Rejected at the ``list`` stage: a malformed file as a whole (without the captions file there are
no images for that split; without the instances file, rows have no boxes), a caption or box
naming an image id the file's image list lacks, a malformed entry. Decoding (actor,
:func:`coco_values`): empty or non-UTF-8 captions dropped one by one (the image is rejected
when none remains), then the image read and decoded, then each box checked and mapped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crossmodal_ray.pipelines.core.source import InputItem
from crossmodal_ray.pipelines.image_text.boxes import BoxFrame, parse_box
from crossmodal_ray.pipelines.image_text.errors import (
    MalformedAnnotationError,
    NoCaptionError,
    UnknownImageError,
)
from crossmodal_ray.pipelines.image_text.json_files import (
    has_bad_utf8,
    read_json_file,
    repair_text,
)
from crossmodal_ray.pipelines.image_text.listing import Listing
from crossmodal_ray.pipelines.image_text.rows import Dropped, clean_text, label_text, map_box

ANNOTATIONS_DIR = "annotations"
CAPTIONS_PREFIX = "captions_"
INSTANCES_PREFIX = "instances_"
SPLIT_PREFIXES = ("train", "val", "test")
# Estimated annotation bytes of a row per caption and per box (for sizing shard tasks).
CAPTION_BYTES, BOX_BYTES = 64, 48


def coco_split(folder: str) -> str | None:
    """``train2017`` -> ``train``, ``val2014`` -> ``val``; None for another name."""
    return next((name for name in SPLIT_PREFIXES if folder.startswith(name)), None)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _size(entry: dict) -> list[int] | None:
    width, height = _int(entry.get("width")), _int(entry.get("height"))
    return [width, height] if width is not None and height is not None else None


def _sections(content: Any, rel: str, names: tuple[str, ...]) -> list[list]:
    """The file's top-level lists ``names``, or the whole file rejected."""
    if not isinstance(content, dict):
        raise MalformedAnnotationError(f"{rel}: expected a JSON object at the top level")
    missing = [n for n in names if not isinstance(content.get(n), list)]
    if missing:
        raise MalformedAnnotationError(f"{rel}: no {', '.join(map(repr, missing))} list")
    return [content[n] for n in names]


def parse_captions(content: Any, rel: str, folder: str, listing: Listing) -> dict[int, dict]:
    """Image id -> payload (file, size, captions) of one ``captions_<split>.json``.

    Raises:
        MalformedAnnotationError: the file is not a COCO captions file.
    """
    images, annotations = _sections(content, rel, ("images", "annotations"))
    split = coco_split(folder)
    payloads: dict[int, dict] = {}
    for k, entry in enumerate(images):
        image_id = _int(entry.get("id")) if isinstance(entry, dict) else None
        file_name = entry.get("file_name") if isinstance(entry, dict) else None
        if image_id is None or not isinstance(file_name, str) or not file_name:
            message = f"{rel}: images[{k}] has no integer 'id' or no 'file_name'"
            listing.reject(rel, MalformedAnnotationError(message))
            continue
        if image_id in payloads:
            listing.reject(rel, MalformedAnnotationError(f"{rel}: image id {image_id} twice"))
            continue
        if has_bad_utf8(file_name):  # the path would be no valid string in any row
            message = f"{rel}: image {image_id}'s file_name {repair_text(file_name)!r} is not UTF-8"
            listing.reject(rel, MalformedAnnotationError(message))
            continue
        payloads[image_id] = {
            "image_id": image_id,
            "split": split,
            "file": f"{folder}/{file_name}",
            "size": _size(entry),
            "captions": [],
            "boxes": [],
        }
    for k, entry in enumerate(annotations):
        if not isinstance(entry, dict):
            listing.reject(rel, MalformedAnnotationError(f"{rel}: annotations[{k}] not an object"))
            continue
        caption_id = _int(entry.get("id"))
        what = f"caption {caption_id if caption_id is not None else f'annotations[{k}]'}"
        image_id, text = _int(entry.get("image_id")), entry.get("caption")
        if image_id not in payloads:
            message = f"{rel}: {what} names image id {entry.get('image_id')!r}, not in its images"
            listing.reject(rel, UnknownImageError(message))
            continue
        if not isinstance(text, str):
            listing.reject(rel, MalformedAnnotationError(f"{rel}: {what} has no 'caption' text"))
            continue
        payloads[image_id]["captions"].append([-1 if caption_id is None else caption_id, text])
    return payloads


def parse_instances(content: Any, rel: str, payloads: dict[int, dict], listing: Listing) -> int:
    """Add the boxes of one ``instances_<split>.json`` to the payloads; returns their number.

    Raises:
        MalformedAnnotationError: the file is not a COCO instances file.
    """
    annotations, categories = _sections(content, rel, ("annotations", "categories"))
    names = {
        _int(c.get("id")): label_text(c.get("name"))
        for c in categories
        if isinstance(c, dict) and _int(c.get("id")) is not None
    }
    added = 0
    for k, entry in enumerate(annotations):
        if not isinstance(entry, dict):
            listing.reject(rel, MalformedAnnotationError(f"{rel}: annotations[{k}] not an object"))
            continue
        box_id = _int(entry.get("id"))
        what = f"box {box_id if box_id is not None else f'annotations[{k}]'}"
        image_id, category_id = _int(entry.get("image_id")), _int(entry.get("category_id"))
        if image_id not in payloads:
            message = (
                f"{rel}: {what} names image id {entry.get('image_id')!r}, not a captioned image"
            )
            listing.reject(rel, UnknownImageError(message))
            continue
        if category_id not in names:
            message = f"{rel}: {what} names category {entry.get('category_id')!r}, not listed"
            listing.reject(rel, MalformedAnnotationError(message))
            continue
        bbox = entry.get("bbox")
        box_id = -1 if box_id is None else box_id
        # [box id, category id, category name, box (None if malformed), box as annotated]
        record = [box_id, category_id, names[category_id], parse_box(bbox), repr(bbox)[:80]]
        payloads[image_id]["boxes"].append(record)
        added += 1
    return added


def list_coco(root: Path, image_bytes: int) -> Listing:
    """Every captioned image of every ``annotations/captions_<split>.json``, split by split,
    by image id; ``image_bytes`` is the estimated bytes of one stored image.

    Raises:
        FileNotFoundError: no ``annotations/captions_*.json`` under ``root``.
    """
    listing = Listing()
    caption_files = sorted((root / ANNOTATIONS_DIR).glob(f"{CAPTIONS_PREFIX}*.json"))
    if not caption_files:
        raise FileNotFoundError(f"no {ANNOTATIONS_DIR}/{CAPTIONS_PREFIX}<split>.json under {root}")
    boxes = 0
    for path in caption_files:
        folder = path.stem[len(CAPTIONS_PREFIX) :]
        rel = f"{ANNOTATIONS_DIR}/{path.name}"
        listing.files[f"captions_{folder}"] = rel
        if coco_split(folder) is None:
            message = f"{rel}: split {folder!r} is none of {SPLIT_PREFIXES} (by prefix)"
            listing.reject(rel, MalformedAnnotationError(message))
            continue
        try:
            payloads = parse_captions(read_json_file(path, rel), rel, folder, listing)
        except MalformedAnnotationError as exc:
            listing.reject(rel, exc)
            listing.warnings.append(f"{rel} rejected: the {folder} images are not ingested")
            continue
        instances = root / ANNOTATIONS_DIR / f"{INSTANCES_PREFIX}{folder}.json"
        instances_rel = f"{ANNOTATIONS_DIR}/{instances.name}"
        listing.files[f"instances_{folder}"] = instances_rel if instances.is_file() else None
        if instances.is_file():
            try:
                content = read_json_file(instances, instances_rel)
                boxes += parse_instances(content, instances_rel, payloads, listing)
            except MalformedAnnotationError as exc:
                listing.reject(instances_rel, exc)
                listing.warnings.append(f"{instances_rel} rejected: {folder} rows have no boxes")
        else:
            listing.warnings.append(f"no {instances_rel}: {folder} rows have no boxes")
        for image_id in sorted(payloads):
            payload = payloads[image_id]
            size = image_bytes + CAPTION_BYTES * len(payload["captions"])
            listing.items.append(
                InputItem(
                    source=payload["file"],
                    group_key=str(image_id),
                    split=payload["split"],
                    size_bytes=size + BOX_BYTES * len(payload["boxes"]),
                    payload=payload,
                )
            )
    listing.info = {"listed_images": len(listing.items), "listed_boxes": boxes}
    return listing


def coco_captions(payload: dict, dropped: Dropped) -> tuple[list[int], list[str]]:
    """Ids and texts of the usable captions (whitespace collapsed).

    Raises:
        NoCaptionError: none is usable (the message says why each was dropped).
    """
    ids, texts = [], []
    for caption_id, text in payload["captions"]:
        cleaned = clean_text(text, "caption", f"caption {caption_id}", dropped)
        if cleaned is not None:
            ids.append(caption_id)
            texts.append(cleaned)
    if not texts:
        reasons = "; ".join(row["message"] for row in dropped.rows) or "the image has none"
        raise NoCaptionError(f"no usable caption: {reasons}")
    return ids, texts


def coco_values(payload: dict, frame: BoxFrame, dropped: Dropped) -> dict[str, list]:
    """The box columns of one image's row; rejected boxes become dropped parts."""
    values: dict[str, list] = {
        "boxes": [],
        "boxes_original": [],
        "box_ids": [],
        "categories": [],
        "category_ids": [],
    }
    for box_id, category_id, name, box, shown in payload["boxes"]:
        what = f"box {box_id} ({name}) {shown}"
        out = map_box(frame, box, "box", what, dropped)
        if out is None:
            continue
        values["boxes"].append(out)
        values["boxes_original"].append(box)
        values["box_ids"].append(box_id)
        values["categories"].append(name)
        values["category_ids"].append(category_id)
    return values
