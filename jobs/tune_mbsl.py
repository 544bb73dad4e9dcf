"""Ray Tune sweep of MBSL pretraining: patch lengths, mask ratios, temperature, learning rate.

With no arguments it runs on the bundled sample corpus (made and ingested once, as
``jobs/train_mbsl.py`` does) with a local, loopback-only Ray: a short sweep (10 trials of at
most 4 epochs on ~1.5k training windows, one Ray Train worker each, ASHA stopping poor trials
after 1 and 2 epochs, Optuna's TPE proposing configurations) whose metric is the validation
linear probe of respiration rate, ``val_rr_mae_bpm`` (:mod:`training.tasks.mbsl_validation`). The
best trial's best checkpoint is then evaluated on the TEST split with the full probe protocol
(:func:`training.tasks.mbsl_evaluation.probe_metrics`). The report goes to
``<storage-path>/<sweep-name>/report/`` (``report.md``, ``trials.csv``, plots); the last line
printed is one JSON object::

    python jobs/tune_mbsl.py
    python jobs/tune_mbsl.py --num-samples 32 --max-epochs 8 --workers-per-trial 2 \
        --space my_space.json --shards-dir /data/shards --corpus my_wfdb

Running the same ``--sweep-name`` again resumes an interrupted sweep (finished trials are
kept). Every ``jobs/train_mbsl.py`` flag (data, model, loop) is accepted as well and fixes
that value for all trials; ``--space FILE`` replaces the searched space with a JSON object
such as ``{"temperature": {"loguniform": [0.03, 0.5]}, "patch_lengths": {"choice":
["8,16,32", "16,32"]}, "d_model": {"choice": [32, 64]}}``: any field of the model config
(``MBSLConfig``) or of the loop config (``lr``, ``weight_decay`` ...) can be searched.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from crossmodal_ray.pipelines.core.manifest import json_safe
from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray
from jobs import train_mbsl

apply_local_ray_env()

METRIC = "val_rr_mae_bpm"
METRIC_LABEL = "val RR MAE (breaths/min)"
DEFAULT_SPACE = {
    "patch_lengths": {"choice": ["8,16,32", "16,32", "8,16", "4,8,16"]},
    "mask_ratios": {"choice": ["0.2,0.4,0.6", "0.1,0.3,0.5", "0.3,0.5,0.7"]},
    "temperature": {"loguniform": [0.03, 0.5]},
    "lr": {"loguniform": [3e-4, 3e-3]},
}


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, argparse.Namespace]:
    """The sweep's own flags, and ``jobs/train_mbsl.py``'s flags for everything else."""
    parser = argparse.ArgumentParser(
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="All flags of jobs/train_mbsl.py are accepted too (fixed for every trial).",
    )
    sweep = parser.add_argument_group("sweep")
    sweep.add_argument("--sweep-name", default=None, help="default: tune_mbsl_<corpus>")
    sweep.add_argument("--num-samples", type=int, default=10, help="trials")
    sweep.add_argument("--max-epochs", type=int, default=4, help="epochs of a full trial")
    sweep.add_argument("--grace-period", type=int, default=1, help="ASHA: epochs before a stop")
    sweep.add_argument("--reduction-factor", type=float, default=2.0, help="ASHA: keep 1/this")
    sweep.add_argument("--workers-per-trial", type=int, default=1)
    sweep.add_argument(
        "--max-concurrent-trials", type=int, default=None, help="default: from cluster CPUs/GPUs"
    )
    sweep.add_argument(
        "--trial-train-rows",
        type=int,
        default=1536,
        help="training windows per trial (a fixed subset; 0 = all)",
    )
    sweep.add_argument(
        "--probe-train-rows", type=int, default=1024, help="training windows of the val probe"
    )
    sweep.add_argument("--space", default=None, help="JSON file replacing the search space")
    sweep.add_argument("--trial-max-failures", type=int, default=1, help="Tune trial retries")
    sweep.add_argument("--seed", type=int, default=0, help="searcher seed")
    sweep.add_argument(
        "--no-test-eval", action="store_true", help="skip the best checkpoint's test metrics"
    )
    args, rest = parser.parse_known_args(argv)
    train_args = train_mbsl.parse_args(rest)
    return args, train_args


def progress(message: str) -> None:
    print(f"[tune_mbsl] {message}", flush=True)


def _parse_field(value: Any, default: Any) -> Any:
    """``"8,16,32"`` -> ``(8, 16, 32)`` for tuple fields; other values as they are."""
    if isinstance(default, tuple) and isinstance(value, str):
        item_type = type(default[0]) if default else float
        return tuple(item_type(part) for part in value.split(",") if part.strip())
    return value


def split_trial_config(
    config: dict[str, Any], model_config: dict[str, Any], loop_config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply a sampled configuration to the model and loop configs (by field name)."""
    from crossmodal_ray.models.mbsl.model import MBSLConfig
    from crossmodal_ray.training.loop_config import TrainLoopConfig

    model_defaults, loop_defaults = MBSLConfig(), TrainLoopConfig()
    model_config, loop_config = dict(model_config), dict(loop_config)
    for name, value in config.items():
        if hasattr(model_defaults, name):
            model_config[name] = _parse_field(value, getattr(model_defaults, name))
        elif hasattr(loop_defaults, name):
            loop_config[name] = _parse_field(value, getattr(loop_defaults, name))
        else:
            raise ValueError(f"searched parameter {name!r} is no MBSLConfig/TrainLoopConfig field")
    return MBSLConfig.from_dict(model_config).to_dict(), loop_config


def train_driver_fn(
    config: dict[str, Any],
    model_config: dict[str, Any],
    grouping: dict[str, Any],
    loop_config: dict[str, Any],
    runs_path: str,
    datasets: dict,
    train_rows: int,
) -> None:
    """One trial: a Ray Train pretraining run with the sampled configuration (Tune calls it)."""
    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.sweep.driver import trial_run_name, tune_report_callbacks
    from crossmodal_ray.training.tasks.mbsl import MBSLPretrainTask
    from crossmodal_ray.training.trainer import run_training

    model_fields, loop_fields = split_trial_config(config, model_config, loop_config)
    loop = TrainLoopConfig.from_dict(
        {**loop_fields, "run_name": trial_run_name(), "storage_path": runs_path}
    )
    result = run_training(
        MBSLPretrainTask(model_fields, grouping),
        loop,
        datasets["train"],
        train_rows,
        extra_datasets={name: ds for name, ds in datasets.items() if name != "train"},
        callbacks=tune_report_callbacks(),
    )
    if result.error:
        raise result.error


def best_checkpoint_test_metrics(checkpoint_path: str, splits: dict) -> dict[str, float]:
    """The full probe protocol (fit on train, strength on val, measured on TEST)."""
    from crossmodal_ray.models.mbsl.model import MBSLConfig, MBSLPretrainModel
    from crossmodal_ray.training.checkpointing import load_model_weights, load_train_state
    from crossmodal_ray.training.tasks.mbsl_evaluation import probe_metrics

    extras = load_train_state(checkpoint_path)["extras"]
    model = MBSLPretrainModel(MBSLConfig.from_dict(extras["model_config"]))
    load_model_weights(checkpoint_path, model)
    return probe_metrics(model.encoder, splits)


def main(argv: list[str] | None = None) -> dict:
    args, train_args = parse_args(argv)
    started = time.perf_counter()
    # A local Ray gets logical CPUs for two trials at once: each trial's workers plus one CPU
    # for its Ray Data streaming (logical CPUs may exceed the physical cores).
    init_ray(train_args.address, num_cpus=2 * (args.workers_per_trial + 1) + 1)
    import ray

    ray.data.DataContext.get_current().enable_progress_bars = False
    from crossmodal_ray.pipelines.core.manifest import read_manifest
    from crossmodal_ray.training.cli_flags import config_from_flags
    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.sweep.driver import (
        SweepConfig,
        run_sweep,
        search_space_from_spec,
        trial_runs_path,
    )
    from crossmodal_ray.training.sweep.report import write_sweep_report
    from crossmodal_ray.training.tasks.mbsl_validation import fixed_subset, validation_datasets

    if train_args.corpus and train_mbsl.has_manifest(train_args) and not train_args.reingest:
        corpus = train_args.corpus
        manifest = read_manifest(train_args.shards_dir, corpus)
    else:
        corpus, manifest = train_mbsl.ensure_shards(
            train_args, train_mbsl.ensure_sample_corpus(train_args)
        )
    rows = {split: manifest["splits"][split]["rows"] for split in ("train", "val", "test")}
    splits = train_mbsl.split_datasets(train_args, corpus)
    grouping = train_mbsl.fit_grouping(train_args, manifest, splits["train"])
    progress(f"channel groups (fitted once for all trials): {grouping.named_groups()}")
    model_config = train_mbsl.build_model_config(train_args, manifest, grouping)

    # Every trial trains on the same fixed subset and is validated on the same windows; they
    # are small, so they are read once here and shared through the object store.
    trial_rows = args.trial_train_rows or rows["train"]
    train_subset = fixed_subset(splits["train"], rows["train"], trial_rows)
    datasets = {
        "train": train_subset.select_columns(["signals", "channel_present"]).materialize(),
        **{
            name: ds.materialize()
            for name, ds in validation_datasets(
                splits["train"], rows["train"], splits["val"], args.probe_train_rows
            ).items()
        },
    }
    counts = {name: ds.count() for name, ds in datasets.items()}
    progress(f"trial datasets (rows): {counts}; validation metric {METRIC}")

    sweep = SweepConfig(
        name=args.sweep_name or f"tune_mbsl_{corpus}",
        storage_path=train_args.storage_path,
        metric=METRIC,
        mode="min",
        num_samples=args.num_samples,
        time_attr="epoch",
        max_t=args.max_epochs,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        workers_per_trial=args.workers_per_trial,
        gpus_per_worker=1.0 if train_args.use_gpu else 0.0,
        max_concurrent_trials=args.max_concurrent_trials,
        max_failures=args.trial_max_failures,
        seed=args.seed,
    )
    loop = config_from_flags(
        TrainLoopConfig,
        train_args,
        num_workers=args.workers_per_trial,
        epochs=args.max_epochs,
        # Only the per-epoch validation reports (with a checkpoint each, all kept so that the
        # best epoch can be evaluated): ASHA's rungs are epochs.
        checkpoint_every_steps=10**9,
        num_to_keep=args.max_epochs,
        log_every_steps=10**9,
    )
    spec = json.loads(Path(args.space).read_text()) if args.space else DEFAULT_SPACE
    space = search_space_from_spec(spec)
    outcome = run_sweep(
        train_driver_fn,
        space,
        sweep,
        driver_kwargs=dict(
            model_config=model_config.to_dict(),
            grouping=grouping.to_dict(),
            loop_config=loop.to_dict(),
            runs_path=trial_runs_path(sweep),
            datasets=datasets,
            train_rows=counts["train"],
        ),
    )
    best = outcome.best
    test_metrics: dict[str, float] = {}
    if best is not None and best.best_checkpoint_path and not args.no_test_eval:
        progress(f"best trial {best.trial_id}: test split probes of its best checkpoint")
        test_metrics = best_checkpoint_test_metrics(best.best_checkpoint_path, splits)
        progress(f"test: {train_mbsl.format_metrics(test_metrics)}")
    report = write_sweep_report(
        outcome,
        Path(sweep.sweep_dir) / "report",
        metric_label=METRIC_LABEL,
        test_metrics=test_metrics,
        title=f"MBSL sweep '{sweep.name}' on {corpus}",
    )
    print(report.summary, flush=True)
    result = {
        "best_config": best.params if best else None,
        "best_trial": best.trial_id if best else None,
        f"best_{METRIC}": best.best if best else None,
        "best_test_metrics": test_metrics,
        "trials": len(outcome.trials),
        "stopped_early": outcome.stopped_early,
        "failed": sum(t.error is not None for t in outcome.trials),
        "max_concurrent_trials": outcome.max_concurrent_trials,
        "resumed": outcome.restored,
        "report": str(report.markdown_path),
        "sweep_dir": sweep.sweep_dir,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(json_safe(result)), flush=True)
    return result


if __name__ == "__main__":
    main()
