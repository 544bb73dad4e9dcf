"""Generate the bundled audio-visual sample corpus for SyncTalkNet in the AVA-ActiveSpeaker layout.

    python jobs/make_av_corpus.py --out data/raw/av_sample --videos 24 --desync-share 0.3

Real mp4 files (h264 + AAC) of drawn faces side by side, each speaker with a speech-like voice
of its own and a mouth that opens with it; listeners, chewing, turns and overlaps; some videos
dubbed or with shifted audio, their faces labelled NOT_SPEAKING (Wuerkaixi et al., MLSP 2022).
Writes ``videos/``, ``annotations/<video_id>-activespeaker.csv``, ``sync_labels.csv`` and the
``_videos.csv`` / ``_tracks.csv`` side tables. No download ever; cached (a corpus with the same
config is reused). Every field of ``AVSampleConfig`` is a kebab-case flag. Prints a line per
video, then one JSON object: out, videos, tracks, labels (rows per label), desync videos by
kind, seconds, cached.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.pipelines.sample_corpus.av.config import AVSampleConfig
from crossmodal_ray.pipelines.sample_corpus.av.corpus import (
    SAMPLE_AV_DIR,
    is_cached_corpus,
    make_av_corpus,
    read_corpus_summary,
)
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=SAMPLE_AV_DIR, help="corpus folder")
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="processes encoding videos in parallel; the files do not depend on it (default: 1)",
    )
    add_config_flags(parser, AVSampleConfig, title="corpus")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Build (or reuse) the corpus and print the summary JSON line."""
    args = parse_args(argv)
    config = config_from_flags(AVSampleConfig, args)
    started = time.perf_counter()
    cpu_started = time.process_time()
    cached = is_cached_corpus(args.out, config)

    def report(done: int, total: int, video_id: str, seconds: float) -> None:
        print(f"[sample] {done}/{total} videos written ({video_id}), {seconds:.1f} s", flush=True)

    path = make_av_corpus(args.out, config, progress=report, workers=args.workers)
    counts = read_corpus_summary(path)["counts"]
    summary = {
        "out": str(path),
        "videos": counts["videos"],
        "video_seconds": counts["seconds"],
        "frames": counts["frames"],
        "tracks": counts["tracks"],
        "speaking_tracks": counts["speaking_tracks"],
        "out_of_sync_tracks": counts["out_of_sync_tracks"],
        "labels": counts["labels"],
        "desync_videos": counts["desync"],
        "seconds": round(time.perf_counter() - started, 3),
        "cpu_seconds": round(time.process_time() - cpu_started, 3),
        "cached": cached,
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
