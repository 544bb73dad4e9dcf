"""The image-text ingest against a plain PIL decode-resize-write loop over the same images.

The corpus: the generated COCO-layout sample corpus (``pipelines/sample_corpus/image_text/``:
rendered scenes of shapes, JPEG q90, 5 captions and 2-4 boxes per image) with ``--images`` train
+ ``--val-images`` val images of ``--corpus-image-size`` px, written once to ``--corpus``
(default ``data/raw/image_text_bench``, reused while its config is the same; ~5 ms an image to
generate). Both sides turn every image into the same row (one row per image: rows/s = images/s):
shorter side resized to ``--image-size`` and centre-cropped in one bicubic resampling from the
JPEG draft, re-encoded as JPEG q90; captions with whitespace collapsed; boxes clipped and mapped
onto the output image; zstd Parquet, row groups of 512, dictionary encoding for the string
columns only (the shard writer's settings).

(a) plain: what a user would write without the project, in one process: ``json.loads`` of the
    captions and instances files, then per image ``PIL.Image.open`` -> EXIF orientation read
    -> ``draft`` -> ``convert("RGB")`` -> ``resize(box=...)`` -> ``save(JPEG)`` and the row's
    captions and boxes as Python lists; ``pa.Table.from_pydict`` and
    ``pyarrow.parquet.write_table`` once per split. The generated corpus has no EXIF-rotated,
    broken or odd-mode image and no bad annotation: the plain loop raises if it meets one,
    where the project checks every image and annotation (that checking is part of its cost).
(b) Ray: the whole ingest as ``jobs/ingest_image_text.py`` runs it (``init_ray(dashboard=False)``
    then ``run_image_text_ingest``: listing on the driver, shard tasks of ~1/64 of the corpus on
    Ray, shards + manifest), in its own subprocess per ``--ray-cpus`` value n (one Ray session
    per process, as in ``benchmarks/av_decode.py``), ``concurrency`` = n shard tasks at a time
    (Ray itself gets at least 4 logical CPUs, ``training/ray_runtime.py``). Reported:
    ``ray_start_s`` (``init_ray``), ``listing_s`` (ingest start -> tasks planned),
    ``first_task_s`` (ingest start -> first finished task: listing, task start, worker imports,
    the task's own work, ``first_task_work_s``), ``startup_s`` (Ray start + first task) and
    ``fixed_startup_s`` (the same without the first task's own work), ``startup_share`` (of the
    end-to-end time: the corpus is big enough when it is < 0.1), rows/s end to end (Ray start
    -> manifest) and steady (rows after the first task over first -> last finished task).
(c) project in process, no Ray: the runner's ``ShardTaskWorker.run`` (what a shard task runs per
    image: ``ImageTextSource.decode``, quarantine bookkeeping, summaries, shard writer) against
    (a) on the same first ``--in-process-images`` images, annotations parsed beforehand on both
    sides: the per-image cost before Ray's. ``--profile N`` prints cProfile's top N of (c).

The sides alternate, (a), (c), (b) per n, ``--repeat`` times; the best run of each counts
(another job may be using the cores: the load averages are in the JSON). Process start and
imports are timed on neither side. The first run of (b) is checked against (a): the same rows,
the same values in every column but the image (boxes to 1e-4 px), the same pixels for
``--check-pixels`` images spread over the corpus, and the number of byte-identical JPEGs.

    python benchmarks/ingest_images.py              # 60,000 + 6,000 images, generated once
    python benchmarks/ingest_images.py --repeat 3 --ray-cpus 1,2
    python benchmarks/ingest_images.py --images 400 --val-images 40 --repeat 1
    python benchmarks/ingest_images.py --ray-cpus "" --profile 30     # (a) and (c) only

Prints progress, then one JSON line: the corpus, rows, the rows/s of (a), (c) and of (b) per CPU
count with its start-up split, the ratios to (a) next to the goals (Ray end to end >= 0.8 with 1
CPU, >= 1.6 with 2 CPUs, issue 14), the equal-work checks, ``os.cpu_count()`` and the load
averages.
"""

from __future__ import annotations

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()  # before anything imports Ray

import argparse
import cProfile
import hashlib
import io
import json
import os
import pstats
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image
from run_facts import machine_fields

from crossmodal_ray.pipelines.core.runner import IngestConfig, ShardTask, ShardTaskWorker
from crossmodal_ray.pipelines.core.shard_writer import dictionary_columns
from crossmodal_ray.pipelines.core.source import InputItem
from crossmodal_ray.pipelines.image_text.schema import coco_schema
from crossmodal_ray.pipelines.image_text.source import ImageTextSource, ImageTextSourceConfig
from crossmodal_ray.pipelines.sample_corpus.image_text.corpus import (
    ImageTextSampleConfig,
    make_image_text_corpus,
)

GOAL_RATIO = {1: 0.8, 2: 1.6}  # issue 14: project / plain loop with 1 and with 2 CPUs
DEFAULT_CORPUS = "data/raw/image_text_bench"
CORPUS_NAME = "bench"
JPEG_QUALITY = 90
ROW_GROUP_ROWS = 512
EXIF_ORIENTATION = 0x0112
BOX_TOLERANCE_PX = 1e-4  # boxes are float32: allow the last bit
LIST_LINE = re.compile(r"\[ingest\] list: ")
# The runner logs "[ingest] k/N <split> task <i> (<n> images from ...): ... (<s> s)".
TASK_LINE = re.compile(r"\[ingest\] \d+/\d+ \w+ task \d+ \((\d+) images .*\(([\d.]+) s\)$")


# --- (a) the plain loop -----------------------------------------------------------------------


@dataclass
class PlainImage:
    """One captioned image as the plain loop reads it from the COCO annotation files."""

    image_id: int
    split: str
    file: str  # relative to the corpus root: train2017/000000000001.jpg
    size: tuple[int, int]  # annotated (width, height)
    captions: list[tuple[int, str]]  # (caption id, text)
    boxes: list[tuple[int, int, str, list[float]]]  # (box id, category id, name, [x, y, w, h])


def read_coco(root: Path) -> list[PlainImage]:
    """Every captioned image of ``annotations/captions_*.json`` (+ instances), by file then id."""
    images: list[PlainImage] = []
    for captions_file in sorted((root / "annotations").glob("captions_*.json")):
        folder = captions_file.stem.removeprefix("captions_")
        split = next(s for s in ("train", "val", "test") if folder.startswith(s))
        content = json.loads(captions_file.read_text())
        by_id = {
            e["id"]: PlainImage(
                e["id"], split, f"{folder}/{e['file_name']}", (e["width"], e["height"]), [], []
            )
            for e in content["images"]
        }
        for entry in content["annotations"]:
            by_id[entry["image_id"]].captions.append((entry["id"], entry["caption"]))
        instances = json.loads((root / "annotations" / f"instances_{folder}.json").read_text())
        names = {c["id"]: c["name"] for c in instances["categories"]}
        for entry in instances["annotations"]:
            box = [float(v) for v in entry["bbox"]]
            record = (entry["id"], entry["category_id"], names[entry["category_id"]], box)
            by_id[entry["image_id"]].boxes.append(record)
        images += [by_id[i] for i in sorted(by_id)]
    return images


def plain_row(root: Path, image: PlainImage, size: int) -> dict:
    """One image's row: PIL decode -> resize + centre crop -> JPEG; captions; mapped boxes."""
    source = image.file
    picture = Image.open(io.BytesIO((root / source).read_bytes()))
    width, height = picture.size
    if picture.getexif().get(EXIF_ORIENTATION, 1) != 1:
        raise ValueError(f"{source}: EXIF-rotated (the generated corpus has none)")
    if image.size != (width, height):
        raise ValueError(f"{source}: annotated as {image.size}, the file is {width}x{height}")
    # Shorter side to `size`, then the centred square: one resampling from the JPEG draft.
    scale = size / min(width, height)
    resized_w, resized_h = max(size, round(width * scale)), max(size, round(height * scale))
    left, top = (resized_w - size) // 2, (resized_h - size) // 2
    picture.draft(None, (size, size))
    picture = picture.convert("RGB")
    fx, fy = picture.width / resized_w, picture.height / resized_h
    window = (left * fx, top * fy, (left + size) * fx, (top + size) * fy)
    jpeg = io.BytesIO()
    picture.resize((size, size), Image.Resampling.BICUBIC, box=window).save(
        jpeg, format="JPEG", quality=JPEG_QUALITY
    )

    captions = [(i, " ".join(text.split())) for i, text in image.captions]
    captions = [(i, text) for i, text in captions if text]
    sx, sy = resized_w / width, resized_h / height
    boxes = []
    for _, _, _, (x, y, w, h) in image.boxes:
        # Clip to the image, then map onto the output square (clipped to it).
        x0, y0 = max(0.0, x), max(0.0, y)
        w, h = min(float(width), x + w) - x0, min(float(height), y + h) - y0
        if w <= 0 or h <= 0:
            raise ValueError(f"{source}: a box outside the image (the generated corpus has none)")
        out_x0 = min(max(x0 * sx - left, 0.0), size)
        out_y0 = min(max(y0 * sy - top, 0.0), size)
        out_x1 = min(max((x0 + w) * sx - left, 0.0), size)
        out_y1 = min(max((y0 + h) * sy - top, 0.0), size)
        boxes.append([out_x0, out_y0, out_x1 - out_x0, out_y1 - out_y0])
    return {
        "sample_id": hashlib.sha1(source.encode()).hexdigest()[:20],
        "source": source,
        "image_id": image.image_id,
        "image": jpeg.getvalue(),
        "width": width,
        "height": height,
        "split": image.split,
        "captions": [text for _, text in captions],
        "caption_ids": [i for i, _ in captions],
        "boxes": boxes,
        "boxes_original": [b[3] for b in image.boxes],
        "box_ids": [b[0] for b in image.boxes],
        "categories": [" ".join(b[2].split()) for b in image.boxes],
        "category_ids": [b[1] for b in image.boxes],
    }


def plain_write(root: Path, images: list[PlainImage], size: int, out: Path) -> int:
    """(a) over ``images``: one ``<split>.parquet`` per split under ``out``; returns the rows."""
    schema = coco_schema(size, "jpeg")
    rows = 0
    for split in dict.fromkeys(image.split for image in images):
        columns: dict[str, list] = {name: [] for name in schema.names}
        for image in images:
            if image.split == split:
                for name, value in plain_row(root, image, size).items():
                    columns[name].append(value)
        table = pa.Table.from_pydict(columns, schema=schema)
        pq.write_table(
            table,
            out / f"{split}.parquet",
            compression="zstd",
            row_group_size=ROW_GROUP_ROWS,
            use_dictionary=dictionary_columns(schema),
        )
        rows += table.num_rows
    return rows


def plain_pass(root: Path, size: int, out: Path) -> tuple[float, int]:
    """(a) over the whole corpus, annotation files included: seconds and rows."""
    started = time.perf_counter()
    rows = plain_write(root, read_coco(root), size, out)
    return time.perf_counter() - started, rows


# --- (c) the project in this process: what a shard task runs ---------------------------------


def project_pass(adapter: ImageTextSource, items: list[InputItem], out: Path) -> tuple[float, int]:
    """(c): ``ShardTaskWorker.run`` over ``items`` (one task per split), no Ray: seconds, rows."""
    started = time.perf_counter()
    worker = ShardTaskWorker(
        adapter, str(out), rows_per_shard=1 << 30, row_group_rows=ROW_GROUP_ROWS
    )
    rows = 0
    for split in dict.fromkeys(item.split for item in items):
        task = ShardTask(split, 0, [item for item in items if item.split == split])
        rows += worker.run(task)["rows"]
    return time.perf_counter() - started, rows


def in_process_pass(
    root: Path, adapter: ImageTextSource, items: list[InputItem], size: int, scratch: Path
) -> tuple[tuple[float, int], tuple[float, int]]:
    """(a) then (c) on the same images: (seconds, rows) of each."""
    images = read_coco(root)[: len(items)]
    plain_out, project_out = scratch / "in_process_plain", scratch / "in_process_project"
    plain_out.mkdir()
    try:
        started = time.perf_counter()
        rows = plain_write(root, images, size, plain_out)
        plain = (time.perf_counter() - started, rows)
        project = project_pass(adapter, items, project_out)
    finally:
        shutil.rmtree(plain_out, ignore_errors=True)
        shutil.rmtree(project_out, ignore_errors=True)
    return plain, project


def profile_project(adapter: ImageTextSource, items: list[InputItem], top: int) -> None:
    with tempfile.TemporaryDirectory() as out:
        profiler = cProfile.Profile()
        profiler.enable()
        project_pass(adapter, items, Path(out))
        profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    print(text.getvalue(), file=sys.stderr, flush=True)


# --- (b) the whole ingest through Ray, one subprocess per CPU count --------------------------


def ray_ingest_child(source: str, cpus: int, image_size: int, out: str) -> dict:
    """(b), in its own process: the whole ingest through a local Ray, ``cpus`` tasks at a time."""
    from crossmodal_ray.pipelines.image_text.ingest import run_image_text_ingest

    events: list[tuple[float, str]] = []
    started = time.perf_counter()
    init_ray(num_cpus=cpus, dashboard=False)  # as jobs/ingest_image_text.py does
    ray_start = time.perf_counter() - started
    config = ImageTextSourceConfig(source=source, image_size=image_size)
    ingest = IngestConfig(out=out, corpus=CORPUS_NAME, concurrency=cpus)
    ingest_started = time.perf_counter()
    manifest = run_image_text_ingest(
        config, ingest, log=lambda m: events.append((time.perf_counter(), m))
    )
    ended = time.perf_counter()
    listed_at = next(at for at, m in events if LIST_LINE.search(m))
    finished = [(at, TASK_LINE.search(m)) for at, m in events]
    finished = [(at, match) for at, match in finished if match]
    first_at, first = finished[0]
    last_at = finished[-1][0]
    rows = manifest["totals"]["written"]
    first_task = first_at - ingest_started
    first_work = float(first.group(2))  # the runner logs it to 0.1 s
    end_to_end = ended - started
    busy = sum(float(match.group(2)) for _, match in finished)
    import ray

    return {
        "cpus": cpus,
        "ray_logical_cpus": int(ray.cluster_resources().get("CPU", 0)),
        "tasks": len(finished),
        "rows": rows,
        "rejected": manifest["totals"]["rejected"],
        "ray_start_s": round(ray_start, 2),
        "listing_s": round(listed_at - ingest_started, 2),
        "first_task_s": round(first_task, 2),
        "first_task_work_s": round(first_work, 2),
        "startup_s": round(ray_start + first_task, 2),
        "fixed_startup_s": round(ray_start + first_task - first_work, 2),
        "ingest_s": round(ended - ingest_started, 2),
        "end_to_end_s": round(end_to_end, 2),
        "startup_share": round((ray_start + first_task) / end_to_end, 3),
        "rows_per_s": round(rows / end_to_end, 1),
        "rows_per_s_steady": round((rows - int(first.group(1))) / max(last_at - first_at, 1e-9), 1),
        "rows_per_s_per_busy_worker": round(rows / max(busy, 1e-9), 1),
    }


def run_ray_child(args: argparse.Namespace, cpus: int, out: Path) -> dict:
    command = [
        sys.executable,
        __file__,
        *("--corpus", args.corpus, "--image-size", str(args.image_size)),
        *("--ray-child", str(cpus), "--ray-child-out", str(out)),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        raise RuntimeError(f"Ray ingest with {cpus} CPU(s) failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- equal work -------------------------------------------------------------------------------


def read_rows(files: list[Path]) -> pa.Table:
    """The rows of ``files``, ordered by image id."""
    return pa.concat_tables([pq.read_table(f) for f in files]).sort_by("image_id")


def project_files(out: Path) -> list[Path]:
    """Every shard file the project's manifest lists."""
    manifest = json.loads((out / CORPUS_NAME / "_manifest.json").read_text())
    return [out / CORPUS_NAME / f for info in manifest["splits"].values() for f in info["files"]]


def compare_rows(plain: pa.Table, project: pa.Table, check_pixels: int) -> dict:
    """Assert the same rows: every column but the image equal (boxes to ``BOX_TOLERANCE_PX``),
    the same pixels for ``check_pixels`` images spread over the corpus; count identical JPEGs."""
    if plain.num_rows != project.num_rows:
        raise AssertionError(f"rows: plain loop {plain.num_rows}, project {project.num_rows}")
    for name in plain.column_names:
        if name == "image":
            continue
        ours, theirs = plain.column(name).to_pylist(), project.column(name).to_pylist()
        if name.startswith("boxes"):
            for a, b in zip(ours, theirs, strict=True):
                if len(a) != len(b) or (a and not np.allclose(a, b, rtol=0, atol=BOX_TOLERANCE_PX)):
                    raise AssertionError(f"column {name}: plain loop {a}, project {b}")
        elif ours != theirs:
            raise AssertionError(f"column {name} differs between the plain loop and the project")
    plain_images, project_images = plain.column("image"), project.column("image")
    picks = np.unique(np.linspace(0, plain.num_rows - 1, max(1, check_pixels)).astype(int))
    for k in picks.tolist():
        a = np.asarray(Image.open(io.BytesIO(plain_images[k].as_py())).convert("RGB"))
        b = np.asarray(Image.open(io.BytesIO(project_images[k].as_py())).convert("RGB"))
        if a.shape != b.shape or not np.array_equal(a, b):
            raise AssertionError(f"image {plain.column('image_id')[k]}: the pixels differ")
    identical = sum(
        a == b for a, b in zip(plain_images.to_pylist(), project_images.to_pylist(), strict=True)
    )
    return {"rows": plain.num_rows, "pixels_checked": len(picks), "identical_jpegs": identical}


# --- main -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=DEFAULT_CORPUS, help="generated corpus folder")
    parser.add_argument("--images", type=int, default=60000, help="train images generated")
    parser.add_argument("--val-images", type=int, default=6000, help="val images generated")
    parser.add_argument("--corpus-image-size", type=int, default=128, help="their side (px)")
    parser.add_argument("--image-size", type=int, default=224, help="stored side S (px)")
    parser.add_argument("--repeat", type=int, default=1, help="passes of each side")
    parser.add_argument("--ray-cpus", default="1,2", help='(b) CPU counts; "" to skip')
    parser.add_argument("--in-process-images", type=int, default=2000, help="(c); 0 to skip")
    parser.add_argument("--check-pixels", type=int, default=8, help="images compared by pixel")
    parser.add_argument("--profile", type=int, default=0, help="print the top N of (c)")
    parser.add_argument("--ray-child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--ray-child-out", default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def rate(rows: int, runs: list[tuple[float, int]]) -> dict:
    seconds = min(s for s, _ in runs)
    return {
        "seconds": round(seconds, 3),
        "rows_per_s": round(rows / seconds, 1),
        "runs_s": [round(s, 3) for s, _ in runs],
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.ray_child is not None:
        source = str(Path(args.corpus) / "coco")
        result = ray_ingest_child(source, args.ray_child, args.image_size, args.ray_child_out)
        print(json.dumps(result), flush=True)
        return result
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    sample = ImageTextSampleConfig(
        train_images=args.images, val_images=args.val_images, image_size=args.corpus_image_size
    )
    print(f"[benchmark] corpus {args.corpus}: {args.images} + {args.val_images} images", flush=True)
    make_image_text_corpus(args.corpus, sample)
    corpus_seconds = time.perf_counter() - started
    root = Path(args.corpus) / "coco"
    adapter = ImageTextSource(ImageTextSourceConfig(source=str(root), image_size=args.image_size))
    items = adapter.list_inputs()[0][: args.in_process_images]
    cpu_counts = [int(c) for c in args.ray_cpus.split(",") if c.strip()]

    plain_runs, in_plain_runs, in_project_runs = [], [], []
    ray_runs: dict[int, list[dict]] = {cpus: [] for cpus in cpu_counts}
    same_rows: dict[str, dict] = {}
    scratch = Path(tempfile.mkdtemp(prefix="ingest_images_"))
    try:
        for run in range(args.repeat):
            plain_out = scratch / "plain"
            plain_out.mkdir()
            plain_runs.append(plain_pass(root, args.image_size, plain_out))
            message = f"[benchmark] pass {run + 1}/{args.repeat}: plain {plain_runs[-1][0]:.1f} s"
            plain_table = read_rows(sorted(plain_out.glob("*.parquet"))) if run == 0 else None
            shutil.rmtree(plain_out)
            if items:
                in_plain, in_project = in_process_pass(
                    root, adapter, items, args.image_size, scratch
                )
                in_plain_runs.append(in_plain)
                in_project_runs.append(in_project)
                message += (
                    f"; in process, {len(items)} images: plain {in_plain[0]:.1f} s, "
                    f"project {in_project[0]:.1f} s"
                )
            print(message, flush=True)
            for cpus in cpu_counts:
                out = scratch / f"ray_{cpus}"
                ray_runs[cpus].append(run_ray_child(args, cpus, out))
                done = ray_runs[cpus][-1]
                print(
                    f"[benchmark] pass {run + 1}/{args.repeat}: Ray, {cpus} CPU(s): "
                    f"{done['end_to_end_s']:.1f} s end to end, start-up {done['startup_s']:.1f} s",
                    flush=True,
                )
                if run == 0:
                    project = read_rows(project_files(out))
                    same_rows[f"ray_{cpus}_cpu"] = compare_rows(
                        plain_table, project, args.check_pixels
                    )
                    print(f"[benchmark] same rows: {same_rows[f'ray_{cpus}_cpu']}", flush=True)
                shutil.rmtree(out)
            plain_table = None
        if args.profile and items:
            profile_project(adapter, items, args.profile)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    rows = plain_runs[0][1]
    if any(n != rows for _, n in plain_runs):
        raise AssertionError(f"the plain loop wrote {[n for _, n in plain_runs]} rows")
    for cpus, runs in ray_runs.items():
        if any(r["rows"] != rows or r["rejected"] for r in runs):
            raise AssertionError(f"Ray, {cpus} CPUs: {[r['rows'] for r in runs]} rows, not {rows}")
    if any(a[1] != b[1] for a, b in zip(in_plain_runs, in_project_runs, strict=True)):
        raise AssertionError("in process: the plain loop and the project wrote different rows")
    plain = rate(rows, plain_runs)
    ratios: dict[str, float] = {}
    in_process = {}
    if in_project_runs:
        subset = in_plain_runs[0][1]
        in_process = {
            "rows": subset,
            "plain": rate(subset, in_plain_runs),
            "project": rate(subset, in_project_runs),
        }
        ratios["project_in_process"] = round(
            in_process["project"]["rows_per_s"] / in_process["plain"]["rows_per_s"], 3
        )
    ray = {}
    for cpus, runs in ray_runs.items():
        best = min(runs, key=lambda r: r["end_to_end_s"])
        ray[str(cpus)] = {**best, "runs_end_to_end_s": [r["end_to_end_s"] for r in runs]}
        ratios[f"ray_{cpus}_cpu"] = round(best["rows_per_s"] / plain["rows_per_s"], 3)
        ratios[f"ray_{cpus}_cpu_steady"] = round(best["rows_per_s_steady"] / plain["rows_per_s"], 3)
    goals = {f"ray_{n}_cpu": GOAL_RATIO[n] for n in cpu_counts if n in GOAL_RATIO}
    result = {
        "benchmark": "ingest_images",
        "corpus": {
            "folder": args.corpus,
            "images": {"train": args.images, "val": args.val_images},
            "image_px": args.corpus_image_size,
            "ready_s": round(corpus_seconds, 1),
        },
        "image_size": args.image_size,
        "rows": rows,
        "repeat": args.repeat,
        "plain": plain,
        "project_in_process": in_process,
        "ray": ray,
        "ratio_to_plain": ratios,
        "goal_ratio": goals,
        "meets_goal": {name: ratios[name] >= goal for name, goal in goals.items()},
        "same_rows": same_rows,
        **machine_fields(load_start, started),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
