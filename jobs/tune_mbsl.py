"""Ray Tune sweep of MBSL pretraining: patch lengths, mask ratios, temperature, learning rate.

With no arguments it runs on the bundled sample corpus (made and ingested once, as
``jobs/train_mbsl.py`` does) with a local, loopback-only Ray: a short sweep (10 trials of at
most 4 epochs on ~1.5k training windows, one Ray Train worker each, ASHA stopping poor trials
after 1 and 2 epochs, Optuna's TPE proposing configurations) whose metric is the validation
linear probe of respiration rate, ``val_rr_mae_bpm``. The best trial's best checkpoint is then
evaluated on the TEST split with the full probe protocol. The report goes to
``<storage-path>/<sweep-name>/report/`` (``report.md``, ``trials.csv``, plots); the last line
printed is one JSON object::

    python jobs/tune_mbsl.py
    python jobs/tune_mbsl.py --num-samples 32 --max-epochs 8 --workers-per-trial 2 \
        --space my_space.json --shards-dir /data/shards --corpus my_wfdb

Running the same ``--sweep-name`` again resumes an interrupted sweep (finished trials are
kept). The data, model and loop flags of ``jobs/train_mbsl.py`` are accepted as well and fix
that value for all trials; ``--space FILE`` replaces the searched space with a JSON object such
as ``{"temperature": {"loguniform": [0.03, 0.5]}, "patch_lengths": {"choice": ["8,16,32",
"16,32"]}, "d_model": {"choice": [32, 64]}}``: any field of the model config (``MBSLConfig``) or
of the loop config (``lr``, ``weight_decay`` ...) can be searched. ``--searcher-seed`` seeds
the searcher, ``--seed`` the training.
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
from crossmodal_ray.training.tasks.mbsl_experiment import MBSLRunConfig
from crossmodal_ray.training.tasks.mbsl_sweep import MBSLSweepFlags, run_mbsl_sweep

DATA_DECIDED = ("n_channels", "window_samples", "window_s", "groups")
# Loop fields the sweep sets per trial (from --workers-per-trial and --max-epochs).
SWEEP_DECIDED = ("steps_per_epoch", "run_name", "num_workers", "epochs")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_config_flags(parser, MBSLSweepFlags, title="sweep")
    add_config_flags(parser, PhysioCorpusConfig, title="data")
    add_config_flags(parser, MBSLRunConfig, exclude=("finetune_epochs", "finetune_lr"), title="run")
    add_config_flags(parser, MBSLConfig, exclude=DATA_DECIDED, title="model (fixed for all trials)")
    add_config_flags(parser, TrainLoopConfig, exclude=SWEEP_DECIDED, title="training")
    parser.add_argument(
        "--address", default=None, help="Ray address (default: RAY_ADDRESS or local)"
    )
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(message, flush=True)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    started = time.perf_counter()
    flags = config_from_flags(MBSLSweepFlags, args)
    corpus_config = config_from_flags(PhysioCorpusConfig, args)
    run = config_from_flags(MBSLRunConfig, args)
    loop = config_from_flags(TrainLoopConfig, args)
    # A local Ray gets logical CPUs for two trials at once: each trial's workers plus one CPU
    # for its Ray Data streaming (logical CPUs may exceed the physical cores).
    init_ray(args.address, num_cpus=2 * (flags.workers_per_trial + 1) + 1)
    corpus, manifest = prepare_physio_corpus(corpus_config, log=log)
    result = run_mbsl_sweep(
        corpus_config.shards_dir,
        corpus,
        manifest,
        run,
        explicit_flags(MBSLConfig, args),
        loop,
        flags,
        log,
    )
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(json.dumps(json_safe(result)), flush=True)
    return result


if __name__ == "__main__":
    main()
