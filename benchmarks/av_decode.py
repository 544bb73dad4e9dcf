"""Video decoding in the AV ingest against a plain decord loop over the same frames.

The frames are the 25 fps frames of every annotated face-track segment the ingest writes
(``pipelines/av/``): for the default sample corpus 12,941 face crops of 112 x 112 from 24
videos. Three ways to produce them, all on the same videos:

(a) plain: what a user would write without the project: per video a
    ``decord.VideoReader`` (one thread), ``get_batch`` of the needed frame indices (up to
    ``--plain-batch`` at a time), then per crop the ingest's own ``crop_face`` (grayscale +
    bilinear resize with PIL). The frame indices and crop windows are planned once, untimed,
    with the ingest's planning code (``plan_crops``), so both paths crop the same pixels; the
    planning time is reported (``plan_seconds``).
(a2) plain with sound: (a) plus what the ingest adds for TalkNet's audio input, written the
    plain way: decord's ``AudioReader`` at 16 kHz mono for the whole soundtrack, then per
    segment the librosa MFCC of its samples (the ingest's settings). (b) and (a2) do the same
    work: ``ingest_decode_vs_plain_with_sound`` is the like-for-like ratio.
(b) ingest decode: the adapter's ``decode`` of each video in this process, what a decoding
    actor runs per input (open + timestamps, soundtrack, MFCC, crops, Arrow rows). Its phases
    are timed by wrapping the functions ``decoding.py`` calls, so the MFCC (librosa) and the
    soundtrack (PyAV) can be taken out: ``fps_without_mfcc``, ``fps_video_only``. BLAS runs with
    ``--blas-threads`` threads (1: what a 1-CPU Ray actor gets, Ray sets OMP_NUM_THREADS to
    the actor's CPUs); one more pass with BLAS's default threads shows what that costs.
(c) the whole ingest job (``run_av_ingest``) through a local Ray, in a subprocess per
    ``--ray-actors`` value (one Ray session per process): end to end (Ray start + listing +
    actor start + decoding + shards + manifest), and without the fixed start-up (frames after
    the first finished task over the time from the first to the last finished task). Ray gets
    ``init_ray(num_cpus=n)`` logical CPUs (at least 4, see ``training/ray_runtime.py``), so the
    number of decoding actors is set with the ingest's ``concurrency`` = n.

(a) and (b) run ``--repeat`` times, alternating; the best run counts (another job may be
using the cores: the load average is in the JSON). The first video is decoded once by both
before timing (warm-up) and its crops are compared pixel for pixel.

    python benchmarks/av_decode.py                          # sample corpus, 1-2 minutes here
    python benchmarks/av_decode.py --repeat 3 --ray-actors 1,2
    python benchmarks/av_decode.py --source ../shared/data/talking_face --ray-actors ""
    python benchmarks/av_decode.py --ray-actors "" --profile 25   # cProfile of (b)

Prints progress, then one JSON line: frames (equal in (a) and (b), asserted), fps of (a), (b)
and (c), the ratios to (a) next to the goal 0.8 (issue 14), phase seconds of (b), CPU count
and load averages.
"""

from __future__ import annotations

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

apply_local_ray_env()  # before anything imports Ray

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import re
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from run_facts import machine_fields

from crossmodal_ray.pipelines.av import decoding
from crossmodal_ray.pipelines.av.audio import MfccConfig, Soundtrack, segment_mfcc
from crossmodal_ray.pipelines.av.crops import CropConfig, crop_face, plan_crops
from crossmodal_ray.pipelines.av.source import SAMPLE_AV_DIR, AVDecoder, AVSource, AVSourceConfig
from crossmodal_ray.pipelines.av.video import DecordFrames
from crossmodal_ray.pipelines.core.source import InputItem

GOAL_RATIO = 0.8  # issue 14, goal 5: ingest decode >= 0.8 x a plain decord loop
# What decoding.py calls, timed one by one in (b) (the rest: planning, labels, Arrow rows).
PHASES = ("open_video", "read_soundtrack", "segment_features", "crops_with_fallback")
TASK_LINE = re.compile(r"\[ingest\] (\d+)/(\d+) (\w+) task (\d+) ")
TASK_SECONDS = re.compile(r"\(([\d.]+) s\)$")


@dataclass
class VideoPlan:
    """The crops of one video: decoded frame indices and, per crop, its frame and window."""

    path: Path
    wanted: np.ndarray  # [F] ascending unique frame indices
    sources: np.ndarray  # [N] frame index of each crop
    windows: np.ndarray  # [N, 4] crop windows (left, top, right, bottom)
    segments: list[int]  # crops per kept segment, in the ingest's order
    spans: list[tuple[float, int]]  # (start time, frames) per kept segment: its MFCC


def plan_video(item: InputItem, root: Path, source: AVSourceConfig) -> VideoPlan:
    """The crops the ingest makes of this video (segments of tracks long enough)."""
    settings = source.decode_settings()
    path = root / item.source
    video = DecordFrames(path, settings.video_threads)
    try:
        segments, _ = decoding.payload_segments(item, video.duration, settings)
        kept = [s for s in segments if s.track.num_frames >= settings.min_track_frames]
        plans = [plan_crops(s, video, settings.crop) for s in kept]
    finally:
        video.close()
    sources = np.concatenate([p.sources for p in plans]) if plans else np.zeros(0, np.int64)
    windows = np.concatenate([p.windows for p in plans]) if plans else np.zeros((0, 4), np.int64)
    spans = [(s.start_time, s.count) for s in kept]
    return VideoPlan(path, np.unique(sources), sources, windows, [s.count for s in kept], spans)


def plain_decord_crops(plan: VideoPlan, crop: CropConfig, batch: int) -> np.ndarray:
    """(a): ``[N, S, S]`` crops of one video with decord's ``get_batch`` and ``crop_face``."""
    import decord

    reader = decord.VideoReader(str(plan.path), ctx=decord.cpu(0), num_threads=1)
    out = np.empty((len(plan.sources), crop.frame_size, crop.frame_size), np.uint8)
    for start in range(0, len(plan.wanted), batch):
        wanted = plan.wanted[start : start + batch]
        frames = reader.get_batch(wanted.tolist()).asnumpy()  # [B, H, W, 3]
        for j in np.flatnonzero((plan.sources >= wanted[0]) & (plan.sources <= wanted[-1])):
            frame = frames[np.searchsorted(wanted, plan.sources[j])]
            out[j] = crop_face(frame, plan.windows[j], crop)
    del reader
    return out


def plain_audio_features(plan: VideoPlan, mfcc: MfccConfig, fps: float) -> int:
    """(a2)'s sound: decord's ``AudioReader`` at 16 kHz mono, then per segment the MFCC of its
    samples (librosa, the ingest's settings): what a user adds to (a) for TalkNet's input.
    Returns the MFCC rows computed."""
    import decord

    reader = decord.AudioReader(str(plan.path), ctx=decord.cpu(0), sample_rate=mfcc.sample_rate)
    samples = np.asarray(reader[:].asnumpy(), np.float32).mean(axis=0)
    del reader
    track = Soundtrack(samples, mfcc.sample_rate, "decord")
    rows = 0
    for start_time, count in plan.spans:
        rows += len(segment_mfcc(track, start_time, count, fps, mfcc, max_pad_s=1.0))
    return rows


def plain_pass(
    plans: list[VideoPlan],
    crop: CropConfig,
    batch: int,
    audio: tuple[MfccConfig, float] | None = None,
) -> tuple[float, int]:
    """(a) frames and crops; with ``audio`` (MFCC settings, fps) also (a2)'s sound."""
    started = time.perf_counter()
    frames = 0
    for plan in plans:
        frames += len(plain_decord_crops(plan, crop, batch))
        if audio is not None:
            plain_audio_features(plan, *audio)
    return time.perf_counter() - started, frames


@contextlib.contextmanager
def timed_phases() -> Iterator[dict[str, float]]:
    """Seconds spent in each of ``PHASES`` (wrapping ``decoding``'s references to them)."""
    seconds: dict[str, float] = defaultdict(float)
    originals = {name: getattr(decoding, name) for name in PHASES}

    def timed(name, function):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                seconds[name] += time.perf_counter() - started

        return wrapper

    for name, function in originals.items():
        setattr(decoding, name, timed(name, function))
    try:
        yield seconds
    finally:
        for name, function in originals.items():
            setattr(decoding, name, function)


def ingest_pass(
    adapter: AVSource, state: AVDecoder, items: list[InputItem], blas_threads: int | None
) -> tuple[float, int, dict[str, float]]:
    """(b): seconds, frames and phase seconds of decoding every video in this process."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=blas_threads), timed_phases() as phases:
        started = time.perf_counter()
        frames = 0
        for item in items:
            decoded = adapter.decode(item, state)
            if decoded.rejected:
                raise RuntimeError(f"{item.source}: rejected {decoded.rejected[:1]}")
            frames += decoded.info["frames"]
        seconds = time.perf_counter() - started
    return seconds, frames, dict(phases)


def check_same_crops(adapter, state, item, plan, crop, batch) -> None:
    """Warm-up and check: (a) and (b) give the same pixels on ``item``."""
    plain = plain_decord_crops(plan, crop, batch)
    rows = adapter.decode(item, state).rows
    ingest = np.concatenate(
        [np.frombuffer(f, np.uint8) for f in rows.column("frames").to_pylist()]
    ).reshape(plain.shape)
    if rows.column("num_frames").to_pylist() != plan.segments or not np.array_equal(plain, ingest):
        raise AssertionError(f"{item.source}: the plain loop and the ingest crop differently")


def profile_ingest(adapter, state, items, blas_threads, top: int) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    ingest_pass(adapter, state, items, blas_threads)
    profiler.disable()
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(top)
    print(text.getvalue(), file=sys.stderr, flush=True)


def shard_frames_by_source(out: str, manifest: dict) -> dict[str, int]:
    """Frames written per input (video file), from the shards of every split."""
    import pyarrow.parquet as pq

    from crossmodal_ray.pipelines.core.shard_reader import split_files

    frames_of: dict[str, int] = defaultdict(int)
    for split in manifest["splits"]:
        for location in split_files(out, manifest["corpus"], split):
            table = pq.read_table(location, columns=["source", "num_frames"])
            sources, counts = table.column("source").to_pylist(), table.column("num_frames")
            for source, count in zip(sources, counts.to_pylist(), strict=True):
                frames_of[source] += count
    return frames_of


def ray_ingest_child(source: str, actors: int) -> dict:
    """(c), in its own process: the whole ingest through a local Ray with ``actors`` actors."""
    from crossmodal_ray.pipelines.av.ingest import AV_ROW_GROUP_ROWS, run_av_ingest
    from crossmodal_ray.pipelines.core.runner import IngestConfig, plan_shard_tasks

    events: list[tuple[float, str]] = []
    started = time.perf_counter()
    init_ray(num_cpus=actors)
    ray_start = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as out:
        config = AVSourceConfig(source=source)
        ingest = IngestConfig(out=out, row_group_rows=AV_ROW_GROUP_ROWS, concurrency=actors)
        ingest_started = time.perf_counter()
        manifest = run_av_ingest(
            config, ingest, log=lambda m: events.append((time.perf_counter(), m))
        )
        ended = time.perf_counter()
        frames_of = shard_frames_by_source(out, manifest)
    items, _ = AVSource(config).list_inputs()
    task_frames = {
        (t.split, t.index): sum(frames_of[i.source] for i in t.inputs)
        for t in plan_shard_tasks(items, ingest)
    }
    # The runner logs "[ingest] k/N <split> task <index> (...) (<seconds> s)" per finished task.
    finished = [(at, TASK_LINE.search(m), m) for at, m in events]
    finished = [(at, match, m) for at, match, m in finished if match]
    first_at, first, _ = finished[0]
    last_at = finished[-1][0]
    frames = sum(frames_of.values())
    task_seconds = sum(float(TASK_SECONDS.search(m).group(1)) for _, _, m in finished)
    steady_frames = frames - task_frames[(first.group(3), int(first.group(4)))]
    import ray

    actor_omp = ray.get(ray.remote(num_cpus=1)(lambda: os.environ.get("OMP_NUM_THREADS")).remote())
    return {
        "actors": actors,
        "ray_logical_cpus": int(ray.cluster_resources().get("CPU", 0)),
        "actor_omp_num_threads": actor_omp,
        "tasks": len(finished),
        "frames": frames,
        "ray_start_s": round(ray_start, 2),
        "first_task_done_s": round(first_at - ingest_started, 2),
        "ingest_s": round(ended - ingest_started, 2),
        "end_to_end_s": round(ended - started, 2),
        "startup_s": round(ray_start + first_at - ingest_started, 2),
        "fps_end_to_end": round(frames / (ended - started), 1),
        "fps_steady": round(steady_frames / max(last_at - first_at, 1e-9), 1),
        "fps_per_actor_busy": round(frames / max(task_seconds, 1e-9), 1),
    }


def run_ray_child(source: str, actors: int) -> dict:
    command = [sys.executable, __file__, "--source", source, "--ray-child", str(actors)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"Ray ingest with {actors} actors failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=SAMPLE_AV_DIR, help="AVA-style corpus folder")
    parser.add_argument("--repeat", type=int, default=3, help="timed passes of (a) and (b)")
    parser.add_argument("--ray-actors", default="1,2", help='(c) actor counts; "" to skip')
    parser.add_argument("--blas-threads", type=int, default=1, help="BLAS threads in (b)")
    parser.add_argument("--plain-batch", type=int, default=256, help="frames per get_batch")
    parser.add_argument("--profile", type=int, default=0, help="print the top N of (b)")
    parser.add_argument("--ray-child", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    if args.ray_child is not None:
        result = ray_ingest_child(args.source, args.ray_child)
        print(json.dumps(result), flush=True)
        return result
    started = time.perf_counter()
    load_start = [round(x, 2) for x in os.getloadavg()]
    if args.source == SAMPLE_AV_DIR:
        from crossmodal_ray.pipelines.sample_corpus.av.corpus import make_av_corpus

        make_av_corpus(SAMPLE_AV_DIR)
    config = AVSourceConfig(source=args.source)
    adapter = AVSource(config)
    items, listing_rejected = adapter.list_inputs()
    root = Path(adapter.root)
    crop = config.crop_config()

    plan_started = time.perf_counter()
    plans = [plan_video(item, root, config) for item in items]
    plan_seconds = time.perf_counter() - plan_started
    state = adapter.open_decoder()  # the actor's set-up (librosa warm-up), untimed
    check_same_crops(adapter, state, items[0], plans[0], crop, args.plain_batch)
    print(f"[benchmark] {len(items)} videos, crops identical on {items[0].source}", flush=True)

    plain_runs, audio_runs, ingest_runs = [], [], []
    sound = (config.mfcc_config(), float(config.fps))
    from threadpoolctl import threadpool_limits

    for run in range(args.repeat):
        plain_runs.append(plain_pass(plans, crop, args.plain_batch))
        with threadpool_limits(limits=args.blas_threads):
            audio_runs.append(plain_pass(plans, crop, args.plain_batch, sound))
        ingest_runs.append(ingest_pass(adapter, state, items, args.blas_threads))
        print(
            f"[benchmark] pass {run + 1}/{args.repeat}: plain {plain_runs[-1][0]:.2f} s, "
            f"plain with sound {audio_runs[-1][0]:.2f} s, "
            f"ingest decode {ingest_runs[-1][0]:.2f} s",
            flush=True,
        )
    default_blas = ingest_pass(adapter, state, items, None)
    if args.profile:
        profile_ingest(adapter, state, items, args.blas_threads, args.profile)
    frames = plain_runs[0][1]
    for _, n in plain_runs:
        assert n == frames
    for _, n, _ in [*ingest_runs, default_blas]:
        assert n == frames, f"ingest decoded {n} frames, the plain loop {frames}"
    plain_s = min(s for s, _ in plain_runs)
    plain_audio_s = min(s for s, _ in audio_runs)
    ingest_s, _, phases = min(ingest_runs, key=lambda r: r[0])
    other = ingest_s - sum(phases.values())
    ingest = {
        "seconds": round(ingest_s, 3),
        "fps": round(frames / ingest_s, 1),
        "fps_without_mfcc": round(frames / (ingest_s - phases["segment_features"]), 1),
        "fps_video_only": round(frames / (phases["open_video"] + phases["crops_with_fallback"]), 1),
        "phase_seconds": {**{k: round(v, 3) for k, v in phases.items()}, "other": round(other, 3)},
        "blas_threads": args.blas_threads,
        "fps_default_blas_threads": round(frames / default_blas[0], 1),
        "mfcc_seconds_default_blas_threads": round(default_blas[2]["segment_features"], 3),
        "runs_s": [round(s, 3) for s, _, _ in ingest_runs],
    }
    plain_fps = frames / plain_s
    ratios = {
        "ingest_decode_vs_plain_with_sound": round(plain_audio_s / ingest_s, 3),
        "ingest_decode": round(ingest["fps"] / plain_fps, 3),
        "ingest_decode_without_mfcc": round(ingest["fps_without_mfcc"] / plain_fps, 3),
        "ingest_decode_video_only": round(ingest["fps_video_only"] / plain_fps, 3),
    }
    ray_runs = {}
    for actors in [int(a) for a in args.ray_actors.split(",") if a.strip()]:
        print(f"[benchmark] whole ingest through Ray, {actors} actor(s)", flush=True)
        ray_runs[str(actors)] = run_ray_child(args.source, actors)
        assert ray_runs[str(actors)]["frames"] == frames
        for kind in ("steady", "end_to_end"):
            fps = ray_runs[str(actors)][f"fps_{kind}"]
            ratios[f"ray_{actors}_actors_{kind}"] = round(fps / plain_fps, 3)
    result = {
        "benchmark": "av_decode",
        "source": args.source,
        "videos": len(items),
        "videos_rejected_at_listing": len(listing_rejected),
        "segments": sum(len(p.segments) for p in plans),
        "frames": frames,
        "decoded_frames": int(sum(len(p.wanted) for p in plans)),
        "frame_size": crop.frame_size,
        "repeat": args.repeat,
        "plain_decord": {
            "seconds": round(plain_s, 3),
            "fps": round(plain_fps, 1),
            "plan_seconds": round(plan_seconds, 3),
            "runs_s": [round(s, 3) for s, _ in plain_runs],
        },
        "plain_decord_with_sound": {
            "seconds": round(plain_audio_s, 3),
            "fps": round(frames / plain_audio_s, 1),
            "runs_s": [round(s, 3) for s, _ in audio_runs],
        },
        "ingest_decode": ingest,
        "ray_ingest": ray_runs,
        "ratio_to_plain": ratios,
        "goal_ratio": GOAL_RATIO,
        "meets_goal": {k: v >= GOAL_RATIO for k, v in ratios.items()},
        **machine_fields(load_start, started),
    }
    print(json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    main()
