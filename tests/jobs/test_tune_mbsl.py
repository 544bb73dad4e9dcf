"""Ray Tune sweeps: the generic runner (ASHA + Optuna over Ray Train V2 runs, resume of an
interrupted sweep), the report writer, and the MBSL sweep job end to end on a tiny corpus."""

from __future__ import annotations

import csv
import math
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from job_loader import load_job
from ray import tune
from regression_task import FEATURES, RegressionTask
from torch import nn

from crossmodal_ray.training.sweep.driver import (
    SweepConfig,
    concurrent_trial_limit,
    parameter_kinds,
    run_sweep,
    search_space_from_spec,
    trial_run_name,
    trial_runs_path,
    tune_report_callbacks,
)


def test_search_space_from_json_spec_and_parameter_kinds():
    space = search_space_from_spec(
        {
            "patch_lengths": {"choice": ["8,16,32", "16,32"]},
            "temperature": {"loguniform": [0.03, 0.5]},
            "dropout": {"uniform": [0.0, 0.3]},
            "seed": 3,
        }
    )
    assert space["seed"] == 3
    assert parameter_kinds(space) == {
        "patch_lengths": "categorical",
        "temperature": "log",
        "dropout": "linear",
    }
    with pytest.raises(ValueError):
        search_space_from_spec({"lr": {"gaussian": [0, 1]}})


def test_concurrency_fits_train_workers_into_the_cluster():
    config = SweepConfig(name="s", num_samples=20, workers_per_trial=2, reserved_cpus=1)
    # Per trial: 2 workers x 1 CPU + 0.01 for the driver + 1 CPU for its Ray Data streaming.
    assert concurrent_trial_limit(config, {"CPU": 16.0}) == 5
    assert concurrent_trial_limit(config, {"CPU": 2.0}) == 1  # never below one
    gpu = SweepConfig(name="s", num_samples=20, workers_per_trial=4, gpus_per_worker=1)
    assert concurrent_trial_limit(gpu, {"CPU": 128.0, "GPU": 8.0}) == 2
    assert concurrent_trial_limit(SweepConfig(name="s", num_samples=3), {"CPU": 64.0}) == 3
    fixed = SweepConfig(name="s", num_samples=9, max_concurrent_trials=2)
    assert concurrent_trial_limit(fixed, {"CPU": 64.0}) == 2


@dataclass
class ToyRegressionTask(RegressionTask):
    """The regression task with a per-epoch validation metric (what the sweep compares)."""

    name: str = "toy"
    columns: tuple[str, ...] = ("x",)

    def build_model(self) -> nn.Module:
        torch.manual_seed(0)
        return super().build_model()

    def validation_metrics(self, model, device):
        import ray.train

        if ray.train.get_context().get_world_rank() != 0:
            return {}
        x = torch.as_tensor(np.random.default_rng(1).normal(size=(64, FEATURES))).float()
        return {"val_mse": float(((model(x.to(device)) - x.sum(1, keepdim=True)) ** 2).mean())}


def toy_driver_fn(config: dict, runs_path: str) -> None:
    import ray

    from crossmodal_ray.training.loop_config import TrainLoopConfig
    from crossmodal_ray.training.trainer import run_training

    rows = np.random.default_rng(0).normal(size=(64, FEATURES)).astype(np.float32)
    loop = TrainLoopConfig(
        run_name=trial_run_name(),
        storage_path=runs_path,
        num_workers=1,
        epochs=2,
        batch_size_per_worker=16,
        lr=config["lr"],
        warmup_steps=0,
        checkpoint_every_steps=10**9,
        log_every_steps=10**9,
        max_failures=0,
    )
    dataset = ray.data.from_items([{"x": row} for row in rows])
    result = run_training(ToyRegressionTask(), loop, dataset, callbacks=tune_report_callbacks())
    if result.error:
        raise result.error


class InterruptOnceAfterFirstTrial(tune.Callback):
    """Sends the sweep's own process SIGUSR1 (what Ctrl+C does) once a first trial is done;
    the marker file keeps the restored sweep (which unpickles this callback) running."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def on_trial_complete(self, iteration, trials, trial, **info):
        if not os.path.exists(self.marker):
            Path(self.marker).write_text(trial.trial_id)
            os.kill(os.getpid(), signal.SIGUSR1)


@pytest.mark.slow
def test_interrupted_sweep_resumes_without_rerunning_finished_trials(ray_session, tmp_path):
    config = SweepConfig(
        name="toy_sweep",
        storage_path=str(tmp_path),
        metric="val_mse",
        mode="min",
        num_samples=2,
        max_t=2,
        time_attr="epoch",
        max_concurrent_trials=1,
    )
    space = {"lr": tune.loguniform(1e-3, 1e-1)}
    marker = tmp_path / "interrupted_after"
    kwargs = {"runs_path": trial_runs_path(config)}
    first = run_sweep(
        toy_driver_fn, space, config, kwargs, callbacks=[InterruptOnceAfterFirstTrial(str(marker))]
    )
    assert not first.restored
    finished_id = marker.read_text()
    done_first = [t for t in first.trials if len(t.curve) == 2]
    assert [t.trial_id for t in done_first] == [finished_id]  # the sweep stopped after one
    first_curve = done_first[0].curve

    second = run_sweep(toy_driver_fn, space, config, kwargs)
    assert second.restored
    assert len(second.trials) == 2
    assert all(t.error is None for t in second.trials)
    assert all([e for e, _ in t.curve] == [1.0, 2.0] for t in second.trials)
    again = next(t for t in second.trials if t.trial_id == finished_id)
    assert again.curve == first_curve  # kept, not trained again
    assert math.isfinite(second.best.best)
    # Tune kills a trial once it reaches max_t (and when interrupted); the Train workers'
    # reservations of killed trials must not outlive the sweep (ray-project/ray#54305).
    assert _live_train_worker_reservations() == []


def _live_train_worker_reservations(wait_s: float = 10.0) -> list[dict]:
    """Placement groups still holding a whole CPU (Train workers; Tune trials hold 0.01)."""
    import time

    import ray

    deadline = time.monotonic() + wait_s
    while True:
        live = [
            group
            for group in ray.util.placement_group_table().values()
            if group["state"] != "REMOVED"
            and any(b.get("CPU", 0) >= 1 for b in group["bundles"].values())
        ]
        if not live or time.monotonic() > deadline:
            return live
        time.sleep(0.5)


def _plot_is_drawn(path: Path) -> bool:
    import matplotlib.image

    image = matplotlib.image.imread(path)
    return path.stat().st_size > 10_000 and float(image[..., :3].std()) > 0.05


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory, ray_session):
    from crossmodal_ray.pipelines.core.runner import IngestConfig
    from crossmodal_ray.pipelines.physio.ingest import run_physio_ingest
    from crossmodal_ray.pipelines.physio.source import PhysioSourceConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

    root = tmp_path_factory.mktemp("tune_corpus")
    raw = make_physio_wfdb_corpus(
        root / "raw" / "tiny", PhysioSimulationConfig(n_subjects=4, duration_s=60)
    )
    run_physio_ingest(PhysioSourceConfig(source=str(raw)), IngestConfig(out=str(root / "shards")))
    return root / "shards", "tiny"


@pytest.mark.slow
def test_two_trial_mbsl_sweep_writes_a_readable_report(tiny_corpus, tmp_path):
    tune_mbsl = load_job("tune_mbsl")

    shards, corpus = tiny_corpus
    result = tune_mbsl.main(
        [
            "--shards-dir",
            str(shards),
            "--corpus",
            corpus,
            "--storage-path",
            str(tmp_path),
            "--sweep-name",
            "tiny_sweep",
            "--num-samples",
            "2",
            "--max-epochs",
            "2",
            "--batch-size-per-worker",
            "16",
            "--grouping-windows",
            "256",
        ]
    )
    assert result["trials"] == 2 and result["failed"] == 0
    assert result["best_val_rr_mae_bpm"] > 0
    assert set(result["best_config"]) == {"patch_lengths", "mask_ratios", "temperature", "lr"}
    assert "rr_mae_bpm" in result["best_test_metrics"]

    report_dir = tmp_path / "tiny_sweep" / "report"
    markdown = (report_dir / "report.md").read_text()
    for heading in ("## Best configuration", "Test split", "## All trials", "per parameter"):
        assert heading in markdown
    with open(report_dir / "trials.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for column in (
        "patch_lengths",
        "mask_ratios",
        "temperature",
        "lr",
        "val_rr_mae_bpm_final",
        "val_rr_mae_bpm_best",
        "epochs_run",
        "stopped_early",
    ):
        assert column in rows[0]
    assert all(float(row["val_rr_mae_bpm_best"]) > 0 for row in rows)
    plots = [
        "learning_curves.png",
        "best_trial.png",
        *(f"metric_vs_{p}.png" for p in ("patch_lengths", "mask_ratios", "temperature", "lr")),
    ]
    for name in plots:
        assert _plot_is_drawn(report_dir / name), name
