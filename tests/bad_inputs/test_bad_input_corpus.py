"""Issue 15's promise on bad input, for every ingest job: on a corpus that mixes good inputs
with every kind of broken one, the job returns normally, writes every good input, rejects every
bad one with its stage and a reason a user understands, and ``read = written + rejected``.

The corpus comes from ``bad_input_corpus.py`` (one generator per area); the README's table of
kinds is generated from the same records and must match them.
"""

from __future__ import annotations

import importlib
from collections import Counter

import pytest
from bad_input_checks import kind_failures, run_ingest
from bad_input_corpus import all_kinds, write_bad_input_corpus
from bad_input_table import markdown_table, readme_table
from repo_paths import REPO_ROOT

MIN_KINDS = 25
FORMATS = ("wfdb", "ppg_dalia", "coco", "visual_genome", "mediaeval", "weibo", "ava")


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    return write_bad_input_corpus(tmp_path_factory.mktemp("bad_input_corpus"))


def test_every_format_has_bad_inputs(corpora):
    kinds = all_kinds(corpora)
    assert len(kinds) >= MIN_KINDS, f"{len(kinds)} kinds, issue 15 asks for >= {MIN_KINDS}"
    per_format = Counter(kind.format for kind in kinds)
    assert set(per_format) == set(FORMATS), per_format
    names = [(kind.format, kind.name) for kind in kinds]
    assert len(names) == len(set(names)), "two kinds share a name"


def test_readme_table_matches_the_corpus(corpora):
    readme = (REPO_ROOT / "README.md").read_text()
    assert readme_table(readme) == markdown_table(corpora), (
        "README's bad-input table is stale: run python tests/bad_inputs/bad_input_table.py"
    )


@pytest.mark.slow
@pytest.mark.parametrize("format_name", FORMATS)
def test_ingest_job_rejects_each_kind_with_its_reason(format_name, corpora, ray_session, tmp_path):
    [corpus] = [c for c in corpora if c.format == format_name]
    outcome = run_ingest(corpus, tmp_path / "shards")
    failures = kind_failures(corpus, outcome)
    area = importlib.import_module(corpus.area)  # what only this format has
    if hasattr(area, "extra_checks"):
        failures += area.extra_checks(corpus, outcome)
    assert not failures, "\n".join(failures)
    rejected = len(outcome.rejected)
    assert rejected == sum(kind.rows for kind in corpus.kinds)
    assert outcome.manifest["totals"]["rejected"] == rejected
