"""A local Ray started the way every job starts it listens on 127.0.0.1 only and turns away
clients without its token.

A subprocess (its own process group) calls ``apply_local_ray_env()`` and ``init_ray()`` with the
dashboard, as the training jobs do, runs a few tasks so that worker processes exist, checks
that the dashboard's job API answers it (it holds the token), prints its addresses and waits.
The test then lists the listening TCP sockets of every process of that Ray (from /proc) and
finds loopback addresses only, and tries the GCS and the dashboard's job API without the token:
both refuse. The cluster's token is one this test writes (``RAY_AUTH_TOKEN_PATH``), never the
user's ``~/.ray/auth_token``. Only that cluster is stopped (its process group), never ``ray stop``.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from ray_cluster_helpers import (
    descendants_of,
    is_loopback,
    kill_group_and,
    listening_addresses_of,
    process_group_pids,
)
from repo_paths import REPO_ROOT

CLUSTER_SCRIPT = """
import json, select, sys
from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray
apply_local_ray_env()
import ray
from ray.job_submission import JobSubmissionClient
init_ray(dashboard=True)

@ray.remote
def ping():
    return 1

ray.get([ping.remote() for _ in range(4)])  # worker processes: their sockets count too
node = ray._private.worker.global_worker.node
dashboard = node.address_info["webui_url"]
dashboard = dashboard if "://" in dashboard else "http://" + dashboard
JobSubmissionClient(dashboard).list_jobs()  # with the token, the job API answers
print(json.dumps({"gcs": node.gcs_address, "dashboard": dashboard}), flush=True)
# Up until the test closes our stdin (or kills us), at most 15 minutes.
select.select([sys.stdin], [], [], 900)
"""

CLIENT_SCRIPT = """
import sys
import ray
ray.init(address=sys.argv[1])
print("CONNECTED", flush=True)
"""

START_TIMEOUT_S = 240


def _without_token(env: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in env.items() if k not in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")}


def _read_addresses(cluster: subprocess.Popen) -> dict[str, str]:
    """The JSON line the cluster script prints once it is up."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline and cluster.poll() is None:
        ready, _, _ = select.select([cluster.stdout], [], [], 1.0)
        if ready:
            line = cluster.stdout.readline()
            if line.startswith("{"):
                return json.loads(line)
    raise TimeoutError("the local Ray did not come up")


@pytest.fixture()
def local_ray(tmp_path):
    """A local Ray as a job starts it, in its own process group, with a token of this test."""
    token_file = tmp_path / "auth_token"
    token_file.write_text(secrets.token_hex(32))
    env = {**_without_token(os.environ), "RAY_AUTH_TOKEN_PATH": str(token_file)}
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_MODE", None)  # apply_local_ray_env sets it, as in a job
    log = tmp_path / "cluster.log"
    cluster = subprocess.Popen(
        [sys.executable, "-c", CLUSTER_SCRIPT],
        env=env, cwd=REPO_ROOT, start_new_session=True, text=True,
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(log, "w"),
    )  # fmt: skip
    try:
        addresses = _read_addresses(cluster)
    except TimeoutError:
        _stop(cluster)
        pytest.fail(f"the local Ray did not come up: {log.read_text()[-3000:]}")
    yield cluster, addresses, env
    _stop(cluster)


def _stop(cluster: subprocess.Popen) -> None:
    """SIGKILL this test's cluster: its process group and every process below its driver."""
    kill_group_and(cluster.pid, descendants_of(cluster.pid))
    cluster.wait(timeout=30)


def _client_output(gcs: str, env: dict[str, str]) -> tuple[int, str]:
    try:
        client = subprocess.run(
            [sys.executable, "-c", CLIENT_SCRIPT, gcs],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
        )  # fmt: skip
    except subprocess.TimeoutExpired as expired:
        return -1, f"timed out: {expired.stdout}{expired.stderr}"
    return client.returncode, client.stdout + client.stderr


@pytest.mark.slow
def test_a_local_ray_listens_on_loopback_only_and_refuses_clients_without_its_token(local_ray):
    cluster, addresses, env = local_ray

    processes = process_group_pids(cluster.pid) | descendants_of(cluster.pid)
    listening = listening_addresses_of(processes)
    assert listening, "no listening socket found: the check would be vacuous"
    assert all(is_loopback(address) for address in listening), listening

    # A client with another token: the GCS refuses it.
    wrong_token = {**_without_token(env), "RAY_AUTH_MODE": "token"}
    wrong_token["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
    code, output = _client_output(addresses["gcs"], wrong_token)
    assert code != 0 and "CONNECTED" not in output, output[-3000:]
    assert "AuthenticationError: RPC error: InvalidAuthToken" in output, output[-3000:]

    # A client that sends no token at all (authentication off on its side): refused as well.
    no_token = {**_without_token(env), "RAY_AUTH_MODE": "disabled"}
    code, output = _client_output(addresses["gcs"], no_token)
    assert code != 0 and "CONNECTED" not in output, output[-3000:]
    assert "AuthenticationError: RPC error: InvalidAuthToken" in output, output[-3000:]

    # The dashboard's job API (job submission runs code on the cluster).
    jobs_api = f"{addresses['dashboard']}/api/jobs/"
    for headers, status in (({}, 401), ({"Authorization": f"Bearer {secrets.token_hex(32)}"}, 403)):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(jobs_api, headers=headers), timeout=30)
        assert refused.value.code == status
