"""A generic Ray Tune sweep over Ray Train runs (Ray Train V2 + Ray Tune), with resume.

Every system sweeps the same way (MBSL's mask ratios, patch lengths and temperature; later
the other systems' temperatures, queue sizes, tile sizes):

- a trial runs ``train_driver_fn(config, **driver_kwargs)``, a plain function that builds and
  fits a ``TorchTrainer`` whose ``RunConfig`` carries :func:`tune_report_callbacks` (Ray
  Tune's ``TuneReportCallback``: every ``ray.train.report`` of rank 0 becomes a Tune result,
  with the checkpoint's path as ``checkpoint_path``) and is named :func:`trial_run_name`
  under :func:`trial_runs_path` (a stable name, so a restarted trial resumes its Train run);
- the trial itself only drives: it asks for ``driver_cpus`` (0.01 CPU); its Train workers
  request their own CPUs/GPUs, and the number of trials in flight is capped so that all their
  workers fit the cluster with ``reserved_cpus`` per trial left over for Ray Data
  (:func:`concurrent_trial_limit`);
- ``ASHAScheduler`` stops poor trials at rungs ``grace_period * reduction_factor**k`` of
  ``time_attr`` (e.g. epochs), ``OptunaSearch`` (TPE) proposes configurations behind a
  ``ConcurrencyLimiter``;
- a trial that Tune stops (ASHA, or ``max_t`` reached) is killed; Ray Train's own
  ``PlacementGroupCleaner`` then removes its workers' reservation within about a second (it
  needs the State API, which :func:`crossmodal_ray.training.ray_runtime.init_ray` serves);
- the sweep lives in ``<storage_path>/<name>`` (a path, ``s3://`` or ``gs://``); when that
  folder holds a sweep already,
  :func:`run_sweep` restores it (``Tuner.restore(..., resume_errored=True)``): finished
  trials are kept, interrupted ones resume, the searcher continues where it stopped.

The outcome is one :class:`TrialRecord` per trial (searched parameters, learning curve of
the metric, final and best value, whether ASHA stopped it early) for
:mod:`training.sweep.report`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ray
from ray import tune
from ray.tune.schedulers import ASHAScheduler
from ray.tune.search import ConcurrencyLimiter
from ray.tune.search.optuna import OptunaSearch
from ray.tune.search.sample import Categorical, Float, Integer

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.training.loop import is_validation_score

CHECKPOINT_PATH_KEY = "checkpoint_path"  # added to each result by TuneReportCallback
TRIAL_RUNS_DIR = "train_runs"


@dataclass
class SweepConfig:
    """How to sweep, independent of what is trained.

    Attributes:
        name: sweep name; the sweep lives in ``<storage_path>/<name>`` and running the same
            name again resumes it.
        storage_path: a local path or ``s3://``/``gs://`` URI (shared storage on a cluster).
        metric, mode: the reported metric the scheduler and searcher compare, ``min``/``max``.
        num_samples: trials (configurations drawn by the searcher).
        time_attr: the reported, increasing progress counter ASHA's rungs are measured in
            (``training_iteration`` = reports, or e.g. ``epoch``).
        max_t: the most ``time_attr`` a trial runs (its full budget, e.g. epochs).
        grace_period: ASHA's first rung: no trial is stopped before it.
        reduction_factor: ASHA keeps the best ``1/reduction_factor`` of trials at each rung.
        workers_per_trial, cpus_per_worker, gpus_per_worker: one trial's Ray Train workers.
        driver_cpus: what the trial process (the Train driver) itself requests.
        reserved_cpus: CPUs left free for Ray Data when sizing concurrency, per trial (each
            trial's Ray Data streaming runs tasks that need a CPU besides its workers).
        max_concurrent_trials: cap on trials in flight (None: from the cluster's resources).
        max_failures: times Tune restarts a trial whose driver failed (Train retries its
            workers on its own).
        searcher_seed: the searcher's seed (not the training seed, a loop config field).
    """

    name: str
    storage_path: str = "runs"
    metric: str = "loss"
    mode: str = "min"
    num_samples: int = 8
    time_attr: str = "training_iteration"
    max_t: int = 4
    grace_period: int = 1
    reduction_factor: float = 2.0
    workers_per_trial: int = 1
    cpus_per_worker: float = 1.0
    gpus_per_worker: float = 0.0
    driver_cpus: float = 0.01
    reserved_cpus: float = 1.0
    max_concurrent_trials: int | None = None
    max_failures: int = 1
    searcher_seed: int = 0

    @property
    def sweep_dir(self) -> str:
        """``<storage_path>/<name>`` (absolute for local paths)."""
        return storage.join(self.storage_path, self.name)


@dataclass
class TrialRecord:
    """One trial of a finished sweep, as the report shows it.

    Attributes:
        trial_id: Tune's id of the trial.
        params: the searched parameters' values.
        curve: ``(time_attr, metric)`` of every report that carried the metric.
        final, best: the metric at the last report and its best value (NaN if none).
        iterations: ``time_attr`` at the last report (e.g. epochs run).
        stopped_early: ASHA stopped it before ``max_t`` (it did not fail).
        error: the failure message of a trial that failed, else None.
        best_checkpoint_path, last_checkpoint_path: checkpoints reported with the best and
            the last metric (Ray Train's storage).
        extra_metrics: the other numeric metrics of the best report.
    """

    trial_id: str
    params: dict[str, Any]
    curve: list[tuple[float, float]]
    final: float
    best: float
    iterations: float
    stopped_early: bool
    error: str | None = None
    best_checkpoint_path: str | None = None
    last_checkpoint_path: str | None = None
    extra_metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class SweepOutcome:
    """What :func:`run_sweep` returns."""

    config: SweepConfig
    trials: list[TrialRecord]
    parameter_kinds: dict[str, str]
    restored: bool
    seconds: float
    max_concurrent_trials: int

    @property
    def best(self) -> TrialRecord | None:
        finite = [t for t in self.trials if math.isfinite(t.best)]
        if not finite:
            return None
        sign = 1.0 if self.config.mode == "min" else -1.0
        return min(finite, key=lambda t: sign * t.best)

    @property
    def stopped_early(self) -> int:
        return sum(t.stopped_early for t in self.trials)


def tune_report_callbacks() -> list:
    """Ray Train callbacks that forward a Train run's reports to the Tune trial running it."""
    from ray.tune.integration.ray_train import TuneReportCallback

    return [TuneReportCallback()]


def trial_run_name() -> str:
    """A stable Ray Train run name for the current trial (a restarted trial resumes it)."""
    return f"trial_{tune.get_context().get_trial_id()}"


def trial_runs_path(config: SweepConfig) -> str:
    """Where the trials' Ray Train runs (checkpoints) live: inside the sweep folder."""
    return storage.join(config.sweep_dir, TRIAL_RUNS_DIR)


def search_space_from_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A Tune search space from JSON-friendly specs (``--space`` files).

    Each entry is ``{"choice": [...]}``, ``{"loguniform": [low, high]}``,
    ``{"uniform": [low, high]}``, ``{"randint": [low, high]}`` or a plain value (fixed).
    """
    makers = {
        "choice": lambda v: tune.choice(list(v)),
        "loguniform": lambda v: tune.loguniform(*v),
        "uniform": lambda v: tune.uniform(*v),
        "randint": lambda v: tune.randint(*v),
    }
    space: dict[str, Any] = {}
    for name, entry in spec.items():
        if isinstance(entry, dict) and len(entry) == 1 and next(iter(entry)) in makers:
            kind, value = next(iter(entry.items()))
            space[name] = makers[kind](value)
        elif isinstance(entry, dict):
            raise ValueError(f"search space entry {name!r}: unknown spec {entry}")
        else:
            space[name] = entry
    return space


def parameter_kinds(space: dict[str, Any]) -> dict[str, str]:
    """``categorical``, ``log`` or ``linear`` for every searched parameter (plots, tables)."""
    kinds = {}
    for name, domain in space.items():
        if isinstance(domain, Categorical):
            kinds[name] = "categorical"
        elif isinstance(domain, Float | Integer):
            sampler = type(domain.get_sampler()).__name__
            kinds[name] = "log" if "Log" in sampler else "linear"
    return kinds


def concurrent_trial_limit(config: SweepConfig, resources: dict[str, float]) -> int:
    """Trials that can run at once: each trial's Train workers fit, with ``reserved_cpus`` of
    its own left for Ray Data."""
    if config.max_concurrent_trials:
        limit = config.max_concurrent_trials
    else:
        cpus_per_trial = (
            config.workers_per_trial * config.cpus_per_worker
            + config.driver_cpus
            + config.reserved_cpus
        )
        limit = int(resources.get("CPU", 0.0) // cpus_per_trial)
        if config.gpus_per_worker > 0:
            gpus_per_trial = config.workers_per_trial * config.gpus_per_worker
            limit = min(limit, int(resources.get("GPU", 0.0) // gpus_per_trial))
    return max(1, min(limit, config.num_samples))


class ProgressLines(tune.Callback):
    """One line per reported metric and per finished trial: ``[sweep] ...``."""

    def __init__(self, metric: str, time_attr: str, params: list[str]) -> None:
        self.metric, self.time_attr, self.params = metric, time_attr, params

    def _describe(self, trial) -> str:
        values = ", ".join(f"{p}={_short(trial.config.get(p))}" for p in self.params)
        return f"trial {trial.trial_id} ({values})"

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if self.metric in result:
            print(
                f"[sweep] {self._describe(trial)} {self.time_attr} {result.get(self.time_attr)}: "
                f"{self.metric} {result[self.metric]:.4f}",
                flush=True,
            )

    def on_trial_complete(self, iteration, trials, trial, **info):
        # ``trial`` itself is marked terminated only after this callback.
        done = 1 + sum(t.status in ("TERMINATED", "ERROR") for t in trials if t is not trial)
        print(f"[sweep] {self._describe(trial)} finished ({done}/{len(trials)} done)", flush=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        print(f"[sweep] {self._describe(trial)} FAILED: {trial.error_file}", flush=True)


def _short(value: Any) -> str:
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def build_tuner(
    trainable: Callable,
    search_space: dict[str, Any],
    config: SweepConfig,
    max_concurrent: int,
    callbacks: list | None = None,
) -> tune.Tuner:
    """A new ``Tuner``: ASHA + Optuna behind a ``ConcurrencyLimiter``, stable sweep folder."""
    scheduler = ASHAScheduler(
        time_attr=config.time_attr,
        max_t=config.max_t,
        grace_period=config.grace_period,
        reduction_factor=config.reduction_factor,
    )
    searcher = ConcurrencyLimiter(
        OptunaSearch(seed=config.searcher_seed), max_concurrent=max_concurrent
    )
    progress = ProgressLines(config.metric, config.time_attr, sorted(search_space))
    storage_path, name = storage.parent(config.sweep_dir), storage.name(config.sweep_dir)
    return tune.Tuner(
        trainable,
        param_space=search_space,
        tune_config=tune.TuneConfig(
            metric=config.metric,
            mode=config.mode,
            scheduler=scheduler,
            search_alg=searcher,
            num_samples=config.num_samples,
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=storage_path,
            failure_config=tune.FailureConfig(max_failures=config.max_failures),
            callbacks=[progress, *(callbacks or [])],
            verbose=0,
        ),
    )


def run_sweep(
    train_driver_fn: Callable[..., None],
    search_space: dict[str, Any],
    config: SweepConfig,
    driver_kwargs: dict[str, Any] | None = None,
    callbacks: list | None = None,
) -> SweepOutcome:
    """Run (or resume) the sweep and return one :class:`TrialRecord` per trial.

    Args:
        train_driver_fn: ``fn(config, **driver_kwargs)``: fits one Ray Train run for the
            sampled ``config`` (use :func:`tune_report_callbacks`, :func:`trial_run_name`).
        search_space: Tune domains (``tune.choice``, ``tune.loguniform`` ...) by name.
        config: How to sweep.
        driver_kwargs: Fixed arguments of every trial (datasets, base configs); put in the
            object store once (``tune.with_parameters``).
        callbacks: Extra Tune callbacks (stored with the sweep: also used on resume).
    """
    started = time.perf_counter()
    trainable = tune.with_resources(
        tune.with_parameters(train_driver_fn, **(driver_kwargs or {})),
        {"CPU": config.driver_cpus},
    )
    max_concurrent = concurrent_trial_limit(config, ray.cluster_resources())
    restored = tune.Tuner.can_restore(config.sweep_dir)
    if restored:
        # The stored sweep keeps its own search space, sample count and scheduler.
        print(f"[sweep] resuming {config.sweep_dir}", flush=True)
        tuner = tune.Tuner.restore(config.sweep_dir, trainable=trainable, resume_errored=True)
    else:
        print(
            f"[sweep] {config.name}: {config.num_samples} trials, at most {max_concurrent} at "
            f"once x {config.workers_per_trial} Train worker(s); ASHA on {config.time_attr} "
            f"(grace {config.grace_period}, max {config.max_t}, reduction "
            f"{config.reduction_factor:g}); {config.mode} {config.metric} -> {config.sweep_dir}",
            flush=True,
        )
        tuner = build_tuner(trainable, search_space, config, max_concurrent, callbacks)
    grid = tuner.fit()
    return SweepOutcome(
        config=config,
        trials=trial_records(grid, config, sorted(search_space)),
        parameter_kinds=parameter_kinds(search_space),
        restored=restored,
        seconds=time.perf_counter() - started,
        max_concurrent_trials=max_concurrent,
    )


def trial_records(grid, config: SweepConfig, params: list[str]) -> list[TrialRecord]:
    """One :class:`TrialRecord` per result of a ``ResultGrid``, in trial-id order."""
    records = []
    sign = 1.0 if config.mode == "min" else -1.0
    for result in grid:
        frame = result.metrics_dataframe
        metrics = result.metrics or {}
        rows = []
        if frame is not None and config.metric in frame and config.time_attr in frame:
            # Checkpoints saved between validations carry not_validated_score, NaN elsewhere.
            rows = [r for r in frame.to_dict("records") if is_validation_score(r[config.metric])]
        curve = [(float(r[config.time_attr]), float(r[config.metric])) for r in rows]
        best_row = min(rows, key=lambda r: sign * float(r[config.metric])) if rows else {}
        iterations = curve[-1][0] if curve else float(metrics.get(config.time_attr, 0) or 0)
        records.append(
            TrialRecord(
                trial_id=str(metrics.get("trial_id") or Path(result.path).name),
                params={p: (result.config or {}).get(p) for p in params},
                curve=curve,
                final=curve[-1][1] if curve else math.nan,
                best=float(best_row[config.metric]) if best_row else math.nan,
                iterations=iterations,
                stopped_early=result.error is None and iterations < config.max_t,
                error=None
                if result.error is None
                else f"{type(result.error).__name__}: {result.error}",
                best_checkpoint_path=_location(config, best_row.get(CHECKPOINT_PATH_KEY)),
                last_checkpoint_path=_location(config, rows[-1].get(CHECKPOINT_PATH_KEY))
                if rows
                else None,
                extra_metrics={
                    k: float(v)
                    for k, v in best_row.items()
                    if k.startswith(("val_", "loss")) and isinstance(v, int | float)
                },
            )
        )
    return sorted(records, key=lambda r: r.trial_id)


def _location(config: SweepConfig, value: Any) -> str | None:
    """A reported checkpoint path (inside the storage filesystem: ``bucket/...`` on S3) as a
    location the storage module opens (``s3://bucket/...``)."""
    if not (isinstance(value, str) and value):
        return None
    return storage.with_scheme_of(config.sweep_dir, value)
