# Generate the bundled MBSL sample corpus as WFDB records (cached: reruns return at once).
#
#     python jobs/make_physio_corpus.py --out data/raw/physio_sample --subjects 20 --duration-s 600
#
# Every field of PhysioSimulationConfig is a kebab-case flag (--subjects for n_subjects).
# Prints one line per subject, then one JSON object: out, subjects, records, seconds, cached.

import argparse
import dataclasses
import json
import time

from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import (
    is_cached_corpus,
    make_physio_wfdb_corpus,
)

_FLAG_NAMES = {"n_subjects": "--subjects"}


def _flag(name: str) -> str:
    return _FLAG_NAMES.get(name, "--" + name.replace("_", "-"))


def parse_config(argv: list[str] | None = None) -> tuple[str, PhysioSimulationConfig]:
    """Parse ``--out`` and one flag per config field."""
    parser = argparse.ArgumentParser(description="Generate the MBSL sample WFDB corpus.")
    parser.add_argument("--out", default="data/raw/physio_sample", help="corpus folder")
    defaults = PhysioSimulationConfig()
    for f in dataclasses.fields(PhysioSimulationConfig):
        value = getattr(defaults, f.name)
        if isinstance(value, tuple):
            parser.add_argument(_flag(f.name), dest=f.name, nargs="+", default=list(value))
        else:
            parser.add_argument(_flag(f.name), dest=f.name, type=type(value), default=value)
    args = vars(parser.parse_args(argv))
    out = args.pop("out")
    args = {k: tuple(v) if isinstance(v, list) else v for k, v in args.items()}
    return out, PhysioSimulationConfig(**args)


def main(argv: list[str] | None = None) -> dict:
    """Build (or reuse) the corpus and print the summary JSON line."""
    out, config = parse_config(argv)
    started = time.perf_counter()
    cached = is_cached_corpus(out, config)

    def report(subject: str, records: int, seconds: float) -> None:
        print(f"{subject}: {records} records written, {seconds:.1f} s", flush=True)

    path = make_physio_wfdb_corpus(out, config, progress=report)
    summary = {
        "out": str(path),
        "subjects": config.n_subjects,
        "records": config.n_subjects * config.records_per_subject,
        "seconds": round(time.perf_counter() - started, 3),
        "cached": cached,
    }
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
