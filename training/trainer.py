"""Driver side of a training run: build the ``TorchTrainer`` (Train V2) and run it.

The same function trains every system: it takes a :class:`~training.task.TrainingTask`, the
loop config and the training rows (a Ray Dataset, cut here into the small blocks the per-epoch
data order deals to the workers, or blocks already built, e.g. once for all trials of a sweep:
:mod:`~crossmodal_ray.training.training_blocks`), sizes the run from flags
(``ScalingConfig(num_workers, use_gpu)``), keeps checkpoints under a stable run name
(``RunConfig(name, storage_path)``: resubmitting resumes) and retries failed workers
(``FailureConfig(max_failures)``).

Extra datasets (e.g. a probe subset of the training split and the validation split that a task's
``validation_metrics`` reads with ``ray.train.get_dataset_shard``) reach every worker whole
(``DataConfig(datasets_to_split=[])``); the training blocks travel as object references in the
loop config, never as a Ray Train dataset. ``callbacks``
are Ray Train callbacks, e.g. inside a sweep trial Ray Tune's ``TuneReportCallback``.

Checkpoints: with a task that names a validation metric, Ray Train ranks them by it
(``CheckpointConfig(checkpoint_score_attribute=...)``) and keeps the best ``num_to_keep`` plus
the latest; :func:`best_checkpoint` is what evaluation loads.
"""

from __future__ import annotations

from dataclasses import replace

import ray.data
import ray.train
from ray.train.torch import TorchTrainer

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.checkpointing import load_model_weights
from crossmodal_ray.training.epoch_order import EpochOrder
from crossmodal_ray.training.loop import is_validation_score, train_fn_per_worker
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.loopback_torch_backend import LoopbackTorchConfig
from crossmodal_ray.training.task import TrainingTask, validation_metric_of
from crossmodal_ray.training.training_blocks import BlockPlan, build_training_blocks


def training_blocks_of(
    task: TrainingTask, loop: TrainLoopConfig, train: ray.data.Dataset | BlockPlan
) -> BlockPlan:
    """``train`` as blocks of the task's columns (built here from a Dataset)."""
    if isinstance(train, BlockPlan):
        missing = set(task.columns) - set(train.columns)
        if missing:
            raise ValueError(f"the training blocks lack the task's columns {sorted(missing)}")
        return train
    return build_training_blocks(train, task.columns, loop.num_workers, loop.order_block_rows)


def run_training(
    task: TrainingTask,
    loop: TrainLoopConfig,
    train: ray.data.Dataset | BlockPlan,
    extra_datasets: dict[str, ray.data.Dataset] | None = None,
    callbacks: list | None = None,
) -> ray.train.Result:
    """Train ``task`` on ``train_dataset`` with ``loop.num_workers`` Ray Train workers.

    Args:
        task: The system to train.
        loop: How to train (workers, epochs, batch size, run name, storage ...).
        train: Training rows: a Dataset, or blocks from
            :func:`~crossmodal_ray.training.training_blocks.build_training_blocks` (with at
            least the task's columns); each epoch deals the blocks to the workers anew.
        extra_datasets: Named datasets every worker receives whole (not split); ``None``
            keeps the plain single-dataset run.
        callbacks: Ray Train callbacks for the run (``RunConfig(callbacks=...)``).
    """
    loop = replace(loop, storage_path=storage.normalize(loop.storage_path))
    blocks = training_blocks_of(task, loop, train)
    order = EpochOrder(blocks.rows, loop.num_workers, loop.batch_size_per_worker, loop.seed)
    loop = replace(loop, steps_per_epoch=order.steps_per_epoch)
    if loop.steps_per_epoch < 1:
        raise ValueError(
            f"{blocks.total_rows} training rows give no full batch for {loop.num_workers} "
            f"workers x {loop.batch_size_per_worker} rows; lower --batch-size or --num-workers"
        )
    datasets: dict[str, ray.data.Dataset] = {}
    needed = set(getattr(task, "validation_datasets", ()))
    missing = needed - set(extra_datasets or {})
    if missing:
        raise ValueError(f"task {task.name} validates on datasets {sorted(missing)}: pass them")
    if extra_datasets:
        if "train" in extra_datasets:
            raise ValueError("extra_datasets must not name 'train': the training rows are blocks")
        datasets.update(extra_datasets)
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
        train_loop_config={"task": task, "loop": loop.to_dict(), "blocks": blocks},
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
        datasets=datasets or None,
        dataset_config=ray.train.DataConfig(datasets_to_split=[]),
    )
    return trainer.fit()  # ``blocks`` (the driver's references) stays alive until here


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
        if is_validation_score(metrics.get(metric))
    ]
    if not scored:
        return result.checkpoint
    pick = min if mode == "min" else max
    return pick(scored, key=lambda pair: pair[0])[1]


def best_validation_value(result: ray.train.Result, task: TrainingTask) -> float:
    """The best finite value of the task's validation metric among the run's kept checkpoints
    (NaN when none was validated)."""
    validation = validation_metric_of(task)
    if validation is None:
        return float("nan")
    metric, mode = validation
    values = [
        float(metrics[metric])
        for _, metrics in result.best_checkpoints or []
        if is_validation_score(metrics.get(metric))
    ]
    if not values:
        return float("nan")
    return min(values) if mode == "min" else max(values)


def load_best_weights(
    result: ray.train.Result, task: TrainingTask, model, storage_path: str
) -> str:
    """Load the weights of :func:`best_checkpoint` into ``model``; returns that checkpoint's
    location (a path, or a URI when ``storage_path`` is one)."""
    best = best_checkpoint(result, task)
    with best.as_directory() as directory:
        load_model_weights(directory, model)
    return storage.with_scheme_of(storage_path, best.path)


def train_and_load_best(
    task: TrainingTask,
    loop: TrainLoopConfig,
    train: ray.data.Dataset | BlockPlan,
    val: ray.data.Dataset,
    model,
) -> tuple[ray.train.Result, str]:
    """Train ``task`` validated on ``val`` (the ``"val"`` extra dataset), load the best validated
    checkpoint's weights into ``model``; returns the result and that checkpoint's location. A
    failed run raises its error."""
    result = run_training(task, loop, train, extra_datasets={"val": val})
    if result.error:
        raise result.error
    return result, load_best_weights(result, task, model, loop.storage_path)
