"""The storage module on a local disk (the same calls run on s3:// in test_s3_end_to_end)."""

from __future__ import annotations

import os

import pytest

from crossmodal_ray.pipelines.core import storage


def test_locations_join_and_normalize(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert storage.normalize("runs") == str(tmp_path / "runs")
    assert storage.join("runs", "a", "b.json") == str(tmp_path / "runs" / "a" / "b.json")
    assert (
        storage.join("s3://bucket/shards/", "corpus", "train") == "s3://bucket/shards/corpus/train"
    )
    assert storage.parent("s3://bucket/a/b") == "s3://bucket/a"
    assert storage.name("gs://bucket/a/b/") == "b"
    assert storage.is_uri("s3://b/k") and not storage.is_uri("/data/k")


def test_write_read_list_delete(tmp_path):
    root = str(tmp_path / "corpus")
    assert not storage.exists(root) and storage.list_dir(root) == []
    storage.write_text(storage.join(root, "train", "a.txt"), "alpha")
    storage.write_bytes(storage.join(root, "val", "b.bin"), b"\x00\x01")
    assert storage.read_text(storage.join(root, "train", "a.txt")) == "alpha"
    assert storage.is_dir(root) and storage.is_file(storage.join(root, "val", "b.bin"))
    assert storage.list_subdirs(root) == ["train", "val"]
    assert storage.list_dir(root, recursive=True) == [
        storage.join(root, "train", "a.txt"),
        storage.join(root, "val", "b.bin"),
    ]
    storage.delete_dir(storage.join(root, "train"))
    storage.delete_dir(storage.join(root, "train"))  # missing_ok
    with pytest.raises(FileNotFoundError):
        storage.delete_dir(storage.join(root, "train"), missing_ok=False)
    assert storage.list_subdirs(root) == ["val"]


def test_atomic_write_replaces_whole_and_leaves_no_temporary(tmp_path):
    target = storage.join(str(tmp_path), "_manifest.json")
    storage.write_text_atomic(target, "first")
    storage.write_text_atomic(target, "second")
    assert storage.read_text(target) == "second"
    assert os.listdir(tmp_path) == ["_manifest.json"]


def test_local_dirs_for_writing_and_reading_are_the_folder_itself(tmp_path):
    with storage.local_dir_for_writing(str(tmp_path / "report")) as local:
        (local / "report.md").write_text("# report")
    with storage.local_dir_for_reading(str(tmp_path / "report")) as local:
        assert (local / "report.md").read_text() == "# report"
