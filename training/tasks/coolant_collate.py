"""COOLANT batches: news rows (JPEG image, text, label) to model tensors, in the data thread."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import torch

from crossmodal_ray.models.coolant.config import CoolantConfig
from crossmodal_ray.training.media_collate import image_batch, tokenize

NEWS_COLUMNS = ("sample_id", "image", "text", "label")
TEXT_FEATURES = "text_features"
_LINK = re.compile(r"(?:https?://|www\.)\S+")


def post_text(text: Any) -> str:
    """The words of a post the text encoder reads: links removed (a ``t.co`` link is a dozen
    tokens of noise, the usual preprocessing of MediaEval and Weibo posts), spaces collapsed.
    The shards keep the raw text."""
    return " ".join(_LINK.sub(" ", str(text)).split())


def collate_posts(batch: dict[str, Any], config: CoolantConfig) -> dict[str, torch.Tensor]:
    """Images [B, 3, S, S], labels [B], and the text as token ids and mask [B, max_words] or,
    when the rows carry them (``text_features``: the frozen encoder's pooled output), those."""
    out = {
        "images": image_batch(batch["image"], config.image_size),
        "labels": torch.as_tensor(np.asarray(batch["label"], dtype=np.int64)),
    }
    if TEXT_FEATURES in batch:
        out[TEXT_FEATURES] = torch.from_numpy(np.stack(batch[TEXT_FEATURES]).astype(np.float32))
        return out
    texts = [post_text(t) for t in batch["text"]]
    tokens = tokenize(texts, config.resolved_text_model(), config.max_words)
    out.update(input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"])
    return out


def model_inputs(batch: dict[str, torch.Tensor], device: torch.device | None = None) -> dict:
    """The keyword arguments of ``CoolantModel.classify`` / ``forward`` (without labels)."""
    keys = ("images", "input_ids", "attention_mask", TEXT_FEATURES)
    return {k: (batch[k].to(device) if device else batch[k]) for k in keys if k in batch}
