"""What the workers train on, through Ray Train: a new global order every epoch (every rank meets
every record), and exact resume after a killed worker and after a resubmitted driver (the rows
and the random draws of every step are those of an uninterrupted run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from order_recording_task import OrderRecordingTask, corpus_rows, read_records
from worker_kill import run_and_kill_rank1

from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.trainer import run_training


def _loop(tmp_path: Path, name: str, **overrides) -> TrainLoopConfig:
    values = dict(
        run_name=name,
        storage_path=str(tmp_path / "runs"),
        num_workers=2,
        batch_size_per_worker=8,
        log_every_steps=1000,
        checkpoint_every_steps=1000,
        max_failures=0,
        shuffle_buffer_rows=32,
        order_block_rows=4,
    )
    values.update(overrides)
    return TrainLoopConfig(**values)


def test_every_rank_meets_every_record_and_epochs_differ(ray_session, tmp_path):
    """14 records of 21 consecutive windows (one shard file): with ``streaming_split`` each rank
    read the same 7 records in every epoch, in the same order."""
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    rows = ray_session.data.from_items(corpus_rows(records=14, windows=21))
    result = run_training(
        OrderRecordingTask(str(record_dir)), _loop(tmp_path, "order", epochs=3), rows
    )
    assert result.error is None
    steps = result.metrics["global_step"]
    assert steps % 3 == 0
    per_epoch = steps // 3
    lines = {rank: read_records(record_dir, rank) for rank in (0, 1)}
    assert len(lines[0]) == len(lines[1]) == steps
    for rank in (0, 1):
        met = {record for line in lines[rank] for record in line["records"]}
        assert met == set(range(14)), f"rank {rank} never met records {set(range(14)) - met}"
    epochs = [
        [lines[rank][e * per_epoch : (e + 1) * per_epoch] for rank in (0, 1)] for e in range(3)
    ]
    for epoch in epochs:
        ids = [i for rank_lines in epoch for line in rank_lines for i in line["row_ids"]]
        assert len(ids) == len(set(ids)), "a row was trained on twice in one epoch"
        assert len(ids) >= 0.9 * 14 * 21
    batches = [[frozenset(line["row_ids"]) for line in epoch[0] + epoch[1]] for epoch in epochs]
    assert batches[0] != batches[1] != batches[2]
    assert {frozenset(line["records"]) for line in epochs[0][0]} != {
        frozenset(line["records"]) for line in epochs[1][0]
    }


def _steps_of_last_attempts(lines: list[dict], total_steps: int) -> dict[int, dict]:
    """Step -> the line of the last process that ran it (a restarted worker replays from the
    checkpoint: its lines are the last ``n`` steps of the run)."""
    by_step: dict[int, dict] = {}
    attempts: list[list[dict]] = []
    for line in lines:
        if not attempts or attempts[-1][-1]["pid"] != line["pid"]:
            attempts.append([])
        attempts[-1].append(line)
    for index, attempt in enumerate(attempts):
        first = 1 if index == 0 else total_steps - len(attempt) + 1
        for offset, line in enumerate(attempt):
            by_step[first + offset] = line
    return by_step


def _assert_same_steps(run_dir: Path, reference_dir: Path, total_steps: int) -> None:
    for rank in (0, 1):
        got = _steps_of_last_attempts(read_records(run_dir, rank), total_steps)
        want = _steps_of_last_attempts(read_records(reference_dir, rank), total_steps)
        assert sorted(got) == sorted(want) == list(range(1, total_steps + 1))
        for step in want:
            assert got[step]["row_ids"] == want[step]["row_ids"], (rank, step)
            assert got[step]["draw"] == want[step]["draw"], (rank, step)
    # The union of the ranks' samples of every step is the uninterrupted run's multiset.
    got = [_steps_of_last_attempts(read_records(run_dir, r), total_steps) for r in (0, 1)]
    want = [_steps_of_last_attempts(read_records(reference_dir, r), total_steps) for r in (0, 1)]
    for step in range(1, total_steps + 1):
        assert sorted(got[0][step]["row_ids"] + got[1][step]["row_ids"]) == sorted(
            want[0][step]["row_ids"] + want[1][step]["row_ids"]
        )


RESUME_RUN = dict(epochs=2, order_block_rows=16, checkpoint_every_steps=6)
RESUME_ROWS = dict(records=16, windows=20)  # 20 blocks of 16: 20 steps per epoch, 40 in all


@pytest.fixture(scope="module")
def uninterrupted(ray_session, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("uninterrupted")
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    rows = ray_session.data.from_items(corpus_rows(**RESUME_ROWS))
    result = run_training(
        OrderRecordingTask(str(record_dir)), _loop(tmp_path, "reference", **RESUME_RUN), rows
    )
    assert result.error is None
    return record_dir, result.metrics["global_step"]


@pytest.mark.slow
def test_killed_worker_resumes_with_the_same_samples_and_draws(
    ray_session, tmp_path, uninterrupted
):
    reference_dir, total = uninterrupted
    record_dir, pid_dir = tmp_path / "records", tmp_path / "pids"
    record_dir.mkdir()
    loop = _loop(
        tmp_path,
        "killed",
        **RESUME_RUN,
        max_failures=2,
        fault_injection_pid_dir=str(pid_dir),
        fault_injection_step_sleep_s=0.3,
    )
    rows = ray_session.data.from_items(corpus_rows(**RESUME_ROWS))
    result = run_and_kill_rank1(
        lambda: run_training(OrderRecordingTask(str(record_dir)), loop, rows),
        tmp_path / "runs" / "killed",
        pid_dir,
    )
    assert result.error is None
    assert result.metrics["global_step"] == total
    assert 0 < result.metrics["resumed_from_step"] < total
    assert len((pid_dir / "rank1.pid").read_text().split()) == 2
    _assert_same_steps(record_dir, reference_dir, total)


@pytest.mark.slow
def test_resubmitted_driver_resumes_with_the_same_samples_and_draws(
    ray_session, tmp_path, uninterrupted
):
    reference_dir, total = uninterrupted
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    task = OrderRecordingTask(str(record_dir), fail_once_at_call=27)  # mid epoch 2
    loop = _loop(tmp_path, "resubmitted", **RESUME_RUN)
    rows = corpus_rows(**RESUME_ROWS)
    with pytest.raises(Exception, match="injected failure"):
        result = run_training(task, loop, ray_session.data.from_items(rows))
        if result.error:
            raise result.error
    # The same run submitted again (a new driver: the blocks are built anew).
    result = run_training(task, loop, ray_session.data.from_items(rows))
    assert result.error is None
    assert result.metrics["global_step"] == total
    assert result.metrics["resumed_from_step"] == 24  # the last checkpoint before step 27
    _assert_same_steps(record_dir, reference_dir, total)
