"""Driver side of a training run: build the ``TorchTrainer`` (Train V2) and run it.

The same function trains every system: it takes a :class:`~training.task.TrainingTask`, the
loop config and a Ray Dataset of training rows, sizes the run from flags
(``ScalingConfig(num_workers, use_gpu)``), keeps checkpoints under a stable run name
(``RunConfig(name, storage_path)``: resubmitting resumes) and retries failed workers
(``FailureConfig(max_failures)``).

Extra datasets (e.g. a probe subset of the training split and the validation split that a task's
``validation_metrics`` reads with ``ray.train.get_dataset_shard``) reach every worker whole: only
``train`` is split across workers (``DataConfig(datasets_to_split=["train"])``). ``callbacks``
are Ray Train callbacks, e.g. inside a sweep trial Ray Tune's ``TuneReportCallback``.

Checkpoints: with a task that names a validation metric, Ray Train ranks them by it
(``CheckpointConfig(checkpoint_score_attribute=...)``) and keeps the best ``num_to_keep`` plus
the latest; :func:`best_checkpoint` is what evaluation loads.
"""

from __future__ import annotations

import math
from dataclasses import replace

import ray.data
import ray.train
from ray.data.dataset import MaterializedDataset
from ray.train.torch import TorchTrainer

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.loop import train_fn_per_worker
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.loopback_torch_backend import LoopbackTorchConfig
from crossmodal_ray.training.task import TrainingTask, validation_metric_of


def steps_per_epoch(train_rows: int, loop: TrainLoopConfig) -> int:
    """Optimiser steps per epoch: rows are split equally, the last partial batch is dropped."""
    return (train_rows // loop.num_workers) // loop.batch_size_per_worker


def task_columns_only(dataset: ray.data.Dataset, columns: tuple[str, ...]) -> ray.data.Dataset:
    """``dataset`` restricted to the task's columns.

    A materialized dataset that holds exactly those columns is passed on as it is: projecting
    it again would add a map operator, i.e. Ray Data tasks that need a CPU in every run
    (in a sweep, every trial competes for those CPUs with the other trials' Train workers).
    """
    if isinstance(dataset, MaterializedDataset) and set(dataset.columns()) == set(columns):
        return dataset
    return dataset.select_columns(list(columns))


def run_training(
    task: TrainingTask,
    loop: TrainLoopConfig,
    train_dataset: ray.data.Dataset,
    train_rows: int,
    extra_datasets: dict[str, ray.data.Dataset] | None = None,
    callbacks: list | None = None,
) -> ray.train.Result:
    """Train ``task`` on ``train_dataset`` with ``loop.num_workers`` Ray Train workers.

    Args:
        task: The system to train.
        loop: How to train (workers, epochs, batch size, run name, storage ...).
        train_dataset: Training rows, split equally across the workers.
        train_rows: Row count of ``train_dataset`` (sizes the learning-rate schedule).
        extra_datasets: Named datasets every worker receives whole (not split); ``None``
            keeps the plain single-dataset run.
        callbacks: Ray Train callbacks for the run (``RunConfig(callbacks=...)``).
    """
    loop = replace(loop, storage_path=storage.normalize(loop.storage_path))
    loop = replace(loop, steps_per_epoch=steps_per_epoch(train_rows, loop))
    if loop.steps_per_epoch < 1:
        raise ValueError(
            f"{train_rows} training rows give no full batch for {loop.num_workers} workers x "
            f"{loop.batch_size_per_worker} rows; lower --batch-size or --num-workers"
        )
    datasets = {"train": task_columns_only(train_dataset, task.columns)}
    dataset_config = None  # Ray Train's default: split every dataset (here only 'train')
    needed = set(getattr(task, "validation_datasets", ()))
    missing = needed - set(extra_datasets or {})
    if missing:
        raise ValueError(f"task {task.name} validates on datasets {sorted(missing)}: pass them")
    if extra_datasets:
        if "train" in extra_datasets:
            raise ValueError("extra_datasets must not redefine 'train'")
        datasets.update(extra_datasets)
        dataset_config = ray.train.DataConfig(datasets_to_split=["train"])
    validation = validation_metric_of(task)
    checkpoint_config = ray.train.CheckpointConfig(
        num_to_keep=loop.num_to_keep,
        # Ranked by the validation metric (the best are kept; the latest is always kept too,
        # for resume); without one, the most recent are kept.
        checkpoint_score_attribute=validation[0] if validation else None,
        checkpoint_score_order=validation[1] if validation else "max",
    )
    trainer = TorchTrainer(
        train_fn_per_worker,
        torch_config=LoopbackTorchConfig(),
        train_loop_config={"task": task, "loop": loop.to_dict()},
        scaling_config=ray.train.ScalingConfig(
            num_workers=loop.num_workers,
            use_gpu=loop.use_gpu,
            resources_per_worker={"CPU": 1, **({"GPU": 1} if loop.use_gpu else {})},
        ),
        run_config=ray.train.RunConfig(
            name=loop.run_name,
            storage_path=loop.storage_path,
            failure_config=ray.train.FailureConfig(max_failures=loop.max_failures),
            checkpoint_config=checkpoint_config,
            callbacks=list(callbacks or []),
        ),
        datasets=datasets,
        dataset_config=dataset_config,
    )
    return trainer.fit()


def best_checkpoint(result: ray.train.Result, task: TrainingTask) -> ray.train.Checkpoint:
    """The checkpoint evaluation should load: the best by the task's validation metric (among
    validated checkpoints), else the last one."""
    validation = validation_metric_of(task)
    if validation is None:
        return result.checkpoint
    metric, mode = validation
    scored = [
        (float(metrics[metric]), checkpoint)
        for checkpoint, metrics in result.best_checkpoints or []
        if isinstance(metrics.get(metric), int | float) and math.isfinite(metrics[metric])
    ]
    if not scored:
        return result.checkpoint
    pick = min if mode == "min" else max
    return pick(scored, key=lambda pair: pair[0])[1]
