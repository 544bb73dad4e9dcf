"""The COCO and Visual Genome corpora of the bad-input corpus (``write_bad_corpora``): annotation
files and images, good ones mixed with one of each kind of breakage, for
``jobs/ingest_image_text.py``.

COCO (``coco_bad/``): ``train2017`` holds good images (RGB, greyscale), a CMYK JPEG (valid: it
must be written as RGB), and one image per broken kind: truncated JPEG, a text file named
``.jpg``, a 0 x 0 PNG, a 20,000 x 20,000 PNG (a ~50 KB decompression bomb), a listed image
whose file is absent, an image whose captions are all blank; ``captions_train2017.json`` also
has a caption naming an image id it does not list, and ``captions_val2017.json`` is malformed
JSON (rejected whole, with the error's line and column; the train split is still ingested).

Visual Genome (``visual_genome_bad/``): tiny v1.4 files written here (the real annotations in
``shared/data/visual_genome_ann`` come without images). ``relationships.json`` is malformed
(rejected whole; the rows carry no relations), ``objects.json`` has an entry for an image id
that ``image_data.json`` lacks, one object's box lies entirely outside its image, one image has
neither object nor usable region phrase, one listed image has no file. How boxes are treated
(the existing reader's rule, ``pipelines/image_text/boxes.py``): a box reaching at most
``--box-tolerance-px`` (2) pixels past the edge is clipped and kept (the object with the box
one pixel past the edge here is written); further out, partly or wholly, the object is dropped
from its image's row with a ``boxes``-stage rejected row (its ``sample_id`` is the row's), and
the image is still written.

Images come from the image-text tests' fixtures (``image_text_fixtures.py``), as in
``tests/pipelines/image_text/test_image_text_bad_inputs.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import image_text_fixtures as fx
from bad_input_kinds import BadCorpus, BadKind

from crossmodal_ray.pipelines.image_text.pixel_limit import DEFAULT_MAX_IMAGE_PIXELS

JOB = "ingest_image_text"
IMAGE_SIZE = 32
SIDE = 40  # every small image is 40 x 40
COMMON_FLAGS = ["--image-size", str(IMAGE_SIZE), "--concurrency", "2"]
UNKNOWN_IMAGE_ID = 4242
# A missing comma on line 3, column 10 (after ``{"id": 5``).
MALFORMED_CAPTIONS = (
    '{"images": [{"id": 1, "file_name": "000000000001.jpg", "width": 40, "height": 40}],\n'
    '"annotations": [\n'
    '{"id": 5 "image_id": 1, "caption": "a comma is missing"}]}\n'
)
# An unclosed list on line 2 of a streamed array.
MALFORMED_RELATIONSHIPS = (
    '[{"image_id": 1, "relationships": []},\n{"image_id": 2, "relationships": [}\n]\n'
)


def good_jpeg(box: tuple[int, int, int, int] = (4, 4, 8, 8)) -> bytes:
    return fx.encode(fx.marked_image(SIDE, SIDE, box), "JPEG")


def write_coco(raw: Path) -> BadCorpus:
    """The COCO corpus (see the module docstring)."""
    # file name -> (its bytes, None for an absent file; its captions)
    images: dict[str, tuple[bytes | None, list[str]]] = {
        "good.jpg": (good_jpeg(), ["a red square on blue"]),
        "grey.jpg": (fx.grey_jpeg(SIDE), ["a grey picture"]),
        "cmyk.jpg": (fx.cmyk_jpeg(SIDE), ["a red picture stored as CMYK"]),
        "truncated.jpg": (fx.truncated_jpeg(), ["cut short"]),
        "text.jpg": (b"just some text, no picture\n", ["not a picture"]),
        "zero.png": (fx.zero_pixel_png(), ["nothing at all"]),
        "bomb.png": (fx.bomb_png(20_000, 20_000), ["a very large black picture"]),
        "missing.jpg": (None, ["the file is gone"]),
        "no_caption.jpg": (fx.grey_jpeg(SIDE), ["", "   "]),
    }
    folder = raw / "train2017"
    folder.mkdir(parents=True)
    entries, captions = [], []
    for image_id, (name, (data, texts)) in enumerate(images.items(), start=1):
        if data is not None:
            (folder / name).write_bytes(data)
        size = 20_000 if name == "bomb.png" else SIDE
        entries.append({"id": image_id, "file_name": name, "width": size, "height": size})
        for text in texts:
            captions.append({"id": 100 + len(captions), "image_id": image_id, "caption": text})
    captions.append({"id": 999, "image_id": UNKNOWN_IMAGE_ID, "caption": "nobody listed it"})
    fx.write_coco_json(raw / "annotations" / "captions_train2017.json", entries, captions)
    (raw / "annotations" / "captions_val2017.json").write_text(MALFORMED_CAPTIONS)

    def kind(name: str, source: str, stage: str, error_type: str, words: str) -> BadKind:
        return BadKind(name, "coco", source, stage, error_type, words)

    kinds = [
        kind(
            "malformed JSON annotation file",
            "annotations/captions_val2017.json",
            "list",
            "MalformedAnnotationError",
            "malformed JSON at line 3 column 10: Expecting ',' delimiter; "
            "the whole file is rejected",
        ),
        kind(
            "caption for an unknown image id",
            "annotations/captions_train2017.json",
            "list",
            "UnknownImageError",
            f"caption 999 names image id {UNKNOWN_IMAGE_ID}, not in its images",
        ),
        kind(
            "truncated JPEG",
            "train2017/truncated.jpg",
            "decode",
            "CorruptImageError",
            "truncated or corrupt JPEG data",
        ),
        kind(
            "text file named .jpg",
            "train2017/text.jpg",
            "decode",
            "NotAnImageError",
            "not an image file: PIL identifies no image format",
        ),
        kind(
            "0x0 PNG",
            "train2017/zero.png",
            "decode",
            "ZeroPixelImageError",
            "zero-pixel image: its header gives 0x0 pixels",
        ),
        kind(
            "20,000 x 20,000 image (decompression bomb)",
            "train2017/bomb.png",
            "decode",
            "ImageTooLargeError",
            "image of 20000 x 20000 = 400,000,000 pixels exceeds --max-image-pixels 89,478,485",
        ),
        kind(
            "missing image file",
            "train2017/missing.jpg",
            "read",
            "MissingImageError",
            "image file train2017/missing.jpg does not exist",
        ),
        kind(
            "image without a usable caption",
            "train2017/no_caption.jpg",
            "annotations",
            "NoCaptionError",
            "no usable caption: caption 108 is empty; caption 109 is empty",
        ),
    ]
    return BadCorpus(
        format="coco",
        job=JOB,
        argv=["--source", str(raw), "--corpus", "bad_coco", *COMMON_FLAGS],
        raw=raw,
        kinds=kinds,
        written_sources={"train2017/good.jpg", "train2017/grey.jpg"},
        accepted_kinds={"CMYK JPEG": "train2017/cmyk.jpg"},
    )


def vg_object(object_id: int, name: str, box: tuple[int, int, int, int]) -> dict:
    x, y, w, h = box
    return {"object_id": object_id, "names": [name], "synsets": [], "x": x, "y": y, "w": w, "h": h}


def vg_region(region_id: int, image_id: int, phrase: str) -> dict:
    return {
        "region_id": region_id,
        "image_id": image_id,
        "phrase": phrase,
        "x": 2,
        "y": 2,
        "width": 20,
        "height": 20,
    }


def write_json(path: Path, content: object) -> None:
    path.write_text(json.dumps(content))


def write_visual_genome(raw: Path) -> BadCorpus:
    """The Visual Genome corpus (see the module docstring)."""
    folder = raw / "VG_100K"
    folder.mkdir(parents=True)
    image_ids = (1, 2, 3, 4, 5)
    write_json(
        raw / "image_data.json",
        [
            {
                "image_id": image_id,
                "width": SIDE,
                "height": SIDE,
                "url": f"https://cs.stanford.edu/people/rak248/VG_100K/{image_id}.jpg",
                "coco_id": None,
            }
            for image_id in image_ids
        ],
    )
    for image_id in (1, 2, 3, 5):  # 4 is listed, its file absent
        (folder / f"{image_id}.jpg").write_bytes(good_jpeg())
    objects = {
        1: [vg_object(101, "square", (4, 4, 8, 8))],
        # 201 reaches one pixel past the right edge: clipped to the image and kept
        2: [vg_object(201, "square", (4, 4, 8, 8)), vg_object(202, "edge", (30, 4, 11, 8))],
        3: [vg_object(301, "square", (4, 4, 8, 8)), vg_object(302, "kite", (500, 10, 20, 20))],
        4: [vg_object(401, "square", (4, 4, 8, 8))],
        5: [],
    }
    write_json(
        raw / "objects.json",
        [{"image_id": i, "objects": o} for i, o in objects.items()]
        + [{"image_id": 999, "objects": [vg_object(9901, "ghost", (1, 1, 5, 5))]}],
    )
    write_json(
        raw / "region_descriptions.json",
        [
            {"id": 1, "regions": [vg_region(1001, 1, "a red square")]},
            {"id": 2, "regions": [vg_region(2001, 2, "a square near the edge")]},
            {"id": 5, "regions": [vg_region(5001, 5, "   ")]},
        ],
    )
    (raw / "relationships.json").write_text(MALFORMED_RELATIONSHIPS)

    def kind(name: str, source: str, stage: str, error_type: str, words: str) -> BadKind:
        return BadKind(name, "visual_genome", source, stage, error_type, words)

    kinds = [
        kind(
            "malformed JSON annotation file",
            "relationships.json",
            "list",
            "MalformedAnnotationError",
            "relationships.json: malformed JSON at line 2",
        ),
        kind(
            "object for an unknown image id",
            "objects.json",
            "list",
            "UnknownImageError",
            "objects.json: [5] is for image id 999, not in image_data",
        ),
        kind(
            "box entirely outside the image (object dropped, image kept)",
            "VG_100K/3.jpg",
            "boxes",
            "BoxOutsideImageError",
            "object 302 (kite): box [500, 10, 20, 20] reaches outside the 40x40 image",
        ),
        kind(
            "image without object or usable region phrase",
            "VG_100K/5.jpg",
            "annotations",
            "NoCaptionError",
            "no object and no usable region description: region 5001 phrase is empty",
        ),
        kind(
            "missing image file",
            "VG_100K/4.jpg",
            "read",
            "MissingImageError",
            "image file VG_100K/4.jpg or VG_100K_2/4.jpg does not exist",
        ),
    ]
    return BadCorpus(
        format="visual_genome",
        job=JOB,
        argv=[
            "--source",
            str(raw),
            "--format",
            "visual_genome",
            "--corpus",
            "bad_visual_genome",
            *COMMON_FLAGS,
        ],
        raw=raw,
        kinds=kinds,
        written_sources={"VG_100K/1.jpg", "VG_100K/3.jpg"},
        accepted_kinds={"box 1 px past the edge (clipped)": "VG_100K/2.jpg"},
    )


def write_bad_corpora(root: Path) -> list[BadCorpus]:
    """Write the COCO and the Visual Genome bad corpora under ``root``."""
    return [
        write_coco(Path(root) / "coco_bad"),
        write_visual_genome(Path(root) / "visual_genome_bad"),
    ]


def extra_checks(corpus: BadCorpus, outcome) -> list[str]:
    """The bomb guard's limit is in the manifest; in Visual Genome a box 1 px past the edge is
    clipped and kept while an object entirely outside is dropped (its image kept)."""
    failures = []
    if outcome.manifest.get("max_image_pixels") != DEFAULT_MAX_IMAGE_PIXELS:
        failures.append(f"manifest max_image_pixels {outcome.manifest.get('max_image_pixels')}")
    if corpus.format != "visual_genome":
        return failures
    rows = {row["source"]: row for row in outcome.rows()}
    clipped, outside = rows.get("VG_100K/2.jpg"), rows.get("VG_100K/3.jpg")
    if clipped is None or outside is None:
        return [*failures, "VG_100K/2.jpg or VG_100K/3.jpg not written"]
    x, _, w, _ = clipped["object_boxes"][1]  # clipped to the 40 x 40 image, scaled to 32
    if clipped["object_ids"] != [201, 202] or abs(x + w - IMAGE_SIZE) > 1e-4:
        failures.append(f"the box 1 px past the edge was not clipped and kept: {clipped}")
    if clipped["object_boxes_original"][1] != [30.0, 4.0, 11.0, 8.0]:
        failures.append("the clipped box's original coordinates were not kept")
    if outside["object_ids"] != [301]:
        failures.append(f"object 302 (entirely outside) not dropped: {outside['object_ids']}")
    return failures
