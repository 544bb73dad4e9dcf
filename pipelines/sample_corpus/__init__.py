"""Bundled sample corpora in real formats: a WFDB physiological corpus and PPG-DaLiA-like pickles.

The MBSL ingest and tests run on these when no real data is given; their ground truth comes from
the simulation in ``physio_simulation``.
"""
