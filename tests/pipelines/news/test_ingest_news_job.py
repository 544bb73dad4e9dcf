"""``jobs/ingest_news.py``: its flags and the no-argument default (the bundled sample corpus).
(A run with --source is in test_weibo_ingest.py.)"""

from __future__ import annotations

import json

import pytest
from job_loader import load_job

from crossmodal_ray.pipelines.core.splits import SPLITS


def test_help_lists_the_news_flags(capsys):
    job = load_job("ingest_news")
    with pytest.raises(SystemExit) as exit_info:
        job.main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for flag in (
        "--source",
        "--format",
        "--split-by",
        "--keep-humor",
        "--first-image-only",
        "--image-size",
        "--jpeg-quality",
        "--val-fraction",
        "--split-seed",
        "--out",
    ):
        assert flag in text, flag


@pytest.mark.slow
def test_no_arguments_ingests_the_bundled_sample_corpus(tmp_path, ray_session, capsys):
    """The default run: the sample corpus generated (data/raw/news_sample, cached), its
    mediaeval/ folder ingested with the corpus's own splits."""
    job = load_job("ingest_news")
    summary = job.main(["--out", str(tmp_path)])
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == summary
    posts = summary["posts"]
    assert posts["written"] > 0 and posts["read"] == posts["written"] + posts["rejected"]
    assert all(summary["rows"][split] > 0 for split in SPLITS)
    manifest = json.loads((tmp_path / "mediaeval" / "_manifest.json").read_text())
    keys = [set(manifest["splits"][split]["keys"]) for split in SPLITS]
    assert not (keys[0] & keys[1] or keys[0] & keys[2] or keys[1] & keys[2])
