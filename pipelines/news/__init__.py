"""News posts with images (MediaEval "Verifying Multimedia Use" 2015/2016, Weibo in the EANN
layout) as a source adapter of the generic ingest runner: post files parsed and checked on the
driver, images decoded in the actors, one row per post image (``schema.py``)."""
