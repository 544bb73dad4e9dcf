"""Which corpus a training job uses: a mistyped --corpus stops with the list of corpora."""

from __future__ import annotations

import json

import pytest

from crossmodal_ray.pipelines.physio.prepare import PhysioCorpusConfig, prepare_physio_corpus


def test_missing_corpus_lists_the_finished_ones(tmp_path):
    for name in ("physio_sample", "mimic_subset"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "_manifest.json").write_text(json.dumps({"corpus": name}))
    (tmp_path / "half_ingested").mkdir()  # no manifest: not a finished corpus
    config = PhysioCorpusConfig(shards_dir=str(tmp_path), corpus="physio_sampel")
    with pytest.raises(FileNotFoundError) as error:
        prepare_physio_corpus(config, log=lambda _: None)
    message = str(error.value)
    assert "physio_sampel" in message and "mimic_subset, physio_sample" in message
    assert "half_ingested" not in message
    assert not (tmp_path / "physio_sampel").exists()  # nothing simulated under the typo


def test_finished_corpus_is_used_as_it_is(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "_manifest.json").write_text(json.dumps({"corpus": "mine"}))
    corpus, manifest = prepare_physio_corpus(
        PhysioCorpusConfig(shards_dir=str(tmp_path), corpus="mine"), log=lambda _: None
    )
    assert corpus == "mine" and manifest == {"corpus": "mine"}
    with pytest.raises(ValueError, match="--reingest needs --raw-dir"):
        prepare_physio_corpus(
            PhysioCorpusConfig(shards_dir=str(tmp_path), corpus="mine", reingest=True)
        )
