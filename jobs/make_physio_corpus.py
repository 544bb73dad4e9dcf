"""Generate the bundled MBSL sample corpus as WFDB records (cached: reruns return at once).

    python jobs/make_physio_corpus.py --out data/raw/physio_sample --n-subjects 20 --duration-s 600

Every field of ``PhysioSimulationConfig`` is a kebab-case flag. Prints one line per subject,
then one JSON object: out, subjects, records, seconds, cached.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.pipelines.physio.prepare import SAMPLE_RAW_DIR
from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import (
    is_cached_corpus,
    make_physio_wfdb_corpus,
)
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", default=SAMPLE_RAW_DIR, help="corpus folder")
    add_config_flags(parser, PhysioSimulationConfig, title="simulation")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    """Build (or reuse) the corpus and print the summary JSON line."""
    args = parse_args(argv)
    config = config_from_flags(PhysioSimulationConfig, args)
    started = time.perf_counter()
    cached = is_cached_corpus(args.out, config)

    def report(subject: str, records: int, seconds: float) -> None:
        print(f"[sample] {subject}: {records} records written, {seconds:.1f} s", flush=True)

    path = make_physio_wfdb_corpus(args.out, config, progress=report)
    summary = {
        "out": str(path),
        "subjects": config.n_subjects,
        "records": config.n_subjects * config.records_per_subject,
        "seconds": round(time.perf_counter() - started, 3),
        "cached": cached,
    }
    print(json.dumps(summary), flush=True)
    return summary


if __name__ == "__main__":
    main()
