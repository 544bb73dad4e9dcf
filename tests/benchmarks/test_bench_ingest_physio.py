"""Smoke test of ``benchmarks/ingest_physio.py`` on a tiny corpus: the JSON's structure and the
equal-work checks (both sides write the same rows); it times nothing (~12 s: one local Ray)."""

from __future__ import annotations

from pathlib import Path

import pytest
from benchmark_loader import load_benchmark


def test_benchmark_runs_both_sides_on_the_same_rows(tmp_path):
    bench = load_benchmark("ingest_physio")
    # 2 subjects x 60 s, laid out twice: 4 records of 27 windows. One Ray run (its own
    # subprocess), the small-folder run of the job left out (tests/jobs covers the job).
    result = bench.main(
        [
            "--subjects", "2", "--duration-s", "60", "--copies", "2",
            "--data-dir", str(tmp_path / "raw"), "--cpus", "1", "--small-source", "",
            "--in-process",
        ]
    )  # fmt: skip
    corpus = result["corpus"]
    assert corpus["records"] == 4 and corpus["rows"] == 4 * 27
    # The copies are new records and subjects over the same files.
    labels = (Path(corpus["folder"]) / "labels.csv").read_text()
    assert "c02_S02/S02_r1,c02_S02," in labels
    # Equal work: main() asserted rows, NaN-gap drops and rows per record on both sides.
    ray_run = result["ray"]["1"]
    assert ray_run["rows"] == corpus["rows"] and ray_run["tasks"] == 4
    assert ray_run["startup_s"] == pytest.approx(
        ray_run["ray_start_s"] + ray_run["first_task_s"], abs=0.01
    )
    assert 0 < ray_run["startup_share"] <= 1
    assert set(result["ratio_to_plain"]) == {"project_in_process", "ray_1_cpu", "ray_1_cpu_steady"}
    assert set(result["cpu_efficiency"]) == {"project_in_process", "ray_1_cpu"}
    assert ray_run["ingest_cpu_s"] > 0 and ray_run["ray_start_cpu_s"] > 0
    assert result["goal_ratio"] == {"ray_1_cpu": 0.8}
    assert set(result["meets_goal"]) == {"ray_1_cpu"}
    assert result["small_folder"] is None
    assert result["cpu_count"] >= 1 and len(result["load_avg_start"]) == 3
    for side in ("plain", "project_in_process"):
        assert result[side]["rows_per_s"] > 0 and result[side]["cpu_s"] > 0
        assert len(result[side]["runs_s"]) == 1
