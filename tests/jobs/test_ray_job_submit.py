"""``ray job submit`` of the MBSL job against a head on 127.0.0.1 with token auth on.

The test starts its own head (``ray start --head --block`` in a new process group), submits
``python jobs/train_mbsl.py`` on a tiny WFDB corpus, checks the job SUCCEEDED and printed its
JSON result line, checks every socket the head listens on is bound to loopback, and then stops
only the cluster it started (never ``ray stop``, which would end every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
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


@pytest.fixture()
def loopback_head(tmp_path):
    """A Ray head on 127.0.0.1 (token auth on), owned by this test only."""
    env = {**os.environ, **LOCAL_RAY_ENV, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("RAY_ADDRESS", None)
    gcs_port, dashboard_port = free_port(), free_port()
    head = subprocess.Popen(
        [
            str(VENV_BIN / "ray"), "start", "--head", "--block",
            "--node-ip-address=127.0.0.1", f"--port={gcs_port}",
            "--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}",
            "--num-cpus=4", "--disable-usage-stats",
            # Fixed default ports (job agent 52365, client 10001, metrics) may be held by
            # another Ray on this machine: take free ones so this head never waits on them.
            f"--dashboard-agent-listen-port={free_port()}",
            f"--ray-client-server-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ],
        env=env, cwd=REPO_ROOT, start_new_session=True,
        stdout=open(tmp_path / "head.log", "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    address = f"http://127.0.0.1:{dashboard_port}"
    deadline = time.time() + 180
    while time.time() < deadline:
        # Ready = a trivial job runs; ``ray job list`` answers before the job agent is up
        # ("No available agent to submit job").
        try:
            probe = subprocess.run(
                [str(VENV_BIN / "ray"), "job", "submit", "--address", address, "--",
                 "python", "-c", "print('head ready')"],
                env=env, capture_output=True, text=True, timeout=60,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            continue
        if probe.returncode == 0:
            break
        time.sleep(2)
    else:
        os.killpg(head.pid, signal.SIGTERM)
        pytest.fail(f"head did not come up: {(tmp_path / 'head.log').read_text()[-2000:]}")
    yield address, env, head.pid
    os.killpg(head.pid, signal.SIGTERM)  # ``ray start --block`` stops its own cluster
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)


@pytest.mark.slow
def test_ray_job_submit_train_mbsl(loopback_head, tmp_path):
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

    address, env, head_pgid = loopback_head
    addresses = listening_addresses_of(process_group_pids(head_pgid))
    assert addresses, "found no listening socket of the head"
    beyond_loopback = {a for a in addresses if not is_loopback(a)}
    assert not beyond_loopback, f"head listens beyond loopback: {beyond_loopback}"

    raw = make_physio_wfdb_corpus(
        tmp_path / "raw" / "tiny", PhysioSimulationConfig(n_subjects=4, duration_s=60)
    )
    submission_id = f"train_mbsl_e2e_{uuid.uuid4().hex[:8]}"
    submit = subprocess.run(
        [
            str(VENV_BIN / "ray"), "job", "submit", "--address", address,
            "--submission-id", submission_id,
            "--working-dir", str(REPO_ROOT), "--",
            "python", "jobs/train_mbsl.py",
            "--raw-dir", str(raw), "--shards-dir", str(tmp_path / "shards"),
            "--storage-path", str(tmp_path / "runs"), "--num-workers", "2",
            "--epochs", "1", "--batch-size-per-worker", "8", "--finetune-epochs", "1",
            "--log-every-steps", "1",
        ],
        env=env, capture_output=True, text=True, timeout=540,
    )  # fmt: skip
    output = submit.stdout + submit.stderr
    assert submit.returncode == 0, output[-4000:]
    assert_job_succeeded(address, submission_id, env)
    result_lines = [line for line in submit.stdout.splitlines() if line.startswith("{")]
    assert result_lines, output[-4000:]
    result = json.loads(result_lines[-1])
    for key in ("hr_mae_bpm", "rr_mae_bpm", "baseline_mean_hr_mae_bpm", "samples_per_s", "run_dir"):
        assert key in result
    assert result["hr_mae_bpm"] is not None and result["hr_mae_bpm"] > 0
    assert Path(result["run_dir"]).is_dir()
