"""The generic per-worker training loop: one function every system's Ray Train run executes.

``train_fn_per_worker`` streams this worker's part of the training split
(``ray.train.get_dataset_shard``) through the task's ``collate`` (in Ray Data's iterator
threads), runs a DDP step per local batch under bf16 autocast on GPU with every optimiser the
task asks for, logs step / loss / samples/s / data wait, validates after every epoch when the
task names a validation metric, checkpoints every N steps and at epoch ends, and resumes from
the latest checkpoint (after a worker failure or when the same run is submitted again).

Why every rank runs the same number of steps: the ``train`` dataset is split with
``streaming_split(equal=True)`` (Ray Train's default ``DataConfig``), so each rank receives the
same number of rows, and ``drop_last=True`` turns that into the same number of batches; every
rank therefore enters the same collectives (DDP all-reduce, the loss's all-gather, the
validation broadcast, ``ray.train.report``) and Ray Data's known hang with uneven ranks cannot
occur. See :mod:`crossmodal_ray.training.task` for the task contract.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from ray.data.collate_fn import NumpyBatchCollateFn

from crossmodal_ray.training.checkpointing import (
    load_model_weights,
    load_optimizer_state,
    load_train_state,
    save_training_state,
    unwrap_model,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.optimizers import build_optimizers, default_optimizer_specs
from crossmodal_ray.training.task import TrainingTask, to_device, validation_metric_of
from crossmodal_ray.training.training_log import TrainingLog


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def _mean_over_ranks(value: float, device: torch.device) -> float:
    if not _distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


def _from_rank0(value: dict[str, Any]) -> dict[str, Any]:
    """Rank 0's ``value`` on every rank (validation metrics are computed on rank 0)."""
    if not _distributed():
        return value
    holder = [value]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


class TaskCollate(NumpyBatchCollateFn):
    """The task's ``collate`` as Ray Data's collate callable (numpy batches in, tensors out)."""

    def __init__(self, task: TrainingTask) -> None:
        super().__init__()
        self.task = task

    def __call__(self, batch: dict[str, Any]) -> Any:
        return self.task.collate(batch)


def _record_pid_for_fault_injection(loop: TrainLoopConfig, rank: int) -> None:
    if loop.fault_injection_pid_dir:
        pid_dir = Path(loop.fault_injection_pid_dir)
        pid_dir.mkdir(parents=True, exist_ok=True)
        with open(pid_dir / f"rank{rank}.pid", "a") as handle:
            handle.write(f"{os.getpid()}\n")


def train_fn_per_worker(config: dict[str, Any]) -> None:
    """Run on every Ray Train worker. ``config``: ``{"task": TrainingTask, "loop": dict}``."""
    task: TrainingTask = config["task"]
    loop = TrainLoopConfig.from_dict(config["loop"])
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    _record_pid_for_fault_injection(loop, rank)
    torch.manual_seed(loop.seed + rank)
    device = ray.train.torch.get_device()
    validation = validation_metric_of(task)

    model = task.build_model()
    state = {"global_step": 0, "epoch": 0, "step_in_epoch": 0, "samples_seen": 0}
    restored = ray.train.get_checkpoint()
    restored_dir, restored_metrics = None, {}
    if restored is not None:
        restored_dir = restored.to_directory()
        load_model_weights(restored_dir, model)
        restored_state = load_train_state(restored_dir)
        state.update({k: v for k, v in restored_state.items() if k in state})
        restored_metrics = restored_state.get("metrics", {})
    resumed_from_step = state["global_step"]
    # A task whose loss skips some parameters (e.g. fine-tuning never uses the mask token)
    # says so; DDP then looks for unused parameters instead of waiting for their gradients.
    # A task whose buffers are identical on every rank by construction (a contrastive queue
    # filled from gathered embeddings) turns DDP's per-step buffer broadcast off.
    # (torch 2.14 names the per-step buffer sync ``forward_sync_buffers``; buffers are still
    # synced once at wrap time, which identical-by-construction buffers do not mind.)
    ddp_kwargs = {
        "find_unused_parameters": bool(getattr(task, "ddp_find_unused_parameters", False)),
        "forward_sync_buffers": bool(getattr(task, "ddp_broadcast_buffers", True)),
    }
    model = ray.train.torch.prepare_model(model, parallel_strategy_kwargs=ddp_kwargs)
    specs = (
        task.optimizers(unwrap_model(model), loop)
        if hasattr(task, "optimizers")
        else default_optimizer_specs(unwrap_model(model))
    )
    optimizers = build_optimizers(specs, loop, loop.total_steps)
    trainable = [p for built in optimizers for p in built.params]
    if restored_dir is not None:
        load_optimizer_state(restored_dir, optimizers)

    log = TrainingLog(task.name, loop, rank, world_size)
    if rank == 0 and resumed_from_step:
        log.print(f"resumed from checkpoint at step {resumed_from_step}")
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if loop.use_gpu
        else nullcontext()
    )
    shard = ray.train.get_dataset_shard("train")
    last_checkpoint_step = -1

    def report(metrics: dict[str, Any], with_checkpoint: bool, dir_name: str) -> None:
        payload = {**metrics, **state, "resumed_from_step": resumed_from_step}
        if validation is not None:
            # A checkpoint that was not validated never ranks as the best one.
            payload.setdefault(validation[0], math.nan)
        if not with_checkpoint:
            ray.train.report(payload)
            return
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                save_training_state(
                    tmp,
                    model,
                    optimizers,
                    {
                        **state,
                        "metrics": metrics,
                        "extras": task.checkpoint_extras(),
                        "loop": loop.to_dict(),
                    },
                )
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(payload, checkpoint=checkpoint, checkpoint_dir_name=dir_name)

    collate = TaskCollate(task) if hasattr(task, "collate") else None
    model.train()
    for epoch in range(state["epoch"], loop.epochs):
        steps_to_skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        state["epoch"], state["step_in_epoch"] = epoch, 0
        batches = shard.iter_torch_batches(
            batch_size=loop.batch_size_per_worker,
            drop_last=True,
            local_shuffle_buffer_size=loop.shuffle_buffer_rows or None,
            local_shuffle_seed=loop.seed + 1000 * epoch + rank,
            collate_fn=collate,
        )
        log.start_waiting()
        for batch in batches:
            log.stop_waiting()
            if state["step_in_epoch"] < steps_to_skip:
                # Resumed mid-epoch: these batches were trained on before the failure.
                state["step_in_epoch"] += 1
                log.start_waiting()
                continue
            batch = to_device(batch, device)
            with autocast:
                loss, step_metrics = task.training_loss(model, batch)
            for built in optimizers:
                built.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if loop.grad_clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(trainable, loop.grad_clip_norm)
            for built in optimizers:
                built.optimizer.step()
                built.scheduler.step()
            state["global_step"] += 1
            state["step_in_epoch"] += 1
            state["samples_seen"] += loop.batch_size_per_worker * world_size
            log.step_done(float(loss.detach()), step_metrics, loop.batch_size_per_worker)
            if loop.fault_injection_step_sleep_s:
                time.sleep(loop.fault_injection_step_sleep_s)

            if state["global_step"] % loop.log_every_steps == 0:
                interval = log.interval_summary()
                interval["loss"] = _mean_over_ranks(interval["loss"], device)
                learning_rates = {b.name: b.scheduler.get_last_lr()[0] for b in optimizers}
                log.write_line(state, interval, learning_rates)
            if state["global_step"] % loop.checkpoint_every_steps == 0:
                report(log.run_summary(), True, f"checkpoint_step{state['global_step']:07d}")
                last_checkpoint_step = state["global_step"]
            log.start_waiting()
        state["epoch"], state["step_in_epoch"] = epoch + 1, 0
        if hasattr(task, "validation_metrics"):
            # One report per epoch with validation metrics (what Tune's schedulers compare and
            # what ranks the checkpoints), and a checkpoint with it so a stopped or failed run
            # resumes at the epoch.
            validation_started = time.perf_counter()
            model.eval()
            with torch.no_grad():
                metrics = task.validation_metrics(unwrap_model(model), device)
            model.train()
            metrics = _from_rank0(metrics)
            log.exclude(time.perf_counter() - validation_started)
            log.print_on_rank0(f"epoch {epoch + 1} validation: {_format(metrics)}")
            name = f"checkpoint_epoch{epoch + 1:04d}_step{state['global_step']:07d}"
            report({**log.run_summary(), **metrics}, True, name)
            last_checkpoint_step = state["global_step"]

    if last_checkpoint_step != state["global_step"]:
        # The last report carries a checkpoint so that ``Result.metrics`` is filled (Train V2).
        name = f"checkpoint_step{state['global_step']:07d}_final_{uuid.uuid4().hex[:6]}"
        trained_now = state["global_step"] > resumed_from_step
        # A resubmitted finished run trains no step: it reports the figures it finished with.
        report(log.run_summary() if trained_now else restored_metrics, True, name)
    log.close()


def _format(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )
