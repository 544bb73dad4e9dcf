"""Export VG-BERT's grounded language stream as a stand-alone transformers model folder.

The folder (``save_pretrained`` of the encoder and of its tokenizer) loads with
``AutoModel.from_pretrained(DIR)`` alone; ``crossmodal_ray.models.vgbert.text_embedding.embed``
turns texts into vectors with it. A small report shows what grounding changed: concept words
(colours, shapes, positions) projected on the first two principal components of their
embeddings before (the text model the run started from) and after grounding, and each
word's nearest neighbours in both spaces.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.models.vgbert.text_embedding import mean_word_features

CONCEPT_WORDS = {
    "colour": ["red", "green", "blue", "yellow", "purple", "orange", "pink"],
    "shape": ["circle", "square", "triangle", "star", "diamond", "cross"],
    "position": ["left", "right", "above", "below", "top", "bottom"],
    "size": ["small", "large", "big", "tiny"],
}
REPORT_FILE = "report.md"
PLOT_FILE = "semantic_space.png"


def export_language_stream(model: VGBERTModel, out_dir: str | Path) -> Path:
    """Write the grounded encoder and its tokenizer to ``out_dir``."""
    from transformers import AutoTokenizer

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    model.language.encoder.save_pretrained(out)
    source = model.config.resolved_text_model()
    AutoTokenizer.from_pretrained(source, local_files_only=True).save_pretrained(out)
    (out / "grounding.json").write_text(
        json.dumps({"grounded_from": source, "model_config": model.config.to_dict()}, indent=2)
    )
    return out


def _neighbours(vectors: np.ndarray, words: list[str], k: int = 3) -> dict[str, list[str]]:
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True).clip(1e-12)
    cosine = unit @ unit.T
    np.fill_diagonal(cosine, -np.inf)
    return {w: [words[j] for j in np.argsort(-cosine[i])[:k]] for i, w in enumerate(words)}


def _pca_2d(vectors: np.ndarray) -> np.ndarray:
    centred = vectors - vectors.mean(0)
    _, _, components = np.linalg.svd(centred, full_matrices=False)
    return centred @ components[:2].T


def write_semantic_report(
    before: tuple[Any, Any], after: tuple[Any, Any], out_dir: str | Path
) -> dict[str, Any]:
    """PNG + markdown of the concept words before/after; ``before``/``after``: (encoder,
    tokenizer). Returns the nearest neighbours and the within-category neighbour rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    words = [w for group in CONCEPT_WORDS.values() for w in group]
    category = {w: c for c, group in CONCEPT_WORDS.items() for w in group}
    out = Path(out_dir)
    spaces = {
        "before": mean_word_features(before[0], before[1], words),
        "after": mean_word_features(after[0], after[1], words),
    }
    figure, axes = plt.subplots(1, 2, figsize=(11, 5))
    colours = dict(
        zip(CONCEPT_WORDS, ("tab:red", "tab:blue", "tab:green", "tab:purple"), strict=True)
    )
    summary: dict[str, Any] = {}
    for axis, (name, vectors) in zip(axes, spaces.items(), strict=True):
        points = _pca_2d(vectors)
        for (x, y), word in zip(points, words, strict=True):
            axis.scatter(x, y, color=colours[category[word]])
            axis.annotate(word, (x, y), fontsize=8)
        axis.set_title(f"{name} grounding (PCA of concept words)")
        neighbours = _neighbours(vectors, words)
        same = np.mean([category[n[0]] == category[w] for w, n in neighbours.items()])
        summary[name] = {"neighbours": neighbours, "same_category_nearest": float(same)}
    figure.tight_layout()
    figure.savefig(out / PLOT_FILE, dpi=100)
    plt.close(figure)
    lines = [
        "# The grounded text encoder's semantic space",
        "",
        f"![concept words]({PLOT_FILE})",
        "",
        "Share of concept words whose nearest neighbour is of the same category (colour, shape,"
        f" position, size): before {summary['before']['same_category_nearest']:.2f}, after"
        f" {summary['after']['same_category_nearest']:.2f}.",
        "",
        "| word | nearest before | nearest after |",
        "|---|---|---|",
    ]
    for word in words:
        lines.append(
            f"| {word} | {', '.join(summary['before']['neighbours'][word])} | "
            f"{', '.join(summary['after']['neighbours'][word])} |"
        )
    (out / REPORT_FILE).write_text("\n".join(lines) + "\n")
    return summary
