"""Faults during an ingest: a decoding worker killed, the driver killed, the disk full.

Each faulty run is compared with an undisturbed run of the same corpus and flags: the same
sample ids, the same files byte for byte (rejected tables included), the same manifest totals.
The toy format (``tests/toy_source.py``) decodes in an actor pool or as plain Ray tasks
(``stateless``) and can pause on one input (``pause_on``) so that a test kills the process
decoding it; the disk-full case runs the physiological ingest job with the storage layer's
simulated full disk (``CROSSMODAL_SIMULATE_DISK_FULL_AFTER_BYTES``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from job_loader import load_job
from ray_cluster_helpers import descendants_of, kill_group_and
from repo_paths import REPO_ROOT
from toy_source import PAUSED_PID_FILE, ToySource

from crossmodal_ray.pipelines.core import disk_full_simulation, storage
from crossmodal_ray.pipelines.core.manifest import MANIFEST_NAME, read_manifest
from crossmodal_ray.pipelines.core.runner import (
    IngestConfig,
    ShardTask,
    ShardTaskWorker,
    run_ingest,
)
from crossmodal_ray.pipelines.core.source import InputItem

GROUPS = [f"g{i:02d}" for i in range(12)]
RUN = {"min_shard_tasks": 10, "concurrency": 2, "row_group_rows": 4}
PAUSED_INPUT = "g06/file1.txt"  # decoded in the middle of a run, inside a task of 2+ inputs
KILL_WAIT_S = 120.0


def _write_toy_corpus(root: Path) -> None:
    """12 groups x 2 files of 5 integers, one broken file and one rejected at listing."""
    for g, group in enumerate(GROUPS):
        for k in range(2):
            path = root / group / f"file{k}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("\n".join(str(100 * g + 10 * k + v) for v in range(5)))
    (root / "g03" / "file1.txt").write_text("1\n2\nthree\n4")  # a dropped row
    (root / "g04" / "file0.txt").write_text("BROKEN\n1")  # a whole input rejected
    (root / "g05" / "notes.bad").write_text("not an input")  # rejected at listing


@pytest.fixture()
def toy_raw(tmp_path) -> Path:
    raw = tmp_path / "raw"
    _write_toy_corpus(raw)
    return raw


def _toy_ingest(raw: Path, out: Path, logs: Path, **adapter_flags) -> dict:
    logs.mkdir(parents=True, exist_ok=True)
    adapter = ToySource(str(raw), str(logs), **adapter_flags)
    return run_ingest(
        adapter, IngestConfig(out=str(out), **RUN), "toy", str(raw), log=lambda line: None
    )


def _files(corpus_dir: Path) -> dict[str, str]:
    """Every file of the corpus but the manifest (hidden leftovers included): path -> sha256."""
    return {
        p.relative_to(corpus_dir).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(corpus_dir.rglob("*"))
        if p.is_file() and p.name != MANIFEST_NAME
    }


def _sample_ids(corpus_dir: Path, manifest: dict) -> list[str]:
    return sorted(
        sample_id
        for info in manifest["splits"].values()
        for name in info["files"]
        for sample_id in pq.read_table(corpus_dir / name, columns=["sample_id"])
        .column("sample_id")
        .to_pylist()
    )


def _assert_same_output(
    corpus_dir: Path, manifest: dict, reference_dir: Path, reference: dict
) -> None:
    assert manifest == read_manifest(str(corpus_dir.parent), corpus_dir.name)
    assert _files(corpus_dir) == _files(reference_dir)  # same names, same bytes, nothing else
    assert _sample_ids(corpus_dir, manifest) == _sample_ids(reference_dir, reference)
    for key in ("totals", "inputs", "rejected_by_stage", "splits", "rejected_files"):
        assert manifest[key] == reference[key], key


def _paused_pid(logs: Path, deadline: float, alive: callable = lambda: True) -> int:
    """The id of the process paused on ``PAUSED_INPUT`` (written by its first attempt)."""
    pid_file = logs / PAUSED_PID_FILE
    while time.monotonic() < deadline and alive():
        if pid_file.exists() and pid_file.read_text().strip():
            return int(pid_file.read_text())
        time.sleep(0.1)
    raise TimeoutError(f"no process paused on {PAUSED_INPUT}")


# --- a: a decoding worker killed mid-task ------------------------------------------------------


@pytest.mark.parametrize("stateless", [False, True], ids=["actor_pool", "plain_tasks"])
def test_a_killed_decoding_worker_changes_nothing(tmp_path, toy_raw, ray_session, stateless):
    reference = _toy_ingest(
        toy_raw, tmp_path / "undisturbed", tmp_path / "logs0", stateless=stateless
    )

    logs, killed = tmp_path / "logs1", []

    def kill_the_paused_worker() -> None:
        pid = _paused_pid(logs, time.monotonic() + KILL_WAIT_S)
        assert pid != os.getpid()  # a Ray worker, never this test's process
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    killer = threading.Thread(target=kill_the_paused_worker, daemon=True)
    killer.start()
    manifest = _toy_ingest(
        toy_raw, tmp_path / "faulty", logs, stateless=stateless, pause_on=PAUSED_INPUT
    )
    killer.join(timeout=10)
    assert killed, "the paused worker was not killed"
    _assert_same_output(
        tmp_path / "faulty" / "toy", manifest, tmp_path / "undisturbed" / "toy", reference
    )


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


# --- b: the driver killed midway, then run again ------------------------------------------------

DRIVER_SCRIPT = """
import json, sys
from crossmodal_ray.training.ray_runtime import apply_local_ray_env, init_ray
apply_local_ray_env()
from crossmodal_ray.pipelines.core.runner import IngestConfig, run_ingest
from toy_source import ToySource
raw, logs, out, pause_on, run = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
init_ray(dashboard=False)
adapter = ToySource(raw, logs, stateless=True, pause_on=pause_on)
run_ingest(adapter, IngestConfig(out=out, **json.loads(run)), "toy", raw)
"""


def _kill_all(pids: set[int], pgid: int) -> None:
    """SIGKILL this test's own processes: its driver's group and every descendant listed."""
    kill_group_and(pgid, pids)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(
        Path(f"/proc/{pid}").exists() and not _is_zombie(pid) for pid in pids
    ):
        time.sleep(0.2)


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("RAY_ADDRESS", None)  # a Ray of its own, never the test session's
    return env


@pytest.mark.slow
def test_a_killed_driver_leaves_no_corpus_and_a_rerun_equals_an_undisturbed_run(
    tmp_path, toy_raw, ray_session
):
    reference = _toy_ingest(toy_raw, tmp_path / "undisturbed", tmp_path / "logs0", stateless=True)
    out, logs = tmp_path / "faulty", tmp_path / "logs1"
    logs.mkdir()
    corpus_dir = out / "toy"
    driver_log = tmp_path / "driver.log"
    driver = subprocess.Popen(
        [sys.executable, "-c", DRIVER_SCRIPT, str(toy_raw), str(logs), str(out), PAUSED_INPUT,
         json.dumps(RUN)],
        env=_subprocess_env(), cwd=REPO_ROOT, start_new_session=True,
        stdout=open(driver_log, "w"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    processes: set[int] = set()
    try:
        deadline = time.monotonic() + KILL_WAIT_S
        paused = _paused_pid(logs, deadline, alive=lambda: driver.poll() is None)
        # Midway: the other tasks go on; wait for their first shard files.
        while time.monotonic() < deadline and not list(corpus_dir.glob("train/*.parquet")):
            time.sleep(0.1)
        processes = descendants_of(driver.pid) | {paused}
        os.kill(driver.pid, signal.SIGKILL)  # the fault: the driver dies
        driver.wait(timeout=30)
    except TimeoutError:
        pytest.fail(f"the driver did not get midway: {driver_log.read_text()[-3000:]}")
    finally:
        # Its Ray (started in its process group) and the paused worker go too.
        _kill_all(processes | descendants_of(driver.pid), driver.pid)

    assert list(corpus_dir.glob("*/*.parquet")), "the killed run wrote no shard"
    assert not (corpus_dir / MANIFEST_NAME).exists()  # no corpus is visible
    with pytest.raises(FileNotFoundError, match="not a finished corpus"):
        read_manifest(str(out), "toy")
    # What a run killed while publishing its manifest, or with other flags, may leave behind.
    (corpus_dir / f".{MANIFEST_NAME}.tmp-0123456789ab").write_text("{")
    (corpus_dir / "train" / "part-09999-000.parquet").write_bytes(b"PAR1")

    manifest = _toy_ingest(toy_raw, out, tmp_path / "logs2", stateless=True)
    _assert_same_output(corpus_dir, manifest, tmp_path / "undisturbed" / "toy", reference)


# --- c: the disk full while writing shards ------------------------------------------------------


def test_simulated_full_disk_stops_a_shard_task_with_a_clear_error(tmp_path, toy_raw, monkeypatch):
    """In this process (no Ray): the shard writer's ENOSPC names the file being written."""
    monkeypatch.setattr(disk_full_simulation, "_simulated_bytes_written", 0)
    monkeypatch.setenv(storage.SIMULATE_DISK_FULL_VAR, "600")
    logs = tmp_path / "logs"
    logs.mkdir()
    worker = ShardTaskWorker(ToySource(str(toy_raw), str(logs)), str(tmp_path / "toy"), 4, 2)
    items = [InputItem(f"{g}/file{k}.txt", g) for g in GROUPS for k in range(2)]
    with pytest.raises(storage.NoSpaceLeftError) as full:
        worker.run(ShardTask("train", 3, items))
    message = str(full.value)
    assert full.value.errno == errno.ENOSPC
    assert message.startswith("no space left on device while writing ")
    assert message.endswith(": free space and run again")
    written = message.removeprefix("no space left on device while writing ").split(":")[0]
    assert written.startswith(str(tmp_path / "toy" / "train" / "part-00003-"))

    monkeypatch.setattr(disk_full_simulation, "_simulated_bytes_written", 0)
    with pytest.raises(storage.NoSpaceLeftError, match="while writing .*manifest"):
        storage.write_text_atomic(str(tmp_path / "toy" / MANIFEST_NAME), "x" * 1000)
    assert not (tmp_path / "toy" / MANIFEST_NAME).exists()


def test_a_full_disk_is_found_inside_ray_task_errors():
    from ray.exceptions import RayTaskError

    cause = storage.NoSpaceLeftError(storage.no_space_message("/out/train/part-00001-000.parquet"))
    wrapped = RayTaskError("run_shard_task", "Traceback ...", cause).as_instanceof_cause()
    found = storage.disk_full_error_in(wrapped)
    assert type(found) is storage.NoSpaceLeftError and str(found) == str(cause)
    raw = OSError(errno.ENOSPC, "No space left on device", "/out/x.parquet")
    assert storage.disk_full_error_in(RuntimeError("a bug, not a full disk")) is None
    try:
        try:
            raise raw
        except OSError as exc:
            raise RuntimeError("the task failed") from exc
    except RuntimeError as outer:
        assert "while writing /out/x.parquet" in str(storage.disk_full_error_in(outer))


@pytest.mark.slow
def test_a_full_disk_stops_the_ingest_job_and_a_rerun_after_freeing_space_succeeds(
    tmp_path, ray_session
):
    from physio_fixtures import make_wfdb_corpus

    raw = tmp_path / "raw" / "tiny_physio"
    raw.mkdir(parents=True)
    make_wfdb_corpus(raw, n_subjects=4, duration_s=40.0)
    flags = ["--source", str(raw), "--concurrency", "2", "--shard-rows", "10",
             "--row-group-rows", "4"]  # fmt: skip
    job = load_job("ingest_physio")
    undisturbed = job.main([*flags, "--out", str(tmp_path / "undisturbed")])
    reference_dir = tmp_path / "undisturbed" / "tiny_physio"
    reference = read_manifest(str(tmp_path / "undisturbed"), "tiny_physio")

    out = tmp_path / "full"
    env = {**_subprocess_env(), storage.SIMULATE_DISK_FULL_VAR: "40000"}
    failed = subprocess.run(
        [sys.executable, "jobs/ingest_physio.py", *flags, "--out", str(out)],
        env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    output = failed.stdout + failed.stderr
    assert failed.returncode != 0, output[-3000:]
    error_lines = [
        line
        for line in output.splitlines()
        if line.startswith("crossmodal_ray.pipelines.core.storage.NoSpaceLeftError: ")
    ]
    assert error_lines, output[-3000:]
    message = error_lines[-1].split(": ", 1)[1]
    assert message.startswith(f"no space left on device while writing {out / 'tiny_physio'}/")
    assert message.endswith(": free space and run again")
    assert not (out / "tiny_physio" / MANIFEST_NAME).exists()

    rerun = job.main([*flags, "--out", str(out)])  # space freed: no simulated limit here
    assert rerun["totals"] == undisturbed["totals"]
    manifest = read_manifest(str(out), "tiny_physio")
    _assert_same_output(out / "tiny_physio", manifest, reference_dir, reference)
