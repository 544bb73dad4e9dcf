"""AVA-ActiveSpeaker-style face tracks (annotation CSVs + videos) as a source adapter of the
generic ingest runner, for active speaker detection (TalkNet, Tao et al., ACM MM 2021;
SyncTalkNet, Wuerkaixi et al., MLSP 2022): CSVs parsed and checked on the driver, each video
decoded in an actor (decord, PyAV fallback), one row per face-track segment (``schema.py``)."""
