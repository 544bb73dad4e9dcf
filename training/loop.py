"""The generic per-worker training loop: one function every system's Ray Train run executes.

``train_fn_per_worker`` streams this worker's part of the training split
(``ray.train.get_dataset_shard``), runs a DDP step per local batch under bf16 autocast on GPU,
logs step / loss / samples/s / data wait, checkpoints every N steps and resumes from the latest
checkpoint (after a worker failure or when the same run is submitted again).

Why every rank runs the same number of steps: the ``train`` dataset is split with
``streaming_split(equal=True)`` (Ray Train's default ``DataConfig``), so each rank receives the
same number of rows, and ``drop_last=True`` turns that into the same number of batches; every
rank therefore enters the same collectives (DDP all-reduce, the loss's all-gather,
``ray.train.report``) and Ray Data's known hang with uneven ranks cannot occur.
"""

from __future__ import annotations

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

from crossmodal_ray.training.checkpointing import (
    load_model_weights,
    load_optimizer_state,
    load_train_state,
    save_training_state,
    unwrap_model,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.lr_schedule import warmup_cosine_scheduler
from crossmodal_ray.training.task import TrainingTask
from crossmodal_ray.training.training_log import TrainingLog


def build_adamw(model: torch.nn.Module, loop: TrainLoopConfig) -> torch.optim.AdamW:
    """AdamW with weight decay on matrices only (OpenCLIP: no decay on gains, biases, scales)."""
    decay, no_decay = [], []
    for parameter in model.parameters():
        if not parameter.requires_grad:
            continue
        (decay if parameter.ndim >= 2 else no_decay).append(parameter)
    groups = [
        {"params": decay, "weight_decay": loop.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=loop.lr, betas=loop.betas)


def _mean_over_ranks(value: float, device: torch.device) -> float:
    if not (dist.is_available() and dist.is_initialized()):
        return value
    tensor = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(tensor)
    return float(tensor.item()) / dist.get_world_size()


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
    ddp_kwargs = {
        "find_unused_parameters": bool(getattr(task, "ddp_find_unused_parameters", False)),
        "broadcast_buffers": bool(getattr(task, "ddp_broadcast_buffers", True)),
    }
    model = ray.train.torch.prepare_model(model, parallel_strategy_kwargs=ddp_kwargs)
    optimizer = build_adamw(model, loop)
    scheduler = warmup_cosine_scheduler(
        optimizer, loop.warmup_steps, max(1, loop.total_steps), loop.min_lr_ratio
    )
    if restored_dir is not None:
        load_optimizer_state(restored_dir, optimizer, scheduler)

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
        if not with_checkpoint:
            ray.train.report(payload)
            return
        with tempfile.TemporaryDirectory() as tmp:
            checkpoint = None
            if rank == 0:
                save_training_state(
                    tmp,
                    model,
                    optimizer,
                    scheduler,
                    {
                        **state,
                        "metrics": metrics,
                        "extras": task.checkpoint_extras(),
                        "loop": loop.to_dict(),
                    },
                )
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(payload, checkpoint=checkpoint, checkpoint_dir_name=dir_name)

    model.train()
    for epoch in range(state["epoch"], loop.epochs):
        steps_to_skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        state["epoch"], state["step_in_epoch"] = epoch, 0
        batches = shard.iter_torch_batches(
            batch_size=loop.batch_size_per_worker,
            drop_last=True,
            local_shuffle_buffer_size=loop.shuffle_buffer_rows or None,
            local_shuffle_seed=loop.seed + 1000 * epoch + rank,
        )
        log.start_waiting()
        for batch in batches:
            log.stop_waiting()
            if state["step_in_epoch"] < steps_to_skip:
                # Resumed mid-epoch: these batches were trained on before the failure.
                state["step_in_epoch"] += 1
                log.start_waiting()
                continue
            tensors = task.batch_to_tensors(batch, device)
            with autocast:
                loss, step_metrics = task.training_loss(model, tensors)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if loop.grad_clip_norm > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), loop.grad_clip_norm)
            optimizer.step()
            scheduler.step()
            state["global_step"] += 1
            state["step_in_epoch"] += 1
            state["samples_seen"] += loop.batch_size_per_worker * world_size
            log.step_done(float(loss.detach()), step_metrics, loop.batch_size_per_worker)
            if loop.fault_injection_step_sleep_s:
                time.sleep(loop.fault_injection_step_sleep_s)

            if state["global_step"] % loop.log_every_steps == 0:
                interval = log.interval_summary()
                interval["loss"] = _mean_over_ranks(interval["loss"], device)
                log.write_line(state, interval, scheduler.get_last_lr()[0])
            if state["global_step"] % loop.checkpoint_every_steps == 0:
                report(log.run_summary(), True, f"checkpoint_step{state['global_step']:07d}")
                last_checkpoint_step = state["global_step"]
            log.start_waiting()
        state["epoch"], state["step_in_epoch"] = epoch + 1, 0
        if hasattr(task, "validation_metrics"):
            # One report per epoch with validation metrics (what Tune's schedulers compare),
            # and a checkpoint with it so a stopped or failed trial resumes at the epoch.
            model.eval()
            with torch.no_grad():
                validation = task.validation_metrics(unwrap_model(model), device)
            model.train()
            log.print_on_rank0(f"epoch {epoch + 1} validation: {validation}")
            name = f"checkpoint_epoch{epoch + 1:04d}_step{state['global_step']:07d}"
            report({**log.run_summary(), **validation}, True, name)
            last_checkpoint_step = state["global_step"]

    if last_checkpoint_step != state["global_step"]:
        # The last report carries a checkpoint so that ``Result.metrics`` is filled (Train V2).
        name = f"checkpoint_step{state['global_step']:07d}_final_{uuid.uuid4().hex[:6]}"
        trained_now = state["global_step"] > resumed_from_step
        # A resubmitted finished run trains no step: it reports the figures it finished with.
        report(log.run_summary() if trained_now else restored_metrics, True, name)
    log.close()
