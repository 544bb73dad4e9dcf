"""VG-BERT stage-2 batches: Visual Genome rows -> images, object phrases, boxes, relations.

Per image (row), deterministically (no random draw: training and evaluation see the same
objects):

- objects: those whose (lower-cased) name is in the object-class vocabulary and whose box in the
  stored image is not empty; the endpoints of usable relations come first, then the others, at
  most ``max_objects_per_image``;
- phrase of an object: its first ``phrase_attributes`` attributes then its name ("small red
  circle"), tokenized like stage-1 captions (``word_mask``: the real words);
- ``object_cells`` [N, R]: the share of each region's cell (16 x 16 model pixels, row-major as
  the visual stream orders regions) that the object's box covers, for scoring retrieval;
- relations: those whose predicate is in the vocabulary and whose endpoints were kept, at most
  ``max_relations_per_image``; subject and object as rows of the batch's object list.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crossmodal_ray.models.vgbert.grounding_config import GroundingConfig
from crossmodal_ray.training.media_collate import image_tensor, normalize_images, tokenize

GROUNDING_COLUMNS = (
    "sample_id",
    "image",
    "object_names",
    "object_attributes",
    "object_boxes",
    "relation_subjects",
    "relation_predicates",
    "relation_objects",
)
REGION_STRIDE = 16  # VGG16 without its last pool


def normalize_label(text: Any) -> str:
    """Vocabulary key of an object name or predicate: lower case, single spaces."""
    return " ".join(str(text).lower().split())


def object_phrase(name: Any, attributes: Any, n_attributes: int) -> str:
    words = [" ".join(str(a).split()) for a in list(attributes)[:n_attributes]]
    return " ".join([w for w in words if w] + [" ".join(str(name).split())])


def boxes_of(value: Any) -> np.ndarray:
    """A row's boxes (list of [x, y, w, h]) as float [n, 4]."""
    items = list(value) if value is not None else []
    if not items:
        return np.zeros((0, 4), np.float32)
    return np.asarray([np.asarray(b, np.float32) for b in items], np.float32).reshape(-1, 4)


def cell_coverage(boxes: np.ndarray, image_size: int) -> np.ndarray:
    """[n, R]: the share of each 16 x 16 region cell covered by each box (model pixels)."""
    grid = image_size // REGION_STRIDE
    edges = np.arange(grid + 1, dtype=np.float32) * REGION_STRIDE
    x0, y0 = boxes[:, 0:1], boxes[:, 1:2]
    x1, y1 = x0 + boxes[:, 2:3], y0 + boxes[:, 3:4]
    cover_x = np.clip(np.minimum(x1, edges[None, 1:]) - np.maximum(x0, edges[None, :-1]), 0, None)
    cover_y = np.clip(np.minimum(y1, edges[None, 1:]) - np.maximum(y0, edges[None, :-1]), 0, None)
    cells = cover_y[:, :, None] * cover_x[:, None, :] / float(REGION_STRIDE**2)
    return cells.reshape(len(boxes), grid * grid).astype(np.float32)


def select_image_annotations(
    names: list[str],
    boxes: np.ndarray,
    subjects: list[int],
    predicates: list[str],
    objects: list[int],
    classes: dict[str, int],
    predicate_ids: dict[str, int],
    config: GroundingConfig,
) -> tuple[list[int], list[tuple[int, int, int]]]:
    """Kept object indices of one image and its relations as (subject, predicate id, object),
    subject and object as positions in the kept list (see the module docstring)."""
    usable = [
        i
        for i, name in enumerate(names)
        if normalize_label(name) in classes and boxes[i, 2] > 0 and boxes[i, 3] > 0
    ]
    usable_set = set(usable)
    relations = [
        (int(s), predicate_ids[normalize_label(p)], int(o))
        for s, p, o in zip(subjects, predicates, objects, strict=True)
        if normalize_label(p) in predicate_ids
        and int(s) in usable_set
        and int(o) in usable_set
        and int(s) != int(o)
    ][: config.max_relations_per_image]
    endpoints = list(dict.fromkeys(i for s, _, o in relations for i in (s, o)))
    kept = (endpoints + [i for i in usable if i not in set(endpoints)])[
        : config.max_objects_per_image
    ]
    position = {index: k for k, index in enumerate(kept)}
    kept_relations = [
        (position[s], p, position[o]) for s, p, o in relations if s in position and o in position
    ]
    return kept, kept_relations


def collate_grounding(
    batch: dict[str, Any],
    config: GroundingConfig,
    text_model: str,
    image_size: int,
) -> dict[str, torch.Tensor]:
    """The stage-2 batch (see the module docstring); stored boxes are rescaled to the model's
    ``image_size`` when the shards hold another size."""
    classes = {name: k for k, name in enumerate(config.object_classes)}
    predicate_ids = {name: k for k, name in enumerate(config.predicates)}
    phrases: list[str] = []
    object_image: list[int] = []
    object_class: list[int] = []
    cells: list[np.ndarray] = []
    relation_rows: list[tuple[int, int, int]] = []
    pixels = torch.stack([image_tensor(v) for v in batch["image"]])
    stored_size = int(pixels.shape[-1])
    for row in range(len(pixels)):
        names = [str(n) for n in batch["object_names"][row]]
        attributes = list(batch["object_attributes"][row])
        boxes = boxes_of(batch["object_boxes"][row])
        kept, relations = select_image_annotations(
            names,
            boxes,
            list(batch["relation_subjects"][row]),
            [str(p) for p in batch["relation_predicates"][row]],
            list(batch["relation_objects"][row]),
            classes,
            predicate_ids,
            config,
        )
        offset = len(phrases)
        for index in kept:
            phrases.append(object_phrase(names[index], attributes[index], config.phrase_attributes))
            object_image.append(row)
            object_class.append(classes[normalize_label(names[index])])
        if kept:
            scaled = boxes[kept] * (image_size / stored_size)
            cells.append(cell_coverage(scaled, image_size))
        relation_rows += [(offset + s, p, offset + o) for s, p, o in relations]
    grid = image_size // REGION_STRIDE
    tokens = (
        tokenize(phrases, text_model, config.max_phrase_words)
        if phrases
        else {
            "input_ids": torch.zeros(0, config.max_phrase_words, dtype=torch.long),
            "attention_mask": torch.zeros(0, config.max_phrase_words, dtype=torch.long),
            "word_mask": torch.zeros(0, config.max_phrase_words, dtype=torch.bool),
        }
    )
    relations = torch.tensor(relation_rows, dtype=torch.long).reshape(-1, 3)
    return {
        "images": normalize_images(pixels, image_size),
        "phrase_ids": tokens["input_ids"],
        "phrase_attention": tokens["attention_mask"],
        "phrase_words": tokens["word_mask"],
        "object_image": torch.tensor(object_image, dtype=torch.long),
        "object_class": torch.tensor(object_class, dtype=torch.long),
        "object_cells": torch.from_numpy(
            np.concatenate(cells) if cells else np.zeros((0, grid * grid), np.float32)
        ),
        "relation_subject": relations[:, 0],
        "relation_predicate": relations[:, 1],
        "relation_object": relations[:, 2],
    }
