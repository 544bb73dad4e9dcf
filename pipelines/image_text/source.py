"""Image-text corpora (COCO, Visual Genome v1.4) as a source adapter of the generic ingest runner.

One input = one image; its group key is the image id. COCO keeps its own splits
(``InputItem.split``), Visual Genome's images are split by the hash of their id, or, with
``--coco-split-annotations``, by COCO's split where a VG image is a COCO image (COCO train ->
train, COCO val -> val or test; ``coco_splits.py``). Annotation files are parsed once, on the
driver, while listing (``coco.py``, ``visual_genome.py``): each input's payload holds its
image's captions, boxes, objects, relations and regions. Decoding one image, in one of the
runner's shard tasks (plain Ray tasks: the decoder, :class:`~.images.ImageDecoder`, holds only
its config and is built per task by :meth:`ImageTextSource.open_decoder`)::

    annotations: captions / region phrases cleaned, empty or non-UTF-8 ones dropped
    -> read: the image file (VG: VG_100K/ or VG_100K_2/)
    -> decode: PIL -> upright RGB S x S (``images.py``; an image whose header gives more than
       --max-image-pixels is rejected before decoding, ``pixel_limit.py``)
    -> boxes: each box checked against the image, mapped onto the S x S image (``boxes.py``)
    -> one row (``schema.py``)

Counting (``read = written + rejected``): a written row is an image; a rejected row is a whole
image, or one part dropped from an image's row (a caption, a box, an object, a relation, a
region), or at the ``list`` stage an annotation file or an annotation naming an unknown image.
The manifest's ``dropped`` counts the dropped parts by kind.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from crossmodal_ray.pipelines.core.quarantine import at_stage
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem, sum_summaries
from crossmodal_ray.pipelines.image_text.boxes import BoxFrame
from crossmodal_ray.pipelines.image_text.coco import coco_captions, coco_values, list_coco
from crossmodal_ray.pipelines.image_text.coco_splits import read_coco_image_splits
from crossmodal_ray.pipelines.image_text.errors import MissingImageError
from crossmodal_ray.pipelines.image_text.images import ImageConfig, ImageDecoder
from crossmodal_ray.pipelines.image_text.listing import Listing
from crossmodal_ray.pipelines.image_text.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS
from crossmodal_ray.pipelines.image_text.rows import Dropped, sample_id_for
from crossmodal_ray.pipelines.image_text.schema import (
    DEFAULT_IMAGE_SIZE,
    DEFAULT_IMAGE_STORAGE,
    DEFAULT_JPEG_QUALITY,
    FORMATS,
    IMAGE_STORAGES,
    SCHEMA_VERSION,
    STAGES,
    RowTables,
    coco_schema,
    visual_genome_schema,
)
from crossmodal_ray.pipelines.image_text.visual_genome import (
    list_visual_genome,
    visual_genome_regions,
    visual_genome_values,
)

SAMPLE_SOURCE = "data/raw/image_text_sample/coco"
# Bytes of a stored JPEG per pixel at quality 90 (measured ~0.3-0.5 on the sample corpus):
# only sizes shard tasks.
JPEG_BYTES_PER_PIXEL = 0.5


@dataclass
class ImageTextSourceConfig:
    """The raw image-text corpus and what its images become; each field is a flag.

    Attributes:
        source: Raw folder: COCO (``annotations/`` + ``train2017/`` ...) or Visual Genome
            (``image_data.json`` ... + ``VG_100K/``, ``VG_100K_2/``).
        format: ``coco`` or ``visual_genome``.
        image_size: Side S of the stored square image: shorter side resized to S, centre crop.
        image_storage: ``jpeg`` (re-encoded bytes; a reader decodes them) or ``uint8`` (decoded
            [S, S, 3] tensor); see pipelines/image_text/schema.py for the measurement.
        jpeg_quality: Quality of the re-encoded JPEG (jpeg storage).
        max_image_pixels: Decompression-bomb guard: an image whose header gives more pixels
            (width x height) is rejected before it is decoded (default PIL's own limit,
            89,478,485, about 9,459 x 9,459); raise it for a corpus of very large images.
        box_tolerance_px: A box may reach this many pixels beyond the image (then clipped);
            further out it is rejected.
        coco_split_annotations: COCO annotations folder (``captions_<split>2017.json`` or
            ``instances_...``): a Visual Genome image whose ``coco_id`` is a COCO train image
            goes to ``train``; one that is a COCO val image goes to ``val`` or ``test`` (half
            each, by the hash of its id); other images are hashed as usual. Keeps images that
            a COCO-trained stage 1 saw out of VG's val/test.
    """

    source: str = SAMPLE_SOURCE
    format: str = field(default="coco", metadata={"choices": FORMATS})
    image_size: int = DEFAULT_IMAGE_SIZE
    image_storage: str = field(default=DEFAULT_IMAGE_STORAGE, metadata={"choices": IMAGE_STORAGES})
    jpeg_quality: int = DEFAULT_JPEG_QUALITY
    max_image_pixels: int = DEFAULT_MAX_IMAGE_PIXELS
    box_tolerance_px: float = 2.0
    coco_split_annotations: str = ""

    def __post_init__(self) -> None:
        if self.format not in FORMATS:
            raise ValueError(f"unknown format {self.format!r}; expected one of {FORMATS}")
        if self.coco_split_annotations and self.format != "visual_genome":
            raise ValueError(
                f"coco_split_annotations (--coco-split-annotations) applies to format "
                f"visual_genome only, not {self.format!r}: COCO keeps its own splits"
            )
        if self.box_tolerance_px < 0:
            raise ValueError(f"box tolerance must be >= 0, got {self.box_tolerance_px}")
        self.image_config()  # validates size, storage, quality and the pixel limit

    def image_config(self) -> ImageConfig:
        return ImageConfig(
            self.image_size, self.image_storage, self.jpeg_quality, self.max_image_pixels
        )


class ImageTextSource:
    """COCO or Visual Genome images -> one row per image (see the module docstring)."""

    schema_version = SCHEMA_VERSION
    group_key_name = "image"
    input_noun = "images"
    stages = STAGES
    # The decoder holds only its config (PIL's plugins load once per process): shard tasks run
    # as plain Ray tasks, which start sooner than a pool of new actor processes.
    decoder_needs_actor = False

    def __init__(self, config: ImageTextSourceConfig) -> None:
        root = Path(config.source)
        if not root.is_dir():
            raise FileNotFoundError(f"source folder {root} does not exist")
        self.config = config
        self.format = config.format
        self.root = str(root.resolve())
        # Small facts of the listing, for the manifest (never the items: the adapter is
        # pickled to every shard task).
        self.listing_facts: dict[str, Any] = {}
        make = coco_schema if self.format == "coco" else visual_genome_schema
        self.table_from_rows = RowTables(make(config.image_size, config.image_storage))

    def schema(self) -> pa.Schema:
        return self.table_from_rows.schema

    def image_bytes(self) -> int:
        """Estimated stored bytes of one image (sizes shard tasks)."""
        pixels = self.config.image_size**2
        return int(pixels * (3 if self.config.image_storage == "uint8" else JPEG_BYTES_PER_PIXEL))

    def listing(self) -> Listing:
        """Parse the annotation files (``coco.py`` or ``visual_genome.py``)."""
        root = Path(self.root)
        if self.format == "coco":
            return list_coco(root, self.image_bytes())
        coco_splits = None
        if self.config.coco_split_annotations:
            coco_splits = read_coco_image_splits(self.config.coco_split_annotations)
        return list_visual_genome(root, self.image_bytes(), coco_splits)

    def list_inputs(self) -> tuple[list[InputItem], list[dict]]:
        """One input per image, its payload the image's annotations; rejected rows of the
        ``list`` stage (malformed files, annotations naming unknown images)."""
        listing = self.listing()
        self.listing_facts = {
            "annotation_files": listing.files,
            "listing": listing.info,
            "listing_warnings": listing.warnings,
        }
        return listing.items, listing.rejected

    def open_decoder(self) -> ImageDecoder:
        return ImageDecoder(self.config.image_config())

    def read(self, item: InputItem) -> tuple[str, bytes]:
        """The image's path (relative to the root) and bytes.

        Raises:
            MissingImageError: no candidate file exists.
        """
        candidates = item.payload.get("files") or [item.payload.get("file", item.source)]
        for rel in candidates:
            try:
                with open(f"{self.root}/{rel}", "rb") as file:
                    return rel, file.read()
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
                continue
        tried = " or ".join(candidates)
        raise MissingImageError(f"image file {tried} does not exist")

    def decode(self, item: InputItem, state: ImageDecoder) -> DecodedInput:
        """One image -> its row, and the parts of its annotations that were dropped."""
        payload = item.payload
        dropped = Dropped(item.source, sample_id_for(item.source))
        with at_stage("annotations"):
            if self.format == "coco":
                caption_ids, captions = coco_captions(payload, dropped)
            else:
                regions = visual_genome_regions(payload, dropped)
        with at_stage("read"):
            source, data = self.read(item)
        if source != item.source:  # VG: found in the other image folder
            dropped.source, dropped.sample_id = source, sample_id_for(source)
            for row in dropped.rows:
                row["source"], row["sample_id"] = source, dropped.sample_id
        with at_stage("decode"):
            image = state(data)
        with at_stage("boxes"):
            frame, warnings = BoxFrame.for_image(
                image.geometry, payload.get("size"), self.config.box_tolerance_px
            )
            if self.format == "coco":
                values = coco_values(payload, frame, dropped)
                values.update(split=payload["split"], captions=captions, caption_ids=caption_ids)
            else:
                values = visual_genome_values(payload, regions, frame, dropped)
                values["coco_id"] = payload.get("coco_id")
        values.update(
            sample_id=dropped.sample_id,
            source=source,
            image_id=payload["image_id"],
            image=image.image,
            width=image.geometry.width,
            height=image.geometry.height,
        )
        return DecodedInput(
            rows=[values],  # the runner converts a row group at a time (table_from_rows)
            rejected=dropped.rows,
            warnings=warnings,
            info={"dropped": dict(dropped.counts), "file_modes": {image.file_mode: 1}},
        )

    def summarize(self, rows: pa.Table, infos: list[dict[str, Any]]) -> dict[str, Any]:
        """Images and annotation counts of the rows, dropped parts and file modes."""
        if self.format == "coco":
            counted = {"captions": "captions", "boxes": "boxes"}
        else:
            counted = {
                "objects": "object_ids",
                "relations": "relation_ids",
                "regions": "region_ids",
            }
        counts = {"images": rows.num_rows}
        for name, column in counted.items():
            lengths = pc.list_value_length(rows.column(column))
            counts[name] = int(pc.sum(lengths).as_py() or 0)
        return {"counts": counts, **(sum_summaries(infos) or {})}

    def manifest_fields(self, summaries: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        """Image settings, per-split annotation counts, dropped parts by kind, the annotation
        files used and the listing's counts and warnings."""
        per_split = {split: sum_summaries(items) or {} for split, items in summaries.items()}
        everything = sum_summaries([s for s in per_split.values() if s]) or {}
        config = self.config
        return {
            "image_size": config.image_size,
            "image_storage": config.image_storage,
            "jpeg_quality": config.jpeg_quality,
            "max_image_pixels": config.max_image_pixels,
            "box_tolerance_px": config.box_tolerance_px,
            "counts": {split: s.get("counts") or {} for split, s in per_split.items()},
            "dropped": dict(sorted(Counter(everything.get("dropped") or {}).items())),
            "file_modes": everything.get("file_modes") or {},
            **self.listing_facts,
        }
