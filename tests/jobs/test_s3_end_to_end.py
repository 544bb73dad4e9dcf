"""Everything on ``s3://`` against the session's S3-compatible server on 127.0.0.1 (moto):
ingest -> shards in a bucket -> one epoch of training with checkpoints in the bucket ->
evaluation reads the best checkpoint back -> a 2-trial sweep writes its report there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from job_loader import load_job
from s3_server import create_bucket

from crossmodal_ray.pipelines.core import storage
from crossmodal_ray.pipelines.core.manifest import read_manifest
from crossmodal_ray.pipelines.core.shard_reader import read_split

BUCKET = "crossmodal"
SHARDS = f"s3://{BUCKET}/shards"
TINY_MODEL = ["--grouping-windows", "256", "--probe-train-rows", "128", "--d-model", "32"]


def _names(location: str) -> list[str]:
    """File paths under ``location``, relative to it."""
    prefix = location.rstrip("/") + "/"
    return [f[len(prefix) :] for f in storage.list_dir(location, recursive=True)]


@pytest.mark.slow
def test_ingest_train_evaluate_and_sweep_on_s3(ray_session, s3_endpoint, tmp_path, monkeypatch):
    from crossmodal_ray.pipelines.sample_corpus.physio.simulation import PhysioSimulationConfig
    from crossmodal_ray.pipelines.sample_corpus.physio.wfdb_corpus import make_physio_wfdb_corpus

    monkeypatch.chdir(tmp_path)  # relative defaults (data/, runs/) would land here, not in S3
    create_bucket(BUCKET)
    raw = make_physio_wfdb_corpus(
        tmp_path / "raw" / "tiny", PhysioSimulationConfig(n_subjects=4, duration_s=60)
    )

    # 1. Ingest: shards, rejected table and manifest in the bucket.
    ingest = load_job("ingest_physio").main(["--source", str(raw), "--out", SHARDS])
    assert ingest["corpus_path"] == f"{SHARDS}/tiny"
    manifest = read_manifest(SHARDS, "tiny")
    assert manifest["totals"] == ingest["totals"] and manifest["totals"]["written"] == 4 * 27
    files = _names(f"{SHARDS}/tiny")
    assert "_manifest.json" in files
    assert sorted(f for f in files if f.endswith(".parquet")) == sorted(
        f for info in manifest["splits"].values() for f in info["files"]
    )
    assert read_split(SHARDS, "tiny", "val").count() == manifest["splits"]["val"]["rows"]

    # 2. Train one epoch with checkpoints and logs in the bucket; the evaluation loads the best
    # checkpoint back from there.
    runs = f"s3://{BUCKET}/runs"
    result = load_job("train_mbsl").main(
        ["--shards-dir", SHARDS, "--corpus", "tiny", "--storage-path", runs]
        + ["--num-workers", "1", "--epochs", "1", "--batch-size-per-worker", "16"]
        + ["--finetune-epochs", "0", "--log-every-steps", "1", *TINY_MODEL]
    )
    run_dir = f"{runs}/mbsl_tiny"
    assert result["run_dir"] == run_dir and result["corpus"] == f"{SHARDS}/tiny"
    for key in ("hr_mae_bpm", "rr_mae_bpm", "baseline_random_encoder_rr_mae_bpm"):
        assert result[key] is not None and result[key] > 0, key
    run_files = _names(run_dir)
    assert "grouping.json" in run_files
    assert any(f.startswith("checkpoint_epoch0001") and f.endswith("/model.pt") for f in run_files)
    assert any(f.startswith("tensorboard/events.out.tfevents") for f in run_files)
    grouping = json.loads(storage.read_text(f"{run_dir}/grouping.json"))
    assert result["channel_groups"] == [
        [grouping["channel_names"][i] for i in group] for group in grouping["groups"]
    ]

    # 3. A 2-trial sweep: trials' checkpoints, Tune's state and the report in the bucket; the
    # best checkpoint is read back from there for the test-split evaluation.
    sweeps = f"s3://{BUCKET}/sweeps"
    sweep = load_job("tune_mbsl").main(
        ["--shards-dir", SHARDS, "--corpus", "tiny", "--storage-path", sweeps]
        + ["--sweep-name", "tiny_sweep", "--num-samples", "2", "--max-epochs", "1"]
        + ["--trial-train-rows", "0", "--batch-size-per-worker", "16", *TINY_MODEL]
    )
    assert sweep["trials"] == 2 and sweep["failed"] == 0
    assert sweep["report"] == f"{sweeps}/tiny_sweep/report/report.md"
    assert "rr_mae_bpm" in sweep["best_test_metrics"]
    report = _names(f"{sweeps}/tiny_sweep/report")
    for name in ("report.md", "trials.csv", "learning_curves.png", "metric_vs_lr.png"):
        assert name in report, report
    assert "## Best configuration" in storage.read_text(sweep["report"])
    assert any(f.startswith("train_runs/trial_") for f in _names(f"{sweeps}/tiny_sweep"))

    # Nothing went to a local folder named like the bucket.
    assert not list(Path(tmp_path).glob("s3*")) and not (tmp_path / "runs").exists()
