"""An autoscaling cluster on this machine: ``cluster/local.yaml`` scales up for a job and back down.

The test starts its own head with Ray's fake multi-node provider (``RAY_FAKE_CLUSTER=1 ray start
--head --block --autoscaling-config=...`` in a new process group). The head has no CPUs, as on
the cloud clusters, so the ingest job it submits (``jobs/ingest_physio.py --concurrency 4`` on a
tiny WFDB corpus) can only run once the autoscaler has added a ``ray.worker.cpu`` node. It checks
that a worker node was added, the job succeeded and wrote its shards, every socket of the
cluster (the added node's included) listens on loopback only, and that the node is removed
again after ``idle_timeout_minutes``. Then it stops only the cluster it started (never
``ray stop``, which would end every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml
from ray_cluster_helpers import (
    VENV_BIN,
    assert_job_succeeded,
    free_port,
    is_loopback,
    listening_addresses_of,
    process_group_pids,
)
from repo_paths import REPO_ROOT

from crossmodal_ray.training.ray_runtime import LOCAL_RAY_ENV

LOCAL_CONFIG = REPO_ROOT / "cluster" / "local.yaml"
HEAD_TYPE = "ray.head.default"  # the fake provider tags the head with this name
WORKER_TYPE = "ray.worker.cpu"


def alive_nodes(dashboard: str) -> list:
    """ALIVE nodes of the cluster behind ``dashboard`` (state API over HTTP, no ray.init)."""
    from ray.util.state import list_nodes

    nodes = list_nodes(address=dashboard, detail=True, raise_on_missing_output=False)
    return [node for node in nodes if node.state == "ALIVE"]


def session_dir_of(head_log: Path) -> Path:
    """The head's session folder, from the path ``ray start`` prints for its exit log."""
    match = re.search(r"(/[^\s\x1b]*/session_[^/\s\x1b]+)/logs", head_log.read_text())
    assert match, f"no session folder in the head log: {head_log.read_text()[-2000:]}"
    return Path(match.group(1))


def stop_own_cluster(head: subprocess.Popen) -> None:
    """SIGTERM this test's process group (``ray start --block`` then stops its own cluster,
    fake worker nodes included: the autoscaler started them in the same group); SIGKILL what
    is left after a minute."""
    os.killpg(head.pid, signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


@pytest.fixture()
def autoscaling_head(tmp_path):
    """A fake-multi-node head on 127.0.0.1 with cluster/local.yaml, owned by this test only."""
    config = yaml.safe_load(LOCAL_CONFIG.read_text())
    gcs_port, dashboard_port = free_port(), free_port()
    # Ray's fixed default ports (agent 52365, client 10001, metrics 8080) may be taken by
    # another Ray on this machine; the head's job agent then never registers.
    agent_port, client_port, metrics_port = free_port(), free_port(), free_port()
    # Fake worker raylets join provider.gcs_address: point it at this test's free port.
    config["provider"]["gcs_address"] = f"127.0.0.1:{gcs_port}"
    config_path = tmp_path / "local.yaml"
    config_path.write_text(yaml.safe_dump(config))
    head_cpus = config["available_node_types"][HEAD_TYPE]["resources"]["CPU"]
    env = {
        **os.environ,
        **LOCAL_RAY_ENV,
        "RAY_FAKE_CLUSTER": "1",
        # The autoscaler looks every second instead of every 5 s: a shorter test.
        "AUTOSCALER_UPDATE_INTERVAL_S": "1",
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("RAY_ADDRESS", None)
    head_log = tmp_path / "head.log"
    head = subprocess.Popen(
        [
            str(VENV_BIN / "ray"), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
            f"--dashboard-agent-listen-port={agent_port}",
            f"--ray-client-server-port={client_port}", f"--metrics-export-port={metrics_port}",
            f"--num-cpus={head_cpus}", f"--autoscaling-config={config_path}",
            "--disable-usage-stats",
        ],
        env=env, cwd=REPO_ROOT, start_new_session=True,
        stdout=open(head_log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    address = f"http://127.0.0.1:{dashboard_port}"
    # Generous: on a loaded 2-core machine the job agent can take minutes to come up.
    deadline = time.time() + 180
    while time.time() < deadline:
        # Ready = a trivial job runs (its driver needs no CPU, so no node is added for it).
        probe = subprocess.run(
            [str(VENV_BIN / "ray"), "job", "submit", "--address", address, "--",
             "python", "-c", "print('head ready')"],
            env=env, capture_output=True, text=True,
        )  # fmt: skip
        if probe.returncode == 0:
            break
        time.sleep(2)
    else:
        stop_own_cluster(head)
        pytest.fail(
            f"head did not come up: {probe.stdout[-1000:]}{probe.stderr[-1000:]}\n"
            f"head log: {head_log.read_text()[-2000:]}"
        )
    yield address, env, head.pid, config, head_log
    stop_own_cluster(head)


@pytest.mark.slow
def test_local_cluster_scales_up_for_ingest_and_down_when_idle(autoscaling_head, tmp_path):
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

    address, env, head_pgid, config, head_log = autoscaling_head
    worker_type = config["available_node_types"][WORKER_TYPE]
    nodes = alive_nodes(address)
    assert len(nodes) == 1 and nodes[0].is_head_node, nodes
    assert nodes[0].resources_total.get("CPU", 0) == 0, "the head must run no tasks"

    raw = make_physio_wfdb_corpus(
        tmp_path / "raw" / "tiny", PhysioSimulationConfig(n_subjects=3, duration_s=60)
    )
    submission_id = f"ingest_autoscale_{uuid.uuid4().hex[:8]}"
    started = time.time()
    submit = subprocess.Popen(
        [
            str(VENV_BIN / "ray"), "job", "submit", "--address", address,
            "--submission-id", submission_id, "--working-dir", str(REPO_ROOT), "--",
            "python", "jobs/ingest_physio.py", "--source", str(raw),
            "--out", str(tmp_path / "shards"), "--concurrency", "4",
        ],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    # Watch the cluster while the job runs: the head has no CPUs, so the job's tasks wait for
    # the autoscaler to add a worker node.
    most_workers, worker_cpus, non_loopback = 0, set(), set()
    while submit.poll() is None and time.time() - started < 180:
        workers = [node for node in alive_nodes(address) if not node.is_head_node]
        if len(workers) > most_workers:
            most_workers = len(workers)
            worker_cpus |= {node.resources_total.get("CPU") for node in workers}
            # The added raylet and its agents are children of the head's autoscaler, in this
            # test's process group: their sockets must be on loopback too.
            addresses = listening_addresses_of(process_group_pids(head_pgid))
            non_loopback |= {a for a in addresses if not is_loopback(a)}
        time.sleep(1)
    output, _ = submit.communicate(timeout=60)
    job_seconds = time.time() - started
    assert submit.returncode == 0, output[-4000:]
    assert_job_succeeded(address, submission_id, env)
    result = json.loads([line for line in output.splitlines() if line.startswith("{")][-1])
    assert result["totals"]["written"] > 0
    assert result["totals"]["read"] == result["totals"]["written"] + result["totals"]["rejected"]

    assert 1 <= most_workers <= worker_type["max_workers"], output[-4000:]
    assert worker_cpus == {worker_type["resources"]["CPU"]}, worker_cpus
    assert not non_loopback, f"the cluster listens beyond loopback: {non_loopback}"

    # Scale-down: the idle node goes after idle_timeout_minutes (plus the autoscaler's rounds).
    idle_deadline = time.time() + config["idle_timeout_minutes"] * 60 + 90
    while time.time() < idle_deadline and len(alive_nodes(address)) > 1:
        time.sleep(2)
    remaining = alive_nodes(address)
    assert len(remaining) == 1 and remaining[0].is_head_node, remaining
    monitor_log = (session_dir_of(head_log) / "logs" / "monitor.log").read_text()
    # The autoscaler's own account: it added nodes of the worker type and removed them as idle
    # (not because they crashed).
    assert re.search(rf"Adding \d+ node\(s\) of type {re.escape(WORKER_TYPE)}", monitor_log)
    assert re.search(rf"Removing \d+ nodes of type {re.escape(WORKER_TYPE)} \(idle\)", monitor_log)
    print(f"job {job_seconds:.0f} s, scaled down {time.time() - started - job_seconds:.0f} s later")
