"""Image-text corpora (COCO captions + boxes, Visual Genome v1.4 scene graphs) as source adapters
of the generic ingest runner: annotation parsing on the driver, image decoding in the actors."""
