"""Learning-rate schedule shared by every system: linear warm-up, then cosine decay.

lr(step) = base_lr * step / warmup                                    for step < warmup
lr(step) = base_lr * [r + (1 - r) * ½ (1 + cos(π (step - warmup) / (total - warmup)))]  after,
with r = ``min_lr_ratio`` (OpenCLIP's ``cosine_lr`` with a floor).
"""

from __future__ import annotations

import math

import torch


def warmup_cosine_factor(
    step: int, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> float:
    """Multiplier of the base learning rate at ``step`` (0-based)."""
    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_cosine_scheduler(
    optimizer: torch.optim.Optimizer, warmup_steps: int, total_steps: int, min_lr_ratio: float
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` stepping once per optimiser step."""
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: warmup_cosine_factor(step, warmup_steps, total_steps, min_lr_ratio),
    )
