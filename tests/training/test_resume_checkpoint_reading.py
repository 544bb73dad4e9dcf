"""Two pieces of the training loop's resume path (``training/loop.py``) that the system fault
tests (``tests/jobs/test_system_training_faults.py``) found broken: the score of a checkpoint
saved between validations, and where each rank reads the checkpoint it resumes from."""

from __future__ import annotations

import json
from pathlib import Path


def test_a_checkpoint_between_validations_keeps_a_score_its_snapshot_can_hold():
    """Ray Train writes the reported metrics to the run's snapshot as JSON, where NaN and
    infinity become null; a resubmitted run that restored a null score failed on its first
    checkpoint. The score of a checkpoint saved between validations is finite, ranks last and
    is never taken for a validation figure."""
    from crossmodal_ray.training.loop import is_validation_score, not_validated_score

    for mode, real in (("min", 1e9), ("max", -1e9)):
        score = not_validated_score(mode)
        assert json.loads(json.dumps(score, allow_nan=False)) == score
        assert (score > real) if mode == "min" else (score < real)
        assert not is_validation_score(score)
    assert is_validation_score(0.25) and is_validation_score(0)
    assert not any(is_validation_score(v) for v in (float("nan"), float("inf"), None, "0.5"))


def test_each_rank_reads_its_own_copy_of_a_remote_checkpoint(tmp_path):
    """A checkpoint on local storage is read in place; one elsewhere is copied into a folder
    of each rank's own (Ray's ``to_directory()`` shares one folder between a node's ranks and
    rewrites it under a rank that is reading), removed once restored."""
    import pyarrow.fs
    import ray.train

    from crossmodal_ray.training.loop import local_checkpoint_dir, remove_private_copy

    saved = tmp_path / "checkpoint_step0000002"
    saved.mkdir()
    (saved / "model.pt").write_bytes(b"weights")
    local = ray.train.Checkpoint(str(saved))
    assert local_checkpoint_dir(local) == str(saved)
    remove_private_copy(str(saved))
    assert (saved / "model.pt").exists()  # the checkpoint itself is never removed

    # The same folder seen through a filesystem that is not the local one (as S3 would be).
    remote = pyarrow.fs.SubTreeFileSystem(str(tmp_path), pyarrow.fs.LocalFileSystem())
    checkpoint = ray.train.Checkpoint(saved.name, filesystem=remote)
    copies = [local_checkpoint_dir(checkpoint) for _rank in range(2)]
    assert copies[0] != copies[1]
    for copy in copies:
        assert (Path(copy) / "model.pt").read_bytes() == b"weights"
        remove_private_copy(copy)
        assert not Path(copy).exists()
    assert (saved / "model.pt").exists()
