"""Synthetic image-text sample corpus (rendered shape scenes) written as COCO and Visual Genome."""
