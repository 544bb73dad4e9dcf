"""A Ray Tune sweep of MBSL pretraining: what ``jobs/tune_mbsl.py`` runs on a finished corpus.

Every trial is one Ray Train pretraining run (:func:`train_driver_fn`) on the same fixed subset
of training windows, validated after each epoch by the ridge probe of respiration rate on the
validation subjects (``val_rr_mae_bpm``, :mod:`crossmodal_ray.training.tasks.mbsl_validation`);
ASHA stops poor trials, Optuna's TPE proposes configurations
(:mod:`crossmodal_ray.training.sweep.driver`). The test split is read once, after the sweep, to
evaluate the best trial's best checkpoint with the full probe protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from crossmodal_ray.models.mbsl.channel_grouping import ChannelGrouping
from crossmodal_ray.models.mbsl.model import MBSLConfig
from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.sweep.driver import SweepConfig
from crossmodal_ray.training.tasks.mbsl_experiment import (
    MBSLRunConfig,
    build_model_config,
    fit_grouping,
    format_metrics,
    split_datasets,
)

if TYPE_CHECKING:
    from crossmodal_ray.training.training_blocks import BlockPlan

METRIC = "val_rr_mae_bpm"
GROUPING_FILE = "grouping.json"
METRIC_LABEL = "val RR MAE (breaths/min)"
DEFAULT_SPACE = {
    "patch_lengths": {"choice": ["8,16,32", "16,32", "8,16", "4,8,16"]},
    "mask_ratios": {"choice": ["0.2,0.4,0.6", "0.1,0.3,0.5", "0.3,0.5,0.7"]},
    "temperature": {"loguniform": [0.03, 0.5]},
    "lr": {"loguniform": [3e-4, 3e-3]},
}


@dataclass
class MBSLSweepFlags:
    """How the MBSL sweep runs; each field is a flag of ``jobs/tune_mbsl.py``.

    Attributes:
        sweep_name: Name of the sweep folder under ``--storage-path`` (default:
            tune_mbsl_<corpus>); running the same name again resumes it.
        num_samples: Trials (configurations the searcher draws).
        max_epochs: Epochs of a trial that ASHA never stops.
        grace_period: ASHA: epochs before a trial can be stopped.
        reduction_factor: ASHA: keep the best 1/this at each rung.
        workers_per_trial: Ray Train workers of each trial.
        max_concurrent_trials: Trials at once (default: from the cluster's CPUs/GPUs).
        trial_train_rows: Training windows per trial, a fixed subset (0 = all).
        space: JSON file replacing the searched space.
        trial_max_failures: Times Tune restarts a failed trial.
        searcher_seed: Seed of the searcher (Optuna's TPE); the training seed is --seed.
        test_eval: Evaluate the best checkpoint on the test split after the sweep.
    """

    sweep_name: str | None = None
    num_samples: int = 10
    max_epochs: int = 4
    grace_period: int = 1
    reduction_factor: float = 2.0
    workers_per_trial: int = 1
    max_concurrent_trials: int | None = None
    trial_train_rows: int = 1536
    space: str | None = None
    trial_max_failures: int = 1
    searcher_seed: int = 0
    test_eval: bool = True


def sweep_config(
    flags: MBSLSweepFlags, corpus: str, storage_path: str, use_gpu: bool
) -> SweepConfig:
    return SweepConfig(
        name=flags.sweep_name or f"tune_mbsl_{corpus}",
        storage_path=storage_path,
        metric=METRIC,
        mode="min",
        num_samples=flags.num_samples,
        time_attr="epoch",
        max_t=flags.max_epochs,
        grace_period=flags.grace_period,
        reduction_factor=flags.reduction_factor,
        workers_per_trial=flags.workers_per_trial,
        gpus_per_worker=1.0 if use_gpu else 0.0,
        max_concurrent_trials=flags.max_concurrent_trials,
        max_failures=flags.trial_max_failures,
        searcher_seed=flags.searcher_seed,
    )


def search_space_spec(flags: MBSLSweepFlags) -> dict[str, Any]:
    """``--space FILE`` (any storage) or the default space."""
    return json.loads(storage.read_text(flags.space)) if flags.space else DEFAULT_SPACE


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
    train_blocks: BlockPlan,
    datasets: dict,
) -> None:
    """One trial: a Ray Train pretraining run with the sampled configuration (Tune calls it)."""
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
        train_blocks,
        extra_datasets=datasets,
        callbacks=tune_report_callbacks(),
    )
    if result.error:
        raise result.error


def best_checkpoint_test_metrics(checkpoint_location: str, splits: dict) -> dict[str, float]:
    """The full probe protocol (fit on train, strength on val, measured on TEST) for the
    checkpoint at ``checkpoint_location`` (a path or a URI)."""
    from crossmodal_ray.models.mbsl.model import MBSLPretrainModel
    from crossmodal_ray.training.checkpointing import load_model_weights, load_train_state
    from crossmodal_ray.training.tasks.mbsl_evaluation import probe_metrics

    with storage.local_dir_for_reading(checkpoint_location) as directory:
        extras = load_train_state(directory)["extras"]
        model = MBSLPretrainModel(MBSLConfig.from_dict(extras["model_config"]))
        load_model_weights(directory, model)
    return probe_metrics(model.encoder, splits)


def sweep_grouping(
    train: Any,
    manifest: dict,
    run: MBSLRunConfig,
    seed: int,
    sweep_dir: str,
    log: Callable[[str], None],
) -> ChannelGrouping:
    """The grouping of every trial: fitted once and saved in the sweep folder; a resumed sweep
    reads it back (its trials' checkpoints belong to it) instead of refitting."""
    location = storage.join(sweep_dir, GROUPING_FILE)
    if storage.is_file(location):
        grouping = ChannelGrouping.from_dict(json.loads(storage.read_text(location)))
        log(f"[tune_mbsl] channel groups of the sweep (from {location}): {grouping.named_groups()}")
        return grouping
    grouping = fit_grouping(train, manifest, run.n_groups, run.grouping_windows, seed)
    storage.write_text_atomic(location, json.dumps(grouping.to_dict(), indent=2))
    log(f"[tune_mbsl] channel groups (fitted once for all trials): {grouping.named_groups()}")
    return grouping


def run_mbsl_sweep(
    shards_dir: str,
    corpus: str,
    manifest: dict,
    run: MBSLRunConfig,
    model_flags: dict[str, Any],
    loop: TrainLoopConfig,
    flags: MBSLSweepFlags,
    log: Callable[[str], None],
) -> dict:
    """Grouping and model config once, fixed trial datasets, the sweep, the test evaluation of
    the best checkpoint and the report; returns the job's JSON result."""
    from crossmodal_ray.training.sweep.driver import (
        run_sweep,
        search_space_from_spec,
        trial_runs_path,
    )
    from crossmodal_ray.training.sweep.report import write_sweep_report
    from crossmodal_ray.training.tasks.mbsl import MBSLPretrainTask
    from crossmodal_ray.training.tasks.mbsl_validation import fixed_subset, validation_datasets
    from crossmodal_ray.training.training_blocks import build_training_blocks

    rows = {split: manifest["splits"][split]["rows"] for split in ("train", "val", "test")}
    splits = split_datasets(shards_dir, corpus)
    sweep = sweep_config(flags, corpus, loop.storage_path, loop.use_gpu)
    grouping = sweep_grouping(splits["train"], manifest, run, loop.seed, sweep.sweep_dir, log)
    model_config = build_model_config(run.preset, model_flags, manifest, grouping)

    # Every trial trains on the same fixed subset (cut once into the blocks every trial's
    # per-epoch data order deals out) and is validated on the same windows; they are small, so
    # they are read once here and shared through the object store.
    trial_rows = flags.trial_train_rows or rows["train"]
    train_subset = fixed_subset(splits["train"], rows["train"], trial_rows)
    pretrain_columns = MBSLPretrainTask(model_config.to_dict(), grouping.to_dict()).columns
    train_blocks = build_training_blocks(
        train_subset, pretrain_columns, flags.workers_per_trial, loop.order_block_rows
    )
    datasets = {
        name: ds.materialize()
        for name, ds in validation_datasets(
            splits["train"], rows["train"], splits["val"], run.probe_train_rows
        ).items()
    }
    counts = {"train": train_blocks.total_rows, **{n: ds.count() for n, ds in datasets.items()}}
    log(f"[tune_mbsl] trial datasets (rows): {counts}; validation metric {METRIC}")

    trial_loop = replace(
        loop,
        num_workers=flags.workers_per_trial,
        epochs=flags.max_epochs,
        # Only the per-epoch validation reports (with a checkpoint each, all kept so that the
        # best epoch can be evaluated): ASHA's rungs are epochs.
        checkpoint_every_steps=10**9,
        num_to_keep=flags.max_epochs,
        log_every_steps=10**9,
    )
    outcome = run_sweep(
        train_driver_fn,
        search_space_from_spec(search_space_spec(flags)),
        sweep,
        driver_kwargs=dict(
            model_config=model_config.to_dict(),
            grouping=grouping.to_dict(),
            loop_config=trial_loop.to_dict(),
            runs_path=trial_runs_path(sweep),
            train_blocks=train_blocks,
            datasets=datasets,
        ),
    )
    best = outcome.best
    test_metrics: dict[str, float] = {}
    if best is not None and best.best_checkpoint_path and flags.test_eval:
        log(f"[tune_mbsl] best trial {best.trial_id}: test split probes of its best checkpoint")
        test_metrics = best_checkpoint_test_metrics(best.best_checkpoint_path, splits)
        log(f"[tune_mbsl] test: {format_metrics(test_metrics)}")
    report = write_sweep_report(
        outcome,
        storage.join(sweep.sweep_dir, "report"),
        metric_label=METRIC_LABEL,
        test_metrics=test_metrics,
        title=f"MBSL sweep '{sweep.name}' on {corpus}",
    )
    log(report.summary)
    return {
        "best_config": best.params if best else None,
        "best_trial": best.trial_id if best else None,
        f"best_{METRIC}": best.best if best else None,
        "best_test_metrics": test_metrics,
        "trials": len(outcome.trials),
        "stopped_early": outcome.stopped_early,
        "failed": sum(t.error is not None for t in outcome.trials),
        "max_concurrent_trials": outcome.max_concurrent_trials,
        "resumed": outcome.restored,
        "report": report.markdown_location,
        "sweep_dir": sweep.sweep_dir,
    }
