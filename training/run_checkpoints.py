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


def checkpoint_states(run_dir: str) -> list[tuple[str, dict[str, Any]]]:
    """``(location, train state)`` of every complete checkpoint folder of a run (any storage);
    a folder still being uploaded (no ``train_state.json``) is left out."""
    found = []
    for name in storage.list_subdirs(run_dir):
        location = storage.join(run_dir, name)
        state_file = storage.join(location, STATE_FILE)
        if name.startswith(CHECKPOINT_PREFIX) and storage.is_file(state_file):
            found.append((location, json.loads(storage.read_text(state_file))))
    return found


def _step(item: tuple[str, dict[str, Any]]) -> int:
    return int(item[1].get("global_step", 0))


def latest_checkpoint_state(storage_path: str, run_name: str) -> dict[str, Any] | None:
    """``train_state.json`` of the run's checkpoint with the most steps (any storage), or None
    when the run has no checkpoint yet."""
    states = checkpoint_states(storage.join(storage.normalize(storage_path), run_name))
    return max(states, key=_step)[1] if states else None


def best_checkpoint_location(run_dir: str, metric: str, mode: str = "max") -> tuple[str, dict]:
    """The run's checkpoint with the best finite ``metric`` in its saved metrics (the latest
    one when none has it), and its train state.

    Raises:
        FileNotFoundError: the run folder holds no checkpoint.
    """
    states = checkpoint_states(run_dir)
    if not states:
        raise FileNotFoundError(f"{run_dir} holds no checkpoint (checkpoint_*/{STATE_FILE})")
    scored = [
        (float(value), item)
        for item in states
        if isinstance(value := item[1].get("metrics", {}).get(metric), int | float)
        and value == value
    ]
    if not scored:
        return max(states, key=_step)
    pick = max if mode == "max" else min
    return pick(scored, key=lambda pair: pair[0])[1]


def corpus_identity(manifest: dict[str, Any]) -> str:
    """Which ingest of a corpus a run trains on: its name and when its manifest was written
    (an ingest run again, on new or changed inputs, gets a new identity)."""
    return f"{manifest.get('corpus', '')}@{manifest.get('created_at', '')}"


def check_resumable(loop: Any, model_config: dict[str, Any], corpus_id: str | None = None) -> None:
    """A run resumes only with the model it was started with, and on the same ingest of its
    corpus (``corpus_id``, from :func:`corpus_identity`): the same ``--run-name`` after a flag,
    a preset or the corpus changed would otherwise finish an old run, or load its weights into
    another model. Checkpoints that hold no corpus identity are checked on the model only."""
    state = latest_checkpoint_state(loop.storage_path, loop.run_name)
    extras = (state or {}).get("extras", {})
    saved = extras.get("model_config")
    current = json.loads(json.dumps(model_config))  # as the checkpoint holds it (tuples: lists)
    if saved is not None and saved != current:
        changed = sorted(k for k in current if saved.get(k) != current[k])
        raise ValueError(
            f"run {loop.run_name!r} under {loop.storage_path} was started with another model "
            f"config ({', '.join(changed)} differ): pass another --run-name or remove the run"
        )
    saved_corpus = extras.get("corpus_id")
    if corpus_id and saved_corpus and saved_corpus != corpus_id:
        raise ValueError(
            f"run {loop.run_name!r} under {loop.storage_path} was trained on {saved_corpus}, "
            f"not on this ingest ({corpus_id}): the corpus was ingested again; pass another "
            "--run-name or remove the run"
        )
