"""Torch modules and objectives. Nothing here imports Ray, pipelines or training."""
