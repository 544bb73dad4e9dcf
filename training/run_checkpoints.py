"""The state saved with a run's checkpoints, read by the driver before the run starts.

A resubmitted run (same ``--run-name`` and ``--storage-path``) resumes from its latest
checkpoint; what the driver decided before the first submission (for MBSL: the channel
grouping and the model config, fitted on a random sample of the data) must come back from
that checkpoint, never be decided again, or the resumed weights would meet another model.
"""

from __future__ import annotations

import json
from typing import Any

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.checkpointing import STATE_FILE

CHECKPOINT_PREFIX = "checkpoint_"


def latest_checkpoint_state(storage_path: str, run_name: str) -> dict[str, Any] | None:
    """``train_state.json`` of the run's checkpoint with the most steps (any storage), or None
    when the run has no checkpoint yet."""
    run_dir = storage.join(storage.normalize(storage_path), run_name)
    latest: dict[str, Any] | None = None
    for name in storage.list_subdirs(run_dir):
        if not name.startswith(CHECKPOINT_PREFIX):
            continue
        state_file = storage.join(run_dir, name, STATE_FILE)
        if not storage.is_file(state_file):
            continue  # a checkpoint still being uploaded
        state = json.loads(storage.read_text(state_file))
        if latest is None or int(state.get("global_step", 0)) > int(latest.get("global_step", 0)):
            latest = state
    return latest


def best_checkpoint_location(run_dir: str, metric: str, mode: str = "max") -> tuple[str, dict]:
    """The run's checkpoint with the best finite ``metric`` in its saved metrics (the latest
    one when none has it), and its train state.

    Raises:
        FileNotFoundError: the run folder holds no checkpoint.
    """
    scored, latest = [], None
    for name in storage.list_subdirs(run_dir):
        location = storage.join(run_dir, name)
        state_file = storage.join(location, STATE_FILE)
        if not name.startswith(CHECKPOINT_PREFIX) or not storage.is_file(state_file):
            continue
        state = json.loads(storage.read_text(state_file))
        value = state.get("metrics", {}).get(metric)
        if isinstance(value, int | float) and value == value:
            scored.append((float(value), location, state))
        if latest is None or int(state.get("global_step", 0)) > int(
            latest[1].get("global_step", 0)
        ):
            latest = (location, state)
    if scored:
        pick = max if mode == "max" else min
        _, location, state = pick(scored, key=lambda item: item[0])
        return location, state
    if latest is None:
        raise FileNotFoundError(f"{run_dir} holds no checkpoint (checkpoint_*/{STATE_FILE})")
    return latest
