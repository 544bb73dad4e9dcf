"""Release the Train worker reservation of a Tune trial that ASHA (or any stop) ended.

Why: with Ray Train V2 inside Ray Tune, a trial stopped by the scheduler is killed; its Train
controller and workers die with it, but the placement group that reserved the workers' CPUs
or GPUs outlives them (it is not owned by the trial; ray-project/ray issue 54305). Ray Train's
own cleaner needs the State API (the dashboard), which our loopback-only local Ray does not
run. Each stopped trial would then keep its reservation, and after a few stops the sweep
waits forever for resources.

How: a Ray Train callback running in each trial's controller records the worker group's
placement group in a small named registry actor, keyed by the Tune trial id; a Tune callback
in the sweep driver removes the recorded placement groups when the trial completes, is
stopped or fails. Removing a placement group that its controller already removed is a no-op.
"""

from __future__ import annotations

import ray
from ray import tune
from ray.train.v2._internal.execution.callback import WorkerGroupCallback
from ray.util.placement_group import PlacementGroup, remove_placement_group

REGISTRY_NAME = "crossmodal_trial_placement_groups"
REGISTRY_NAMESPACE = "crossmodal_sweeps"


@ray.remote(num_cpus=0)
class PlacementGroupRegistry:
    """Trial id -> placement groups its Train runs created."""

    def __init__(self) -> None:
        self._groups: dict[str, list[PlacementGroup]] = {}

    def add(self, trial_id: str, group: PlacementGroup) -> None:
        self._groups.setdefault(trial_id, []).append(group)

    def pop(self, trial_id: str) -> list[PlacementGroup]:
        return self._groups.pop(trial_id, [])


def placement_group_registry():
    """The registry actor of this Ray job's sweep, shared by its driver and all its trials.

    The name carries the job id (trials and their Train controllers run in the driver's job),
    so sweeps that other drivers run on the same cluster keep registries of their own. The
    sweep driver calls this first and so owns the actor (``lifetime=None``: it dies with the
    driver); trials look the same actor up by name.
    """
    job_id = ray.get_runtime_context().get_job_id()
    return PlacementGroupRegistry.options(
        name=f"{REGISTRY_NAME}_{job_id}",
        namespace=REGISTRY_NAMESPACE,
        get_if_exists=True,
        lifetime=None,
    ).remote()


class RecordTrialPlacementGroup(WorkerGroupCallback):
    """Ray Train callback: remember the worker group's placement group under ``trial_id``."""

    def __init__(self, trial_id: str) -> None:
        self.trial_id = trial_id

    def after_worker_group_start(self, worker_group) -> None:
        state = worker_group.get_worker_group_state()
        group = state.placement_group_handle.placement_group
        ray.get(placement_group_registry().add.remote(self.trial_id, group))


class ReleaseTrialPlacementGroups(tune.Callback):
    """Tune callback: remove the placement groups of a trial once it ended, however it ended."""

    def _release(self, trial) -> None:
        groups = ray.get(placement_group_registry().pop.remote(trial.trial_id))
        table = ray.util.placement_group_table()
        for group in groups:
            if table.get(group.id.hex(), {}).get("state") != "REMOVED":
                remove_placement_group(group)

    def on_trial_complete(self, iteration, trials, trial, **info):
        self._release(trial)

    def on_trial_error(self, iteration, trials, trial, **info):
        self._release(trial)
