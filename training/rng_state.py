"""Every random generator a training step draws from, captured per rank and restored on resume.

The masking ratios, the random masks and dropout draw from torch's CPU and CUDA generators;
numpy and Python's ``random`` may be used by a task's collate. A checkpoint stores one entry per
rank (``rng_states.pt``, written by rank 0 after an all-gather), so that a run resumed with the
same world size continues every rank's generators where the checkpointed step left them. The
data order needs no state: it is a pure function of the seed, epoch and rank
(:mod:`crossmodal_ray.training.epoch_order`).

The file holds tensors, numbers, strings and lists only, so that it loads with
``torch.load(weights_only=True)`` (:func:`~crossmodal_ray.training.checkpointing.
load_tensor_file`): numpy's MT19937 key is stored as an int64 tensor and Python's state tuple
as a list, not as the numpy array and tuples the libraries hand out. Files of earlier
checkpoints (numpy's state as an array) are still read, with numpy's uint32 array as the one
extra type allowed (:func:`load_rng_states`).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from crossmodal_ray.training.checkpointing import UnsafeCheckpointError, load_tensor_file

RNG_FILE = "rng_states.pt"
RNG_FORMAT = 2  # 1 (unversioned): numpy's state as an array, Python's as nested tuples


def capture_rng_state() -> dict[str, Any]:
    """This process's generator states, as tensors, numbers and lists."""
    numpy_state = np.random.get_state(legacy=False)  # MT19937 (np.random's legacy generator)
    version, internal, gauss_next = random.getstate()
    return {
        "format": RNG_FORMAT,
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {
            "bit_generator": numpy_state["bit_generator"],
            "key": torch.from_numpy(numpy_state["state"]["key"].astype(np.int64)),
            "pos": int(numpy_state["state"]["pos"]),
            "has_gauss": int(numpy_state["has_gauss"]),
            "gauss": float(numpy_state["gauss"]),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put this process's generators back to ``state`` (from :func:`capture_rng_state`)."""
    if state.get("format") != RNG_FORMAT:
        state = _from_format_1(state)
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    saved = state["numpy"]
    np.random.set_state(
        {
            "bit_generator": saved["bit_generator"],
            "state": {"key": saved["key"].numpy().astype(np.uint32), "pos": saved["pos"]},
            "has_gauss": saved["has_gauss"],
            "gauss": saved["gauss"],
        }
    )
    python = state["python"]
    random.setstate((python["version"], tuple(python["internal"]), python["gauss_next"]))


def _from_format_1(state: dict[str, Any]) -> dict[str, Any]:
    """An earlier checkpoint's state: ``np.random.get_state()``'s and ``random.getstate()``'s
    tuples as they were."""
    name, key, pos, has_gauss, gauss = state["numpy"]
    version, internal, gauss_next = state["python"]
    return {
        **state,
        "numpy": {
            "bit_generator": name,
            "key": torch.from_numpy(np.asarray(key).astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "python": {"version": version, "internal": list(internal), "gauss_next": gauss_next},
    }


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
    """The per-rank states a checkpoint holds, None for a checkpoint without them.

    Raises:
        UnsafeCheckpointError: the file holds anything but tensors, numbers, strings, plain
            containers and (earlier checkpoints) numpy uint32 arrays.
    """
    path = Path(directory) / RNG_FILE
    if not path.exists():
        return None
    try:
        return load_tensor_file(path)
    except UnsafeCheckpointError:
        pass
    # An earlier checkpoint: numpy's MT19937 key pickled as a uint32 array. Allowed for this
    # one load, and nothing else: any other class or function is still refused.
    numpy_array_types = [np._core.multiarray._reconstruct, np.ndarray, np.dtype]
    with torch.serialization.safe_globals([*numpy_array_types, np.dtypes.UInt32DType]):
        return load_tensor_file(path)
