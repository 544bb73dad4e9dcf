"""What a newcomer sees: a short job run prints the project's progress lines and its JSON line,
not Ray's internals (``training/ray_runtime.py`` sends those to Ray's log files)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from repo_paths import REPO_ROOT

# Lines the project did not write (a user-facing Ray warning, say) that a run may show.
MAX_FOREIGN_LINES = 3


@pytest.mark.slow
def test_short_training_job_prints_its_own_lines_only(tmp_path):
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

    make_physio_wfdb_corpus(
        tmp_path / "raw" / "tiny", PhysioSimulationConfig(n_subjects=4, duration_s=60)
    )
    run = subprocess.run(
        [
            sys.executable, str(REPO_ROOT / "jobs" / "train_mbsl.py"),
            "--raw-dir", "raw/tiny", "--shards-dir", "shards", "--storage-path", "runs",
            "--epochs", "1", "--finetune-epochs", "1", "--batch-size-per-worker", "16",
            "--grouping-windows", "256", "--probe-train-rows", "128", "--log-every-steps", "1",
        ],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    console = (run.stdout + run.stderr).splitlines()
    assert run.returncode == 0, "\n".join(console[-60:])
    assert not [line for line in console if "Traceback" in line], "\n".join(console)
    ours = [line for line in console if line.startswith("[")]
    foreign = [line for line in console if line.strip() and not line.startswith(("[", "{"))]
    assert len(foreign) <= MAX_FOREIGN_LINES, "\n".join(foreign)
    # The project's own lines are all there, each once (no Ray prefix, no folding).
    for expected in (
        "[ingest] done:",
        "[train_mbsl] pretraining",
        "[mbsl] epoch 1 step 1/1",
        "[mbsl] epoch 1 validation:",
        "[train_mbsl] linear probe, pretrained encoder:",
        "[mbsl_finetune] epoch 1 validation:",
    ):
        assert sum(line.startswith(expected) for line in ours) == 1, expected
    result = json.loads(console[-1])  # the last line is the result
    assert result["hr_mae_bpm"] > 0 and "baseline_mean_hr_mae_bpm" in result
