"""VG-BERT batches: shard rows (image + captions) to model tensors, in the worker's data thread.

- ``image``: JPEG bytes (decoded with ``torchvision.io.decode_jpeg``) or a uint8 [S, S, 3]
  tensor column; resized to the model's ``image_size`` when the shards hold another size and
  normalised with ImageNet's mean and std (what torchvision's VGG16 weights expect);
- ``captions``: one caption per image per step, drawn uniformly (a new draw every epoch, from
  numpy's global generator, which checkpoints restore), so no batch holds two captions of one
  image as each other's negatives; tokenized with the language model's own tokenizer (loaded
  once per process), padded to ``max_words``;
- ``word_mask``: the attention mask without the special tokens ([CLS], [SEP]): the words eq. 1
  averages over.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from crossmodal_ray.training.media_collate import image_batch, tokenize


def one_caption_each(captions: Any, rng: np.random.Generator | None = None) -> list[str]:
    """One caption drawn uniformly per image."""
    draw = rng.integers if rng is not None else np.random.randint
    return [str(c[int(draw(0, len(c)))]) for c in captions]


def collate_pairs(
    batch: dict[str, Any], text_model: str, image_size: int, max_words: int
) -> dict[str, torch.Tensor]:
    """The training batch: images and one tokenized caption per image."""
    return {
        "images": image_batch(batch["image"], image_size),
        **tokenize(one_caption_each(batch["captions"]), text_model, max_words),
    }
