"""Synthetic audio-visual sample corpus for active speaker detection, in the AVA-ActiveSpeaker
layout: h264 + AAC mp4 videos of drawn faces with speech-like voices and per-frame CSV labels.

Who speaks is only readable from audio-visual synchrony: a speaking face's mouth opens with the
envelope of its own voice, listeners keep still or chew out of time with any audio, and some
videos are dubbed or carry shifted audio, so their moving mouths are labelled not speaking (the
definition of Wuerkaixi et al., "Rethinking Audio-visual Synchronization for Active Speaker
Detection", MLSP 2022). ``corpus.make_av_corpus`` writes it.
"""
