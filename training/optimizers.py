"""Optimisers of a training run: one AdamW by default, or what the task asks for.

A task may return several :class:`OptimizerSpec` from ``optimizers(model, loop)`` (e.g. COOLANT
trains its similarity module with an optimiser of its own), each over a disjoint set of
parameters, with its own parameter groups (learning-rate multipliers, e.g. a small rate for a
pretrained BERT and a larger one for new heads) and its own warm-up/cosine schedule. Frozen
modules are simply left out (``requires_grad=False``). Every optimiser steps once per training
step after one backward pass of the task's total loss; a term meant for one optimiser only
detaches what the other one owns.

The default (a task without ``optimizers``) is OpenCLIP's: AdamW over every trainable
parameter, weight decay on matrices only (no decay on gains, biases, scales, tokens).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.lr_schedule import warmup_cosine_scheduler


@dataclass
class ParamGroup:
    """Parameters that share a learning-rate multiplier and a weight-decay rule.

    Attributes:
        params: The parameters (frozen ones are skipped).
        lr_scale: Multiplier of the optimiser's learning rate.
        weight_decay: Decay for this group; ``None`` = the optimiser's decay on matrices and
            none on vectors (gains, biases).
    """

    params: list[nn.Parameter]
    lr_scale: float = 1.0
    weight_decay: float | None = None


@dataclass
class OptimizerSpec:
    """One AdamW optimiser and its schedule; ``None`` fields take the loop's value.

    Attributes:
        name: Key of its state in checkpoints and of its learning rate in the logs.
        groups: Its parameter groups.
        lr, weight_decay, betas: AdamW.
        warmup_steps, min_lr_ratio: Linear warm-up, then cosine decay to ``min_lr_ratio * lr``.
    """

    name: str
    groups: list[ParamGroup] = field(default_factory=list)
    lr: float | None = None
    weight_decay: float | None = None
    betas: tuple[float, float] | None = None
    warmup_steps: int | None = None
    min_lr_ratio: float | None = None


@dataclass
class BuiltOptimizer:
    """An optimiser, its scheduler and the parameters it owns (for gradient clipping)."""

    name: str
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    params: list[nn.Parameter]


def default_optimizer_specs(model: nn.Module) -> list[OptimizerSpec]:
    """One optimiser, ``main``, over every trainable parameter."""
    return [OptimizerSpec("main", [ParamGroup(list(model.parameters()))])]


def build_optimizers(
    specs: list[OptimizerSpec], loop: TrainLoopConfig, total_steps: int
) -> list[BuiltOptimizer]:
    """AdamW + warm-up/cosine schedule per spec; checks that no parameter is shared."""
    seen: set[int] = set()
    built = []
    for spec in specs:
        weight_decay = loop.weight_decay if spec.weight_decay is None else spec.weight_decay
        lr = loop.lr if spec.lr is None else spec.lr
        torch_groups, owned = [], []
        for group in spec.groups:
            trainable = [p for p in group.params if p.requires_grad]
            for parameter in trainable:
                if id(parameter) in seen:
                    raise ValueError(f"optimizer {spec.name!r}: a parameter is in two groups")
                seen.add(id(parameter))
            owned += trainable
            if group.weight_decay is None:
                split = {
                    weight_decay: [p for p in trainable if p.ndim >= 2],
                    0.0: [p for p in trainable if p.ndim < 2],
                }
            else:
                split = {group.weight_decay: trainable}
            for decay, params in split.items():
                if params:
                    torch_groups.append(
                        {"params": params, "weight_decay": decay, "lr": lr * group.lr_scale}
                    )
        if not torch_groups:
            raise ValueError(f"optimizer {spec.name!r} has no trainable parameter")
        optimizer = torch.optim.AdamW(torch_groups, lr=lr, betas=spec.betas or loop.betas)
        scheduler = warmup_cosine_scheduler(
            optimizer,
            loop.warmup_steps if spec.warmup_steps is None else spec.warmup_steps,
            max(1, total_steps),
            loop.min_lr_ratio if spec.min_lr_ratio is None else spec.min_lr_ratio,
        )
        built.append(BuiltOptimizer(spec.name, optimizer, scheduler, owned))
    names = [b.name for b in built]
    if len(set(names)) != len(names):
        raise ValueError(f"optimizer names must differ: {names}")
    return built
