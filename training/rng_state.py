"""Every random generator a training step draws from, captured per rank and restored on resume.

The masking ratios, the random masks and dropout draw from torch's CPU and CUDA generators;
numpy and Python's ``random`` may be used by a task's collate. A checkpoint stores one entry per
rank (``rng_states.pt``, written by rank 0 after an all-gather), so that a run resumed with the
same world size continues every rank's generators where the checkpointed step left them. The
data order needs no state: it is a pure function of the seed, epoch and rank
(:mod:`crossmodal_ray.training.epoch_order`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

RNG_FILE = "rng_states.pt"


def capture_rng_state() -> dict[str, Any]:
    """This process's generator states."""
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put this process's generators back to ``state`` (from :func:`capture_rng_state`)."""
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])


def gather_rng_states() -> list[dict[str, Any]]:
    """Every rank's generator states, in rank order (on every rank)."""
    mine = capture_rng_state()
    if not (dist.is_available() and dist.is_initialized()):
        return [mine]
    everyone: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    return everyone


def save_rng_states(directory: str | Path, states: list[dict[str, Any]]) -> None:
    torch.save(states, Path(directory) / RNG_FILE)


def load_rng_states(directory: str | Path) -> list[dict[str, Any]] | None:
    """The per-rank states a checkpoint holds, None for a checkpoint without them."""
    path = Path(directory) / RNG_FILE
    if not path.exists():
        return None
    return torch.load(path, map_location="cpu", weights_only=False)
