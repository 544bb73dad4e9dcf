"""Typed configuration of the generic Ray Train loop (every system uses it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class TrainLoopConfig:
    """How to train, independent of what is trained.

    Attributes:
        run_name: stable name of the run; resubmitting the same name and storage path resumes
            from the latest checkpoint.
        storage_path: where checkpoints, metrics and TensorBoard logs go (a path, ``s3://``,
            ``gs://``); shared storage on a cluster.
        num_workers: Ray Train workers (one per GPU with ``use_gpu``).
        use_gpu: train on GPUs with bf16 autocast.
        epochs: passes over the training split.
        batch_size_per_worker: local batch; the contrastive pool is ``num_workers`` times it.
        lr, weight_decay, betas: AdamW.
        warmup_steps, min_lr_ratio: linear warm-up then cosine decay to ``min_lr_ratio * lr``.
        grad_clip_norm: global gradient-norm clip (0 disables).
        checkpoint_every_steps: checkpoint cadence (and always at the end).
        log_every_steps: one log line (step, loss, samples/s, data wait) every N steps.
        num_to_keep: checkpoints kept on storage.
        max_failures: worker failures Ray Train recovers from (restarting from the checkpoint).
        shuffle_buffer_rows: rows each batch is drawn from (a seeded shuffle buffer over the
            worker's blocks; 0 keeps block order).
        order_block_rows: rows per training block; every epoch deals the blocks to the workers
            in a new seeded order (smaller blocks spread a record over more workers).
        seed: torch seed (per worker: seed + rank) and the data-order seed.
        steps_per_epoch: filled in by the driver from the row count (same on every worker).
        fault_injection_pid_dir: tests only: each worker writes ``rank<r>.pid`` here so a test
            can kill a worker process.
        fault_injection_step_sleep_s: tests only: sleep per step so a kill lands mid-run.
    """

    run_name: str = "mbsl"
    storage_path: str = "runs"
    num_workers: int = 2
    use_gpu: bool = False
    epochs: int = 4
    batch_size_per_worker: int = 64
    lr: float = 1e-3
    weight_decay: float = 0.05
    betas: tuple[float, float] = (0.9, 0.98)
    warmup_steps: int = 20
    min_lr_ratio: float = 0.05
    grad_clip_norm: float = 1.0
    checkpoint_every_steps: int = 100
    log_every_steps: int = 10
    num_to_keep: int = 2
    max_failures: int = 2
    shuffle_buffer_rows: int = 512
    order_block_rows: int = 64
    seed: int = 0
    steps_per_epoch: int = 0
    fault_injection_pid_dir: str = ""
    fault_injection_step_sleep_s: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> TrainLoopConfig:
        values = dict(values)
        values["betas"] = tuple(values.get("betas", (0.9, 0.98)))
        return cls(**values)

    @property
    def total_steps(self) -> int:
        return self.epochs * self.steps_per_epoch
