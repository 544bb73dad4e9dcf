"""COCO-aligned splits for Visual Genome: keep the images a COCO-trained stage 1 saw out of
VG's val/test.

Half of Visual Genome's images are COCO images (``image_data.json``'s ``coco_id``). VG-BERT-style
training runs stage 1 on COCO captions (COCO train) and stage 2 on VG; a VG split hashed from
the VG image id alone would put COCO train images into VG's val/test, where the model has
already seen them. With ``--coco-split-annotations <COCO annotations folder>``
(:func:`read_coco_image_splits`, :func:`aligned_split`):

    coco_id a COCO train image  -> train
    coco_id a COCO val image    -> val or test, half each: "test" when
                                   unit_hash(str(vg_image_id), COCO_VAL_SALT) < 0.5
    no coco_id, or not listed   -> hashed from the image id as usual (--split-seed, fractions)

The val/test half uses the fixed salt :data:`COCO_VAL_SALT`, not ``--split-seed``: the listing
(where a VG input's split is set) does not see the ingest's settings. It is stable across
re-runs like any hashed split.
"""

from __future__ import annotations

from pathlib import Path

from crossmodal_ray.pipelines.core.splits import unit_hash
from crossmodal_ray.pipelines.image_text.coco import (
    ANNOTATIONS_DIR,
    CAPTIONS_PREFIX,
    INSTANCES_PREFIX,
    SPLIT_PREFIXES,
    coco_split,
)
from crossmodal_ray.pipelines.image_text.errors import MalformedAnnotationError
from crossmodal_ray.pipelines.image_text.json_files import read_json_file

# Salt of the hash that halves COCO val images into VG val and test (see the module docstring).
COCO_VAL_SALT = "coco_val_to_vg_val_test"
# Share of COCO val (or test) images that go to VG's test split.
COCO_VAL_TEST_SHARE = 0.5


def coco_split_files(folder: str | Path) -> dict[str, Path]:
    """COCO split name (``train2017``) -> the file that lists its images: ``captions_<split>``
    if present, else ``instances_<split>`` (both list the same images; captions is smaller).

    ``folder`` is the annotations folder, or a COCO root holding ``annotations/``.

    Raises:
        FileNotFoundError: no such folder, or no ``captions_*.json`` / ``instances_*.json`` in it.
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"COCO split annotations: folder {root} does not exist")
    if not any(root.glob(f"{CAPTIONS_PREFIX}*.json")) and (root / ANNOTATIONS_DIR).is_dir():
        root = root / ANNOTATIONS_DIR
    files: dict[str, Path] = {}
    for prefix in (INSTANCES_PREFIX, CAPTIONS_PREFIX):  # captions replace instances
        for path in sorted(root.glob(f"{prefix}*.json")):
            files[path.stem[len(prefix) :]] = path
    if not files:
        raise FileNotFoundError(
            f"COCO split annotations: no {CAPTIONS_PREFIX}<split>.json or "
            f"{INSTANCES_PREFIX}<split>.json (e.g. captions_train2017.json) in {root}"
        )
    return files


def read_coco_image_splits(folder: str | Path) -> dict[int, str]:
    """COCO image id -> its COCO split (``train``, ``val`` or ``test``), from the ``images``
    list of each ``captions_<split>.json`` (else ``instances_<split>.json``) of ``folder``.

    An image listed in several splits (2014 and 2017 files side by side) is ``train`` if any
    file lists it as train: a training image never counts as held out.

    Raises:
        FileNotFoundError: see :func:`coco_split_files`.
        ValueError: a file's split is none of train/val/test (by prefix), or the file is not
            a COCO annotation file with an ``images`` list.
    """
    splits: dict[int, str] = {}
    for name, path in coco_split_files(folder).items():
        split = coco_split(name)
        if split is None:
            raise ValueError(
                f"COCO split annotations: {path}: split {name!r} is none of {SPLIT_PREFIXES}"
            )
        try:
            content = read_json_file(path, str(path))
        except MalformedAnnotationError as exc:
            raise ValueError(f"COCO split annotations: {exc}") from None
        images = content.get("images") if isinstance(content, dict) else None
        if not isinstance(images, list):
            raise ValueError(f"COCO split annotations: {path} has no 'images' list")
        for entry in images:
            image_id = entry.get("id") if isinstance(entry, dict) else None
            if not isinstance(image_id, int) or isinstance(image_id, bool):
                continue
            if splits.get(image_id) != "train":
                splits[image_id] = split
    return splits


def aligned_split(coco_split: str, image_id: int, salt: str | int = COCO_VAL_SALT) -> str:
    """The VG split of an image whose COCO split is ``coco_split``: ``train`` stays train;
    ``val`` (or ``test``: never trained on either) -> ``test`` when
    ``unit_hash(str(image_id), salt) < 0.5``, else ``val``."""
    if coco_split == "train":
        return "train"
    if coco_split not in ("val", "test"):
        raise ValueError(f"unknown COCO split {coco_split!r}; expected train, val or test")
    return "test" if unit_hash(str(image_id), salt) < COCO_VAL_TEST_SHARE else "val"
