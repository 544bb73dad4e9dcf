"""The image-text shard contract: one row per image, for COCO and for Visual Genome v1.4.

Columns every row has (``image_columns``)::

    ==================  ==================================  ====================================
    column              Arrow type                          meaning
    ==================  ==================================  ====================================
    sample_id           string                              ``sha1(source)[:20]``: stable
    source              string                              image path relative to the raw root
    image_id            int64                               the corpus's image id
    image               binary (``jpeg``) or                the image, shorter side resized to
                        fixed_shape_tensor<uint8>[S, S, 3]  S = ``image_size`` then centre-cropped
                        (``uint8``)                         to S x S, RGB, EXIF orientation
                                                            applied (``images.py``)
    width               int32                               original width (after EXIF rotation)
    height              int32                               original height (after EXIF rotation)
    ==================  ==================================  ====================================

COCO rows (``coco_schema``) add::

    split               string                              COCO's own split (train2017 -> train)
    captions            list<string>                        every usable caption of the image
    caption_ids         list<int64>                         their COCO annotation ids
    boxes               list<fixed_size_list<f32, 4>>       [x, y, w, h] in the S x S image
    boxes_original      list<fixed_size_list<f32, 4>>       [x, y, w, h] as annotated
    box_ids             list<int64>                         instance annotation ids
    categories          list<string>                        category name of each box
    category_ids        list<int32>                         category id of each box

Visual Genome rows (``visual_genome_schema``; no split column: VG has no splits, the shard
folder is the hashed split of the image id) add::

    coco_id                 int64 (null)                    the same picture in COCO, if any
    object_ids              list<int64>                     VG object ids
    object_names            list<string>                    first name of each object
    object_synsets          list<list<string>>              WordNet synsets of each object
    object_attributes       list<list<string>>              attributes (attributes.json)
    object_boxes            list<fixed_size_list<f32, 4>>   [x, y, w, h] in the S x S image
    object_boxes_original   list<fixed_size_list<f32, 4>>   [x, y, w, h] as annotated
    relation_ids            list<int64>                     VG relationship ids
    relation_subjects       list<int32>                     index into this row's objects
    relation_predicates     list<string>                    "ON", "wears", "left of" ...
    relation_synsets        list<list<string>>              WordNet synsets of the predicate
    relation_objects        list<int32>                     index into this row's objects
    region_ids              list<int64>                     VG region ids
    region_phrases          list<string>                    region descriptions
    region_boxes            list<fixed_size_list<f32, 4>>   [x, y, w, h] in the S x S image
    region_boxes_original   list<fixed_size_list<f32, 4>>   [x, y, w, h] as annotated

Boxes in the S x S image are clipped to it: a box that the centre crop cut away entirely keeps
its place in the lists (so indices stay aligned) with a width or height of 0.

A rejected row (``_rejected/part-*.parquet``): ``source`` (the image path, or the annotation
file), ``stage`` (``STAGES``), ``error_type`` (a class of ``errors.py``), ``message``,
``start_s`` (NaN), ``sample_id`` (the row's id when only a part of the row was dropped: a
caption, a box, an object, a relation, a region; empty for a whole image or file).

Image storage (``--image-storage``), measured by ``benchmarks/image_storage.py`` at 224 px,
JPEG quality 90, on 2 busy CPU cores (read: ``read_split("train").iter_batches`` of 256, best of
2-3 passes; two runs, so a range)::

    corpus                          storage  bytes/image  shards   read images/s
    sample (2,300 rendered images)  jpeg     8,513        18.7 MB  770-1,340 incl. PIL decode
                                                                   2,540-3,320 bytes only
                                    uint8    92,592       203 MB   206-229 (already pixels)
    coco_mini (159 real photos)     jpeg     20,407       3.1 MB
                                    uint8    138,619      21.0 MB

Default ``jpeg``: 7-11x fewer bytes on disk (and over the network from s3/gs), and even with
PIL decoding in the reading loop it reads 3-6x faster than the uint8 tensors. The tensor column
is slow to read because Parquet stores a fixed-size list of 150,528 uint8 values per row with
per-value levels (pyarrow alone: ~310 rows/s for such a column against ~11,000 rows/s for the
same bytes in a binary column), so the decoded storage loses on both counts here; ``uint8``
stays available for readers that must not decode (e.g. no PIL on the reading side).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

SCHEMA_VERSION = 1
# Rejection stages in pipeline order: ``list`` (annotation files, annotations naming unknown
# images; on the driver), then per image in the decoding actors: ``annotations`` (empty or
# non-UTF-8 captions / region phrases), ``read`` (the file), ``decode`` (PIL), ``boxes``.
STAGES: tuple[str, ...] = ("list", "annotations", "read", "decode", "boxes")
FORMATS: tuple[str, ...] = ("coco", "visual_genome")
IMAGE_STORAGES: tuple[str, ...] = ("jpeg", "uint8")
DEFAULT_IMAGE_SIZE = 224
DEFAULT_IMAGE_STORAGE = "jpeg"
DEFAULT_JPEG_QUALITY = 90

BOX_TYPE = pa.list_(pa.float32(), 4)
BOXES_TYPE = pa.list_(BOX_TYPE)


def image_type(image_size: int, image_storage: str) -> pa.DataType:
    """``binary`` (JPEG bytes) or a fixed-shape uint8 tensor [S, S, 3]."""
    if image_storage == "jpeg":
        return pa.binary()
    if image_storage == "uint8":
        return pa.fixed_shape_tensor(pa.uint8(), [image_size, image_size, 3])
    raise ValueError(f"unknown image storage {image_storage!r}; expected {IMAGE_STORAGES}")


def image_columns(image_size: int, image_storage: str) -> list[pa.Field]:
    """The columns every image-text row starts with."""
    return [
        pa.field("sample_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("image_id", pa.int64()),
        pa.field("image", image_type(image_size, image_storage)),
        pa.field("width", pa.int32()),
        pa.field("height", pa.int32()),
    ]


def coco_schema(image_size: int, image_storage: str) -> pa.Schema:
    """The Arrow schema of COCO rows (see the module docstring)."""
    return pa.schema(
        [
            *image_columns(image_size, image_storage),
            pa.field("split", pa.string()),
            pa.field("captions", pa.list_(pa.string())),
            pa.field("caption_ids", pa.list_(pa.int64())),
            pa.field("boxes", BOXES_TYPE),
            pa.field("boxes_original", BOXES_TYPE),
            pa.field("box_ids", pa.list_(pa.int64())),
            pa.field("categories", pa.list_(pa.string())),
            pa.field("category_ids", pa.list_(pa.int32())),
        ]
    )


def visual_genome_schema(image_size: int, image_storage: str) -> pa.Schema:
    """The Arrow schema of Visual Genome rows (see the module docstring)."""
    strings = pa.list_(pa.string())
    return pa.schema(
        [
            *image_columns(image_size, image_storage),
            pa.field("coco_id", pa.int64()),
            pa.field("object_ids", pa.list_(pa.int64())),
            pa.field("object_names", strings),
            pa.field("object_synsets", pa.list_(strings)),
            pa.field("object_attributes", pa.list_(strings)),
            pa.field("object_boxes", BOXES_TYPE),
            pa.field("object_boxes_original", BOXES_TYPE),
            pa.field("relation_ids", pa.list_(pa.int64())),
            pa.field("relation_subjects", pa.list_(pa.int32())),
            pa.field("relation_predicates", strings),
            pa.field("relation_synsets", pa.list_(strings)),
            pa.field("relation_objects", pa.list_(pa.int32())),
            pa.field("region_ids", pa.list_(pa.int64())),
            pa.field("region_phrases", strings),
            pa.field("region_boxes", BOXES_TYPE),
            pa.field("region_boxes_original", BOXES_TYPE),
        ]
    )


def image_array(images: list[bytes | np.ndarray], field_type: pa.DataType) -> pa.Array:
    """An array of ``field_type`` holding the JPEG bytes or the [S, S, 3] uint8 pixels."""
    if isinstance(field_type, pa.FixedShapeTensorType):
        pixels = np.stack([np.asarray(image, dtype=np.uint8) for image in images])
        flat = pixels.reshape(-1)
        storage = pa.FixedSizeListArray.from_arrays(
            pa.array(flat, pa.uint8()), flat.size // len(images)
        )
        return pa.ExtensionArray.from_storage(field_type, storage)
    return pa.array([bytes(image) for image in images], field_type)


class RowTables:
    """Builds tables of ``schema`` from row values (one dict per image): every column but
    ``image`` in one conversion of a struct array, the images apart.

    Each dict maps every column but ``image`` to its value (lists for list columns);
    ``values["image"]`` is the JPEG bytes or the uint8 pixels. The runner converts a row group
    at a time (``DecodedInput.rows``): ~45-75 us a row where a one-row table took ~130-300 us.
    """

    def __init__(self, schema: pa.Schema) -> None:
        self.schema = schema
        self.image_index = schema.get_field_index("image")
        self.image_field = schema.field("image")
        self.others = pa.struct([f for f in schema if f.name != "image"])

    def __call__(self, rows: list[dict]) -> pa.Table:
        batch = pa.RecordBatch.from_struct_array(pa.array(rows, type=self.others))
        images = image_array([row["image"] for row in rows], self.image_field.type)
        table = pa.Table.from_batches([batch]).add_column(
            self.image_index, self.image_field, images
        )
        return table.replace_schema_metadata(self.schema.metadata)
