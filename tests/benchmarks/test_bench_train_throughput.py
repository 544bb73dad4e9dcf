"""``benchmarks/train_throughput.py``: the JSON's structure and equal work on both sides (the
same rows, steps and samples), on a tiny simulated corpus. Nothing here is timed."""

from __future__ import annotations

import os

import pytest
from benchmark_loader import load_benchmark


def test_steady_figures_leave_the_warm_up_out():
    bench = load_benchmark("train_throughput")
    intervals = [
        bench.Interval(end_step=2, steps=2, samples=16, seconds=4.0, wait_seconds=2.0),
        bench.Interval(end_step=4, steps=2, samples=16, seconds=1.0, wait_seconds=0.0),
        bench.Interval(end_step=6, steps=2, samples=16, seconds=1.0, wait_seconds=0.5),
    ]
    figures = bench.steady_figures(intervals, skip_steps=2)
    assert figures["steps"] == 4 and figures["samples"] == 32
    assert figures["samples_per_s"] == 16.0
    assert figures["data_wait_share"] == 0.25
    with pytest.raises(ValueError):
        bench.steady_figures(intervals, skip_steps=6)


def test_planned_steps_match_the_epoch_order():
    bench = load_benchmark("train_throughput")
    # 4,158 rows in 65 blocks of 63-64 rows: 64 batches of 64 for one worker, 32 for two.
    assert bench.planned_steps_per_epoch(4158, 1, 64, 64) == 64
    assert bench.planned_steps_per_epoch(4158, 2, 64, 64) == 32


def test_py_spy_summary(tmp_path):
    bench = load_benchmark("train_throughput")
    raw = tmp_path / "raw.txt"
    raw.write_text(
        "thread (1): TrainingThread;run (x.py:1);train_fn_per_worker (training/loop.py:206);"
        "backward (torch/autograd/graph.py:1072) 3\n"
        "thread (2): epoch-batches;run (x.py:1);draw (training/block_batches.py:76) 1\n"
    )
    summary = bench.summarize_py_spy(raw)
    assert summary["samples"] == 4
    assert summary["threads"] == {"TrainingThread": 0.75, "epoch-batches": 0.25}
    frames = summary["top_project_frames"]["TrainingThread"]
    assert frames == {"train_fn_per_worker (training/loop.py:206)": 0.75}


@pytest.mark.slow
def test_train_throughput_benchmark_on_a_tiny_corpus(tmp_path):
    bench = load_benchmark("train_throughput")
    result = bench.main(
        [
            "--sample-dir", str(tmp_path / "raw"),
            "--shards-dir", str(tmp_path / "shards"),
            "--sample-subjects", "4",
            "--sample-duration-s", "120",
            "--grouping-windows", "64",
            "--batch", "8",
            "--epochs", "2",
            "--log-every", "2",
            "--skip-steps", "2",
            "--repeat", "1",
            "--scale-workers", "2",
        ]
    )  # fmt: skip
    plain, ray1, ray2 = result["plain"], result["ray_1_worker"], result["scaling_runs"]["2"]
    # Equal work: the same training rows, steps and samples on both sides.
    rows = result["train_rows"]
    assert rows > 0 and plain["rows"] == ray1["rows"] == ray2["rows"] == rows
    assert plain["steps"] == ray1["steps"] == result["steps"] == 2 * plain["steps_per_epoch"]
    assert plain["samples"] == ray1["samples"] == result["steps"] * 8
    assert ray2["samples"] == ray2["steps"] * 8 * 2
    assert result["same_threads"]
    for run in (plain, ray1, ray2):
        steady = run["steady"]
        assert steady["steps"] == run["steps"] - 2 - run["steps"] % 2
        assert steady["samples_per_s"] > 0 and 0 <= steady["data_wait_share"] <= 1
    assert set(ray1["startup_s"]) == {
        "ray_start",
        "dataset_read_split",
        "dataset_materialise_and_cut",
        "worker_group_start",
        "train_fn_to_first_step",
    }
    assert all(seconds >= 0 for seconds in ray1["startup_s"].values())
    assert result["ratio_steady"] > 0 and result["goal_ratio"] == 0.9
    assert set(result["scaling"]) == {"1", "2"}
    assert set(result["data_wait_share"]) == {"plain", "ray_1_worker"}
    assert "ray::RayTrainWorker" in ray1["cpu_cores_steady"]
    assert result["cpu_count"] == os.cpu_count()
