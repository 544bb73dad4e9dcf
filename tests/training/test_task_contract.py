"""The general task contract in one 2-worker run: text and variable-length items collated off
the training step, a frozen module, parameter groups, two optimisers with their own schedules,
and the best checkpoint by a named validation metric (not the last one)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from text_pair_task import TextPairTask, TextRegressor

from crossmodal_ray.training.checkpointing import OPTIMIZER_FILE, load_model_weights
from crossmodal_ray.training.loop_config import TrainLoopConfig
from crossmodal_ray.training.trainer import best_checkpoint, run_training

WORDS = ["heart", "rate", "breath", "walking", "a", "sleep apnea episode", "rest"]


def text_rows(ray, n: int):
    rng = np.random.default_rng(0)
    rows = []
    for _ in range(n):
        text = " ".join(rng.choice(WORDS, size=rng.integers(1, 4)))
        extra = rng.integers(0, 128, size=rng.integers(0, 5)).tolist()  # 0-4 ids: ragged
        rows.append({"text": text, "extra_ids": extra, "target": float(len(text)) / 10})
    return ray.data.from_items(rows)


def test_text_batches_two_optimizers_and_best_checkpoint(ray_session, tmp_path):
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    task = TextPairTask(str(record_dir))
    loop = TrainLoopConfig(
        run_name="contract",
        storage_path=str(tmp_path / "runs"),
        num_workers=2,
        epochs=3,
        batch_size_per_worker=8,
        warmup_steps=2,
        checkpoint_every_steps=3,
        log_every_steps=2,
        num_to_keep=2,
        max_failures=0,
    )
    rows = 70  # 35 per worker: 4 full batches, the partial one dropped on both ranks
    result = run_training(task, loop, text_rows(ray_session, rows))
    assert result.error is None
    assert result.metrics["global_step"] == 3 * 4

    # Collated in the worker's data thread, never in the training loop's own thread.
    threads = set((record_dir / "collate_threads.txt").read_text().split())
    assert threads and "MainThread" not in threads

    # The best checkpoint is the one of epoch 2 (val_score 1.0), kept although it is neither
    # the last nor among the latest; the latest (epoch 3) is kept too, for resume.
    best = best_checkpoint(result, task)
    assert "checkpoint_epoch0002" in best.path
    kept = sorted(checkpoint.path.rsplit("/", 1)[1] for checkpoint, _ in result.best_checkpoints)
    assert any(name.startswith("checkpoint_epoch0003") for name in kept)
    assert [m["val_score"] for c, m in result.best_checkpoints if c.path == best.path] == [1.0]

    with best.as_directory() as directory:
        model = TextRegressor()
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        load_model_weights(directory, model)
        saved = torch.load(f"{directory}/{OPTIMIZER_FILE}", weights_only=True)
    # Frozen embedding untouched; trained modules moved.
    assert torch.equal(model.embedding.weight, initial["embedding.weight"])
    assert not torch.equal(model.encoder.weight, initial["encoder.weight"])
    assert not torch.equal(model.aux.weight, initial["aux.weight"])
    # Two optimisers, each with its own groups and schedule: head at 0.1x the main rate.
    assert set(saved) == {"main", "aux"}
    main_lrs = [g["lr"] for g in saved["main"]["optimizer"]["param_groups"]]
    assert len(main_lrs) == 4  # encoder and head, each split into decayed/undecayed
    assert max(main_lrs) / min(main_lrs) == pytest.approx(10.0)
    assert saved["main"]["scheduler"]["base_lrs"][0] == pytest.approx(1e-2)
    assert saved["aux"]["scheduler"]["base_lrs"] == pytest.approx([1e-3, 1e-3])
