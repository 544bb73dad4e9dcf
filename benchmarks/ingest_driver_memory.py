"""The ingest driver's memory does not grow with the corpus: peak RSS growth while ingesting >= 1 GB.

Generates (once, cached) a folder of JPEG images of random scenes, then ingests it with the
generic runner (``pipelines/core/runner.py``) through a small image source adapter defined
here (decode with PIL, resize to ``--size``, one uint8 [H, W, 3] tensor row per image), and
samples the driver process's resident memory every 50 ms. The decoded rows total
``images x H x W x 3`` bytes (7,000 images at 224 px = 1.05 GB); the actors write them, the
driver only receives per-task counts, so its growth should stay flat.

    python benchmarks/ingest_driver_memory.py                 # 7,000 images, 224 px, ~1.05 GB
    python benchmarks/ingest_driver_memory.py --images 20000  # 3 GB of rows

Prints progress, then one JSON line: rows, row_gb, driver_rss_before_mb,
driver_peak_rss_growth_mb, goal_mb (200), within_goal, seconds.
"""

from __future__ import annotations

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()  # before anything imports Ray

import argparse
import io
import json
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from crossmodal_ray.pipelines.core.quarantine import at_stage
from crossmodal_ray.pipelines.core.runner import IngestConfig, run_ingest
from crossmodal_ray.pipelines.core.source import DecodedInput, InputItem

GOAL_MB = 200.0


def rss_mb() -> float:
    """Resident memory of this process (``/proc/self/status``), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class PeakSampler:
    """Samples this process's RSS in a thread; ``peak`` is the highest value seen."""

    def __init__(self, period_s: float = 0.05) -> None:
        self.period_s, self.peak, self._stop = period_s, rss_mb(), threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_mb())
            time.sleep(self.period_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def make_images(folder: Path, count: int, size: int) -> None:
    """``count`` JPEGs of random coloured rectangles on a gradient, with noise (cached)."""
    from PIL import Image, ImageDraw

    marker = folder / f".complete-{count}-{size}"
    if marker.exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    for i in range(count):
        base = np.stack([ramp[None, :].repeat(size, 0), ramp[:, None].repeat(size, 1)], -1)
        pixels = np.concatenate([base, np.full((size, size, 1), 128.0)], -1)
        pixels += rng.normal(0, 12, pixels.shape)
        image = Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(image)
        for _ in range(3):
            x, y = rng.integers(0, size - 40, 2)
            w, h = rng.integers(20, 80, 2)
            draw.rectangle(
                [x, y, x + w, y + h], fill=tuple(int(c) for c in rng.integers(0, 255, 3))
            )
        scene = folder / f"scene{i // 1000:02d}"
        scene.mkdir(exist_ok=True)
        image.save(scene / f"{i:06d}.jpg", quality=85)
    marker.write_text("done")


class JpegFolderSource:
    """Every ``*.jpg`` under a folder -> one row: a uint8 [size, size, 3] tensor (PIL)."""

    format = "jpeg_folder"
    schema_version = 1
    group_key_name = "image"
    input_noun = "images"
    stages = ("list", "read", "decode")
    decoder_needs_actor = False

    def __init__(self, root: str, size: int) -> None:
        self.root, self.size = root, size

    def schema(self) -> pa.Schema:
        return pa.schema(
            [
                pa.field("sample_id", pa.string()),
                pa.field("source", pa.string()),
                pa.field("image", pa.fixed_shape_tensor(pa.uint8(), [self.size, self.size, 3])),
            ]
        )

    def list_inputs(self):
        root = Path(self.root)
        row_bytes = self.size * self.size * 3
        items = [
            InputItem(p.relative_to(root).as_posix(), p.stem, size_bytes=row_bytes)
            for p in sorted(root.rglob("*.jpg"))
        ]
        return items, []

    def open_decoder(self) -> None:
        return None

    def decode(self, item: InputItem, state) -> DecodedInput:
        from PIL import Image

        with at_stage("read"):
            data = (Path(self.root) / item.source).read_bytes()
        with at_stage("decode"):
            image = Image.open(io.BytesIO(data)).convert("RGB").resize((self.size, self.size))
            pixels = np.asarray(image, dtype=np.uint8)[None]
        tensor_type = self.schema().field("image").type
        rows = pa.table(
            {
                "sample_id": [item.source],
                "source": [item.source],
                "image": pa.ExtensionArray.from_storage(
                    tensor_type,
                    pa.FixedSizeListArray.from_arrays(pixels.reshape(-1), pixels[0].size),
                ),
            },
            schema=self.schema(),
        )
        return DecodedInput(rows=rows)

    def summarize(self, rows, infos):
        return {"rows": rows.num_rows}

    def manifest_fields(self, summaries):
        return {"image_size": self.size}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=7000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--raw", default="data/raw/benchmark_jpegs", help="image folder (cached)")
    parser.add_argument("--out", default=None, help="shard root (default: a temporary folder)")
    parser.add_argument("--shard-mb", type=float, default=128.0)
    args = parser.parse_args(argv)

    started = time.perf_counter()
    print(f"[benchmark] images: {args.images} x {args.size} px at {args.raw}", flush=True)
    make_images(Path(args.raw), args.images, args.size)
    init_ray()
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or tmp
        adapter = JpegFolderSource(str(Path(args.raw).resolve()), args.size)
        config = IngestConfig(out=out, shard_mb=args.shard_mb)
        before = rss_mb()
        ingest_started = time.perf_counter()
        with PeakSampler() as sampler:
            manifest = run_ingest(adapter, config, "benchmark_jpegs", args.raw)
        ingest_seconds = time.perf_counter() - ingest_started
    rows = manifest["totals"]["written"]
    row_gb = rows * args.size * args.size * 3 / 1e9
    growth = sampler.peak - before
    result = {
        "rows": rows,
        "row_gb": round(row_gb, 3),
        "driver_rss_before_mb": round(before, 1),
        "driver_peak_rss_mb": round(sampler.peak, 1),
        "driver_peak_rss_growth_mb": round(growth, 1),
        "goal_mb": GOAL_MB,
        "within_goal": growth < GOAL_MB,
        "ingest_seconds": round(ingest_seconds, 1),
        "rows_per_s": round(rows / ingest_seconds, 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
