"""Collate helpers shared by the image-text tasks: shard images and texts to model tensors.

- ``image``: JPEG bytes (decoded with ``torchvision.io.decode_jpeg``) or a uint8 [S, S, 3]
  tensor column, resized to the model's input size when the shards hold another size and
  normalised with ImageNet's mean and std (what torchvision's pretrained weights expect);
- text: tokenized with the language model's own tokenizer (loaded once per process), padded to
  a fixed length; ``word_mask`` is the attention mask without the special tokens.

They run in the workers' data threads (``TrainingTask.collate``).
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@lru_cache(maxsize=4)
def tokenizer_of(path: str) -> Any:
    """The language model's tokenizer (``AutoTokenizer.from_pretrained``), once per process."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(path, local_files_only=True)


def image_tensor(value: Any) -> torch.Tensor:
    """One shard image (JPEG bytes or a uint8 H x W x 3 array) as uint8 [3, H, W]."""
    if isinstance(value, bytes | bytearray | memoryview):
        from torchvision.io import ImageReadMode, decode_jpeg

        data = torch.frombuffer(bytearray(value), dtype=torch.uint8)
        return decode_jpeg(data, mode=ImageReadMode.RGB)
    array = np.asarray(value, dtype=np.uint8)
    return torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))


def image_batch(values: Any, image_size: int) -> torch.Tensor:
    """float [B, 3, S, S], ImageNet-normalised."""
    return normalize_images(torch.stack([image_tensor(v) for v in values]), image_size)


def normalize_images(pixels: torch.Tensor, image_size: int) -> torch.Tensor:
    """uint8 [B, 3, H, W] -> float [B, 3, S, S] (resized when H, W != S), ImageNet-normalised."""
    images = pixels.float() / 255.0
    if images.shape[-1] != image_size or images.shape[-2] != image_size:
        images = F.interpolate(
            images, size=(image_size, image_size), mode="bilinear", antialias=True
        )
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (images - mean) / std


def tokenize(texts: list[str], text_model: str, max_words: int) -> dict[str, torch.Tensor]:
    """``input_ids``, ``attention_mask`` [B, max_words] and ``word_mask`` (real words)."""
    out = tokenizer_of(text_model)(
        list(texts),
        padding="max_length",
        truncation=True,
        max_length=max_words,
        return_special_tokens_mask=True,
        return_tensors="pt",
    )
    words = out["attention_mask"].bool() & ~out["special_tokens_mask"].bool()
    return {
        "input_ids": out["input_ids"],
        "attention_mask": out["attention_mask"],
        "word_mask": words,
    }
