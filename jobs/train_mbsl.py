"""MBSL end to end: sample corpus -> Ray Data ingest -> Ray Train pretraining -> evaluation.

With no arguments it runs on the bundled sample corpus (generated once as WFDB records under
``data/raw/physio_sample``, ingested once into ``data/shards/physio_sample``) with a local,
loopback-only Ray, and prints one JSON line::

    python jobs/train_mbsl.py

On a real corpus and a cluster::

    ray job submit --address http://HEAD:8265 --working-dir . -- \
        python jobs/train_mbsl.py --raw-dir /mnt/shared/raw/my_wfdb \
        --shards-dir /mnt/shared/shards --storage-path s3://bucket/runs \
        --num-workers 8 --use-gpu --preset paper

``--raw-dir R`` ingests R unless its corpus is finished already (``--reingest`` forces it);
``--corpus NAME`` alone trains on a finished corpus under ``--shards-dir`` (a name that is not
there stops the job with the list of those that are). Resubmitting with the same
``--run-name`` and ``--storage-path`` resumes.
"""

from __future__ import annotations

import argparse
import json
import time

from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray

# Before anything imports Ray: loopback-only local Ray, token authentication, no telemetry.
apply_local_ray_env()

from crossmodal_ray.models.mbsl.model import MBSLConfig
from crossmodal_ray.pipelines.core.manifest import json_safe
from crossmodal_ray.pipelines.physio.prepare import PhysioCorpusConfig, prepare_physio_corpus
from crossmodal_ray.training.cli_flags import add_config_flags, config_from_flags, explicit_flags
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.tasks.mbsl_experiment import MBSLRunConfig, run_mbsl_experiment

# Fields the data decides (channels, window length, the fitted grouping), not flags.
DATA_DECIDED = ("n_channels", "window_samples", "window_s", "groups")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, PhysioCorpusConfig, title="data")
    add_config_flags(parser, MBSLRunConfig, title="run")
    add_config_flags(parser, MBSLConfig, exclude=DATA_DECIDED, title="model")
    add_config_flags(parser, TrainLoopConfig, exclude=("steps_per_epoch",), title="training")
    parser.add_argument(
        "--address", default=None, help="Ray address (default: RAY_ADDRESS or local)"
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    corpus_config = config_from_flags(PhysioCorpusConfig, args)
    run = config_from_flags(MBSLRunConfig, args)
    loop = config_from_flags(TrainLoopConfig, args)
    init_ray(args.address, num_cpus=loop.num_workers + 2)
    corpus, manifest = prepare_physio_corpus(corpus_config, log=log)
    if "run_name" not in vars(args):
        loop = config_from_flags(TrainLoopConfig, args, run_name=f"mbsl_{corpus}")
    results = run_mbsl_experiment(
        corpus_config.shards_dir,
        corpus,
        manifest,
        run,
        explicit_flags(MBSLConfig, args),
        loop,
        log,
    )
    results["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(json_safe(results)), flush=True)
    return results


if __name__ == "__main__":
    main()
