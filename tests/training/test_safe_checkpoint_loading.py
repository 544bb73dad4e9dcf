"""Checkpoints load with ``torch.load(weights_only=True)``: optimiser and generator states
round-trip exactly, and a file whose pickle would run code is refused without running it."""

from __future__ import annotations

import os
import pickle
import random
import re

import numpy as np
import pytest
import torch
from repo_paths import REPO_ROOT
from torch import nn

from crossmodal_ray.training.checkpointing import (
    MODEL_FILE,
    OPTIMIZER_FILE,
    UnsafeCheckpointError,
    load_model_weights,
    load_optimizer_state,
    save_training_state,
)
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.optimizers import build_optimizers, default_optimizer_specs
from crossmodal_ray.training.rng_state import (
    RNG_FILE,
    capture_rng_state,
    load_rng_states,
    restore_rng_state,
    save_rng_states,
)

PROJECT_FOLDERS = ("pipelines", "models", "training", "jobs", "benchmarks", "tests")


def _model_and_optimizers(seed: int) -> tuple[nn.Module, list]:
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.LayerNorm(8), nn.Linear(8, 2))
    loop = TrainLoopConfig(lr=1e-2, warmup_steps=2)
    return model, build_optimizers(default_optimizer_specs(model), loop, total_steps=20)


def _train(model: nn.Module, optimizers: list, steps: int) -> None:
    for _ in range(steps):
        loss = model(torch.randn(4, 6)).pow(2).mean()
        loss.backward()
        for built in optimizers:
            built.optimizer.step()
            built.scheduler.step()
            built.optimizer.zero_grad()


def _draws() -> tuple:
    """The next values of every generator a training step may draw from."""
    return (
        torch.rand(5).tolist(),
        np.random.rand(5).tolist(),
        np.random.randn(3).tolist(),  # uses (and leaves) numpy's cached Gaussian
        [random.random() for _ in range(5)],
        random.gauss(0.0, 1.0),
    )


def test_optimizer_state_round_trips_with_weights_only(tmp_path):
    model, optimizers = _model_and_optimizers(seed=0)
    _train(model, optimizers, steps=3)
    save_training_state(tmp_path, model, optimizers, {"step": 3})
    # The files themselves load with weights_only=True (no allowlist).
    saved = torch.load(tmp_path / OPTIMIZER_FILE, weights_only=True)
    assert saved["main"]["optimizer"]["state"][0]["step"].item() == 3

    fresh_model, fresh_optimizers = _model_and_optimizers(seed=1)
    load_model_weights(tmp_path, fresh_model)
    load_optimizer_state(tmp_path, fresh_optimizers)
    before = optimizers[0].optimizer.state_dict()
    after = fresh_optimizers[0].optimizer.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for index, state in before["state"].items():
        assert set(after["state"][index]) == set(state)  # step, exp_avg, exp_avg_sq
        for key, value in state.items():
            assert torch.equal(after["state"][index][key], value), key
    assert fresh_optimizers[0].scheduler.state_dict() == optimizers[0].scheduler.state_dict()
    # Training on from the restored state gives the same weights as training on uninterrupted.
    torch.manual_seed(7)
    _train(model, optimizers, steps=2)
    torch.manual_seed(7)
    _train(fresh_model, fresh_optimizers, steps=2)
    for a, b in zip(model.parameters(), fresh_model.parameters(), strict=True):
        assert torch.equal(a, b)


def test_generator_states_round_trip_with_weights_only(tmp_path):
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    np.random.randn(1)  # numpy now holds a cached Gaussian: its state has to carry it
    save_rng_states(tmp_path, [capture_rng_state(), capture_rng_state()])
    expected = _draws()

    states = torch.load(tmp_path / RNG_FILE, weights_only=True)  # no allowlist needed
    assert len(states) == 2
    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    restore_rng_state(load_rng_states(tmp_path)[1])
    assert _draws() == expected


def test_generator_states_of_an_earlier_checkpoint_still_load(tmp_path):
    """Format 1 stored numpy's state as an array and Python's as tuples."""
    torch.manual_seed(5)
    np.random.seed(5)
    random.seed(5)
    earlier = {
        "torch": torch.get_rng_state(),
        "cuda": [],
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    torch.save([earlier], tmp_path / RNG_FILE)
    expected = _draws()
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(tmp_path / RNG_FILE, weights_only=True)
    restore_rng_state(load_rng_states(tmp_path)[0])
    assert _draws() == expected


class RunsShellCommand:
    """Unpickling this calls ``os.system(command)``: what a malicious checkpoint does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


@pytest.mark.parametrize("file_name", [MODEL_FILE, OPTIMIZER_FILE, RNG_FILE])
def test_a_checkpoint_file_that_runs_code_is_refused(tmp_path, file_name):
    marker = tmp_path / "code_ran"
    payload = {"main": {"optimizer": RunsShellCommand(f"touch {marker}"), "scheduler": {}}}
    torch.save(payload if file_name == OPTIMIZER_FILE else [payload], tmp_path / file_name)
    model, optimizers = _model_and_optimizers(seed=0)
    load = {
        MODEL_FILE: lambda: load_model_weights(tmp_path, model),
        OPTIMIZER_FILE: lambda: load_optimizer_state(tmp_path, optimizers),
        RNG_FILE: lambda: load_rng_states(tmp_path),
    }[file_name]
    with pytest.raises(UnsafeCheckpointError) as refused:
        load()
    message = str(refused.value)
    assert str(tmp_path / file_name) in message and "refused to load" in message
    assert re.search(r"'(posix|os)\.system'", message), message
    assert not marker.exists()


def _call_at(text: str, start: int) -> str:
    """The call starting at ``text[start]`` up to its closing parenthesis."""
    depth = 0
    for end in range(text.index("(", start), len(text)):
        depth += {"(": 1, ")": -1}.get(text[end], 0)
        if depth == 0:
            return text[start : end + 1]
    return text[start:]


def test_every_torch_load_in_the_project_is_weights_only():
    """``weights_only=False`` nowhere (torch's default since 2.6 is True)."""
    offenders = []
    for folder in PROJECT_FOLDERS:
        for path in sorted((REPO_ROOT / folder).rglob("*.py")):
            text = path.read_text()
            for match in re.finditer(r"\btorch\.load\(", text):
                if re.search(r"weights_only\s*=\s*False", _call_at(text, match.start())):
                    line = text.count("\n", 0, match.start()) + 1
                    offenders.append(f"{path.relative_to(REPO_ROOT)}:{line}")
    assert not offenders, f"torch.load with weights_only=False: {offenders}"


def test_the_payload_does_run_code_when_unpickled(tmp_path):
    """The refusals above are meaningful: a plain unpickler runs the command."""
    marker = tmp_path / "code_ran"
    pickle.loads(pickle.dumps(RunsShellCommand(f"touch {marker}")))
    assert marker.exists()
