"""Ray Data building blocks: readers of real formats, windowing, shards, manifest, quarantine."""
