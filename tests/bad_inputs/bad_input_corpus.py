"""The bad-input corpus: every reader's broken inputs, written by one call.

``write_bad_input_corpus(root)`` writes one raw corpus per format (WFDB, PPG-DaLiA, COCO, Visual
Genome, MediaEval, Weibo, AVA) under ``root``, each mixing good inputs with one input of every
kind of breakage its reader must survive, and returns their :class:`BadCorpus` records. The
generators are one module per area (``bad_physio``, ``bad_image_text``, ``bad_news``,
``bad_av``); :data:`AREAS` lists them.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from bad_input_kinds import BadCorpus, BadKind

AREAS = ("bad_physio", "bad_image_text", "bad_news", "bad_av")


def write_bad_input_corpus(root: Path) -> list[BadCorpus]:
    """Write every format's bad corpus under ``root/<area>/``."""
    corpora: list[BadCorpus] = []
    for area in AREAS:
        for corpus in importlib.import_module(area).write_bad_corpora(Path(root) / area):
            corpus.area = area
            corpora.append(corpus)
    return corpora


def all_kinds(corpora: list[BadCorpus]) -> list[BadKind]:
    """Every kind of every corpus, in corpus order."""
    return [kind for corpus in corpora for kind in corpus.kinds]
