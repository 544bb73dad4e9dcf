"""Checkpoint layout written by the training loop and read back by resume and evaluation.

A checkpoint directory holds:
- ``model.pt``: the unwrapped model's ``state_dict`` (no DDP ``module.`` prefix);
- ``optimizer.pt``: every optimiser's and LR scheduler's state, by optimiser name (resume only);
- ``train_state.json``: global step, epoch, steps done inside that epoch, the task's extras
  (for MBSL: model config and channel grouping) and the loop config.

Every ``.pt`` file of a checkpoint is read with ``torch.load(..., weights_only=True)``
(:func:`load_tensor_file`): tensors, numbers, strings and plain containers only, so a
checkpoint from elsewhere cannot run code when loaded. What is saved keeps to that (AdamW's
state and a ``LambdaLR``'s are tensors, numbers and lists; the generator states are stored as
tensors and lists, :mod:`crossmodal_ray.training.rng_state`); a file holding anything else is
refused with :class:`UnsafeCheckpointError`, which names what it holds.
"""

from __future__ import annotations

import json
import pickle
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from crossmodal_ray.training.optimizers import BuiltOptimizer

MODEL_FILE = "model.pt"
OPTIMIZER_FILE = "optimizer.pt"
STATE_FILE = "train_state.json"


class UnsafeCheckpointError(pickle.UnpicklingError):
    """A checkpoint file holds more than tensors and plain containers: it is not loaded."""


def load_tensor_file(path: str | Path) -> Any:
    """``torch.load(path, weights_only=True)`` on CPU; anything else in the file is refused.

    Raises:
        UnsafeCheckpointError: the pickle names a class or function beyond tensors, numbers,
            strings and plain containers (e.g. ``os.system``: such a file would run code).
    """
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        what = f"a reference to '{found.group(1)}'" if found else "objects of other types"
        raise UnsafeCheckpointError(
            f"{path}: refused to load: the file holds {what}; a checkpoint may hold only "
            f"tensors, numbers, strings and plain containers (this project's always do), and a "
            f"file that holds more may run code when loaded. Use a checkpoint written by this "
            f"project's training jobs."
        ) from None


def unwrap_model(model: nn.Module) -> nn.Module:
    """The module inside DDP/FSDP wrappers."""
    return model.module if hasattr(model, "module") else model


def save_training_state(
    directory: str | Path,
    model: nn.Module,
    optimizers: list[BuiltOptimizer],
    state: dict[str, Any],
) -> None:
    """Write model, optimisers and loop state into the local ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    torch.save(unwrap_model(model).state_dict(), directory / MODEL_FILE)
    if optimizers:
        torch.save(
            {
                built.name: {
                    "optimizer": built.optimizer.state_dict(),
                    "scheduler": built.scheduler.state_dict(),
                }
                for built in optimizers
            },
            directory / OPTIMIZER_FILE,
        )
    (directory / STATE_FILE).write_text(json.dumps(state, indent=2, sort_keys=True))


def load_train_state(directory: str | Path) -> dict[str, Any]:
    """The JSON state of a checkpoint (step, epoch, task extras, loop config)."""
    return json.loads((Path(directory) / STATE_FILE).read_text())


def load_model_weights(directory: str | Path, model: nn.Module) -> None:
    """Load ``model.pt`` into ``model`` (unwrapped), on CPU first."""
    state_dict = load_tensor_file(Path(directory) / MODEL_FILE)
    unwrap_model(model).load_state_dict(state_dict)


def load_optimizer_state(directory: str | Path, optimizers: list[BuiltOptimizer]) -> None:
    """Restore each optimiser's and scheduler's state when the checkpoint has it."""
    path = Path(directory) / OPTIMIZER_FILE
    if not path.exists():
        return
    saved = load_tensor_file(path)
    missing = [built.name for built in optimizers if built.name not in saved]
    if missing:
        raise KeyError(f"checkpoint {directory} has no state for optimizers {missing}")
    for built in optimizers:
        built.optimizer.load_state_dict(saved[built.name]["optimizer"])
        built.scheduler.load_state_dict(saved[built.name]["scheduler"])
