"""``jobs/export_text_encoder.py``: the best checkpoint's language stream becomes a folder that
transformers loads alone, whose outputs and ``embed`` match the in-run language stream."""

from __future__ import annotations

import json

import numpy as np
import torch
from job_loader import load_job

from crossmodal_ray.models.vgbert.config import VGBERTConfig
from crossmodal_ray.models.vgbert.model import VGBERTModel
from crossmodal_ray.models.vgbert.text_embedding import embed
from crossmodal_ray.training.checkpointing import save_training_state
from crossmodal_ray.training.media_collate import tokenize

TEXTS = ["a small red circle left of a blue square", "a large green triangle"]


def _checkpoint(run_dir, name, model, step, val_r_mean):
    config = model.config.to_dict()
    save_training_state(
        run_dir / name,
        model,
        [],
        {
            "global_step": step,
            "metrics": {"val_r_mean": val_r_mean},
            "extras": {"model_config": config},
        },
    )


def test_export_loads_with_transformers_alone_and_matches_the_run(tmp_path):
    from transformers import AutoModel

    torch.manual_seed(0)
    config = VGBERTConfig.small(attention_heads=4)
    best = VGBERTModel(config).eval()
    with torch.no_grad():  # "grounding": the trained layers moved away from MiniLM
        for p in best.language.encoder.encoder.layer[-1].parameters():
            p.add_(0.05 * torch.randn_like(p))
    later = VGBERTModel(config)
    run_dir = tmp_path / "run"
    _checkpoint(run_dir, "checkpoint_epoch0001_step0000010", best, 10, 0.30)
    _checkpoint(run_dir, "checkpoint_epoch0002_step0000020", later, 20, 0.10)  # worse, later

    out = tmp_path / "encoder"
    result = load_job("export_text_encoder").main(["--run", str(run_dir), "--out", str(out)])
    assert result["checkpoint"].endswith("checkpoint_epoch0001_step0000010")
    assert (out / "report.md").is_file() and (out / "semantic_space.png").stat().st_size > 10_000
    assert json.loads((out / "grounding.json").read_text())["model_config"]["vgg_width"] == 0.25

    tokens = tokenize(TEXTS, config.resolved_text_model(), 16)
    exported = AutoModel.from_pretrained(out, local_files_only=True).eval()
    with torch.no_grad():
        ours = best.language(tokens["input_ids"], tokens["attention_mask"])
        theirs = exported(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        ).last_hidden_state
    assert torch.allclose(ours, theirs, atol=1e-5)

    words = tokens["word_mask"].float()
    expected = ((ours * words[..., None]).sum(1) / words.sum(1, keepdim=True)).numpy()
    assert np.allclose(embed(TEXTS, str(out), max_words=16), expected, atol=1e-5)
    original = AutoModel.from_pretrained(config.resolved_text_model(), local_files_only=True)
    with torch.no_grad():
        before = original.eval()(
            input_ids=tokens["input_ids"], attention_mask=tokens["attention_mask"]
        ).last_hidden_state
    assert not torch.allclose(before, theirs, atol=1e-3)  # the grounded stream, not MiniLM
