"""Checkpoint layout written by the training loop and read back by resume and evaluation.

A checkpoint directory holds:
- ``model.pt``: the unwrapped model's ``state_dict`` (no DDP ``module.`` prefix);
- ``optimizer.pt``: optimiser and LR-scheduler state (resume only);
- ``train_state.json``: global step, epoch, steps done inside that epoch, the task's extras
  (for MBSL: model config and channel grouping) and the loop config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

MODEL_FILE = "model.pt"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "train_state.json"


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DDP/FSDP wrappers."""
    return model.module if hasattr(model, "module") else model


def save_training_state(
    directory: str | Path,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None,
    scheduler: Any | None,
    state: dict[str, Any],
) -> None:
    """Write model, optimiser and loop state into ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(unwrap_model(model).state_dict(), directory / MODEL_FILE)
    if optimizer is not None:
        torch.save(
            {
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
            },
            directory / OPTIMIZER_FILE,
        )
    (directory / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True))


def load_train_state(directory: str | Path) -> dict[str, Any]:
    """The JSON state of a checkpoint (step, epoch, task extras, loop config)."""
    return json.loads((Path(directory) / STATE_FILE).read_text())


def load_model_weights(directory: str | Path, model: nn.Module) -> None:
    """Load ``model.pt`` into ``model`` (unwrapped), on CPU first."""
    state_dict = torch.load(Path(directory) / MODEL_FILE, map_location="cpu", weights_only=True)
    unwrap_model(model).load_state_dict(state_dict)


def load_optimizer_state(
    directory: str | Path, optimizer: torch.optim.Optimizer, scheduler: Any | None
) -> None:
    """Restore optimiser and scheduler state when the checkpoint has it."""
    path = Path(directory) / OPTIMIZER_FILE
    if not path.exists():
        return
    saved = torch.load(path, map_location="cpu", weights_only=False)
    optimizer.load_state_dict(saved["optimizer"])
    if scheduler is not None and saved.get("scheduler") is not None:
        scheduler.load_state_dict(saved["scheduler"])
