"""The generic per-worker training loop: one function every system's Ray Train run executes.

``train_fn_per_worker`` reads this worker's blocks of the training split for the epoch
(:mod:`crossmodal_ray.training.epoch_order`: a fresh seeded block permutation every epoch, so
every rank meets the whole split over the epochs) through a seeded shuffle buffer and the task's
``collate`` in a background thread (:mod:`crossmodal_ray.training.block_batches`), runs a DDP
step per local batch under bf16 autocast on GPU with every optimiser the task asks for, logs
step / loss / samples/s / data wait, validates after every epoch when the task names a
validation metric, checkpoints every N steps and at epoch ends, and resumes from the latest
checkpoint (after a worker failure or when the same run is submitted again).

Exact resume: a checkpoint holds the model, the optimisers, the step inside the epoch, the data
plan's fingerprint and every rank's generator states (:mod:`crossmodal_ray.training.rng_state`).
A resumed run with the same plan replays the epoch's batches, skipping those already trained
on, so the samples of every step are those of an uninterrupted run.

Why every rank runs the same number of steps: every rank reads the same number of blocks and
stops after ``EpochOrder.steps_per_epoch`` full batches (what the smallest blocks give), so
every rank enters the same collectives (DDP all-reduce, the loss's all-gather, the validation
broadcast, ``ray.train.report``). See :mod:`crossmodal_ray.training.task` for the task contract.
"""

from __future__ import annotations

import math
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pyarrow.fs
import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from crossmodal_ray.training.block_batches import iter_epoch_batches
from crossmodal_ray.training.checkpointing import (
    load_model_weights,
    load_optimizer_state,
    load_train_state,
    save_training_state,
    unwrap_model,
)
from crossmodal_ray.training.epoch_order import EpochOrder
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.optimizers import build_optimizers, default_optimizer_specs
from crossmodal_ray.training.rng_state import (
    gather_rng_states,
    load_rng_states,
    restore_rng_state,
    save_rng_states,
)
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


def not_validated_score(mode: str) -> float:
    """The validation metric reported with a checkpoint saved between validations: the worst
    finite value for ``mode``, so that Ray Train never ranks it as the best.

    Not NaN or infinity: Ray Train keeps the reported metrics in the run's
    ``checkpoint_manager_snapshot.json``, where those become ``null``, and a resubmitted run
    (a new driver) that restored them failed on its first checkpoint ("unsupported operand
    type(s) for *: 'float' and 'NoneType'").
    """
    return sys.float_info.max if mode == "min" else -sys.float_info.max


def is_validation_score(value: Any) -> bool:
    """Whether ``value`` is a validation figure (a finite number, not
    :func:`not_validated_score`)."""
    return (
        isinstance(value, int | float) and math.isfinite(value) and abs(value) != sys.float_info.max
    )


def _record_pid_for_fault_injection(loop: TrainLoopConfig, rank: int) -> None:
    if loop.fault_injection_pid_dir:
        pid_dir = Path(loop.fault_injection_pid_dir)
        pid_dir.mkdir(parents=True, exist_ok=True)
        with open(pid_dir / f"rank{rank}.pid", "a") as handle:
            handle.write(f"{os.getpid()}\n")


def train_fn_per_worker(config: dict[str, Any]) -> None:
    """Run on every Ray Train worker.

    ``config``: ``{"task": TrainingTask, "loop": dict, "blocks": BlockPlan}`` (the training
    split's blocks, :mod:`crossmodal_ray.training.training_blocks`).
    """
    task: TrainingTask = config["task"]
    loop = TrainLoopConfig.from_dict(config["loop"])
    plan = config["blocks"]
    context = ray.train.get_context()
    rank, world_size = context.get_world_rank(), context.get_world_size()
    _record_pid_for_fault_injection(loop, rank)
    torch.manual_seed(loop.seed + rank)
    order = EpochOrder(plan.rows, world_size, loop.batch_size_per_worker, loop.seed)
    device = ray.train.torch.get_device()
    validation = validation_metric_of(task)

    model = task.build_model()
    state = {"global_step": 0, "epoch": 0, "step_in_epoch": 0, "samples_seen": 0}
    restored_dir, restored_metrics = local_checkpoint_dir(ray.train.get_checkpoint()), {}
    if restored_dir is not None:
        load_model_weights(restored_dir, model)
        restored_state = load_train_state(restored_dir)
        state.update({k: v for k, v in restored_state.items() if k in state})
        restored_metrics = restored_state.get("metrics", {})
        _check_same_data_order(restored_state, order, state)
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
    if restored_dir is not None:
        rng_note = _restore_rng(restored_dir, rank, world_size)
        if rank == 0 and resumed_from_step:
            log.print(f"resumed from checkpoint at step {resumed_from_step} ({rng_note})")
        remove_private_copy(restored_dir)
    elif rank == 0:
        log.print(f"data order: {order.describe()}")
    autocast = (
        torch.autocast(device_type=device.type, dtype=torch.bfloat16)
        if loop.use_gpu
        else nullcontext()
    )
    last_checkpoint_step = -1
    after_step = getattr(unwrap_model(model), "after_optimizer_step", None)

    def report(metrics: dict[str, Any], with_checkpoint: bool, dir_name: str) -> None:
        payload = {**metrics, **state, "resumed_from_step": resumed_from_step}
        if validation is not None and not is_validation_score(payload.get(validation[0])):
            # A checkpoint that was not validated (or whose validation gave NaN) never ranks
            # as the best one; a report without a checkpoint (not kept in Ray Train's
            # snapshot) says NaN, which Tune's schedulers and the sweep report skip.
            payload[validation[0]] = (
                not_validated_score(validation[1]) if with_checkpoint else math.nan
            )
        if not with_checkpoint:
            ray.train.report(payload)
            return
        rng_states = gather_rng_states()  # a collective: every rank takes part
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
                        "data_order": order.describe(),
                        "world_size": world_size,
                    },
                )
                save_rng_states(tmp, rng_states)
                checkpoint = ray.train.Checkpoint.from_directory(tmp)
            ray.train.report(payload, checkpoint=checkpoint, checkpoint_dir_name=dir_name)

    collate = task.collate if hasattr(task, "collate") else None
    model.train()
    for epoch in range(state["epoch"], loop.epochs):
        # Resumed mid-epoch: the first batches were trained on before the interruption.
        steps_to_skip = state["step_in_epoch"] if epoch == state["epoch"] else 0
        state["epoch"], state["step_in_epoch"] = epoch, steps_to_skip
        batches = iter_epoch_batches(
            [plan.refs[i] for i in order.rank_blocks(epoch, rank)],
            loop.batch_size_per_worker,
            loop.shuffle_buffer_rows,
            order.shuffle_rng(epoch, rank),
            steps=order.steps_per_epoch,
            skip_batches=steps_to_skip,
            collate=collate,
        )
        log.start_waiting()
        for batch in batches:
            log.stop_waiting()
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
            if after_step is not None:
                after_step()  # e.g. the momentum (key) encoder's EMA update
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


PRIVATE_COPY_PREFIX = "resume_checkpoint_"


def local_checkpoint_dir(checkpoint: ray.train.Checkpoint | None) -> str | None:
    """A local folder this rank reads the checkpoint to resume from (None: no checkpoint).

    A checkpoint on local or mounted storage is read where it is (a registered checkpoint is
    never rewritten); one on remote storage is downloaded into a folder of this rank's own,
    removed once restored (:func:`remove_private_copy`). Not ``Checkpoint.to_directory()``:
    the ranks of a node share its temporary folder, and a rank that arrives after another
    has finished downloads into it again, so the other reads files being rewritten
    ("PytorchStreamReader failed reading file", seen when a restarted worker group resumed);
    and that folder is never removed (a copy of the checkpoint per resume left in /tmp).
    """
    if checkpoint is None:
        return None
    if isinstance(checkpoint.filesystem, pyarrow.fs.LocalFileSystem):
        return checkpoint.path
    return checkpoint.to_directory(tempfile.mkdtemp(prefix=PRIVATE_COPY_PREFIX))


def remove_private_copy(directory: str) -> None:
    """Remove the download :func:`local_checkpoint_dir` made (never the checkpoint itself)."""
    if Path(directory).name.startswith(PRIVATE_COPY_PREFIX):
        shutil.rmtree(directory, ignore_errors=True)


def _check_same_data_order(
    restored_state: dict[str, Any], order: EpochOrder, state: dict[str, Any]
) -> None:
    """A checkpoint from another data plan (other rows, blocks, seed, batch or world size)
    cannot be replayed exactly: the epoch restarts from its first batch under the new plan."""
    saved = restored_state.get("data_order", {}).get("fingerprint")
    if saved is not None and saved != order.fingerprint() and state["step_in_epoch"]:
        print(
            f"[train] the checkpoint's data order {saved} differs from this run's "
            f"{order.fingerprint()} (rows, blocks, seed, batch size or workers changed): "
            f"epoch {state['epoch'] + 1} restarts from its first batch"
        )
        state["step_in_epoch"] = 0


def _restore_rng(directory: str, rank: int, world_size: int) -> str:
    """Restore this rank's generators from the checkpoint; a short note of what happened."""
    states = load_rng_states(directory)
    if states is None or len(states) != world_size:
        return "random generators reseeded: the checkpoint has none for this world size"
    restore_rng_state(states[rank])
    return "random generators restored"


def _format(metrics: dict[str, Any]) -> str:
    return ", ".join(
        f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )
