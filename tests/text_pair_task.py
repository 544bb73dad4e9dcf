"""A task that exercises the whole task contract (tests/training/test_task_contract.py):
string and variable-length columns collated in the data thread, a frozen module, parameter
groups with their own learning rates, a second optimiser for an auxiliary module, and a named
validation metric that ranks the checkpoints. Ray workers import it by module name."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from crossmodal_ray.training.optimizers import OptimizerSpec, ParamGroup

VOCAB = 128
# Validation metric by epoch: the best (lowest) is epoch 2, not the last one.
SCRIPTED_VALIDATION = {1: 3.0, 2: 1.0, 3: 2.0}


class TextRegressor(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.embedding = nn.Embedding(VOCAB, 8)
        self.embedding.requires_grad_(False)  # frozen: no optimiser owns it
        self.encoder = nn.Linear(8, 8)
        self.head = nn.Linear(8, 1)
        self.aux = nn.Linear(8, 1)  # trained by its own optimiser

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> dict[str, torch.Tensor]:
        mask = (torch.arange(tokens.shape[1])[None, :] < lengths[:, None]).float()
        pooled = (self.embedding(tokens) * mask[..., None]).sum(1) / lengths[:, None].float()
        hidden = torch.tanh(self.encoder(pooled))
        return {"prediction": self.head(hidden)[:, 0], "aux": self.aux(hidden.detach())[:, 0]}


@dataclass
class TextPairTask:
    record_dir: str
    name: str = "text_pair"
    columns: tuple[str, ...] = ("text", "extra_ids", "target")
    validation_metric: str = "val_score"
    validation_mode: str = "min"

    def build_model(self) -> nn.Module:
        return TextRegressor()

    def collate(self, batch: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
        """Strings -> character ids, padded to the longest; variable-length id lists appended."""
        with open(Path(self.record_dir) / "collate_threads.txt", "a") as handle:
            handle.write(threading.current_thread().name + "\n")
        sequences = [
            [ord(c) % VOCAB for c in str(text)] + [int(i) for i in extra]
            for text, extra in zip(batch["text"], batch["extra_ids"], strict=True)
        ]
        longest = max(len(s) for s in sequences)
        tokens = torch.zeros((len(sequences), longest), dtype=torch.long)
        for row, sequence in enumerate(sequences):
            tokens[row, : len(sequence)] = torch.tensor(sequence)
        return {
            "tokens": tokens,
            "lengths": torch.tensor([len(s) for s in sequences]),
            "target": torch.tensor(np.asarray(batch["target"], dtype=np.float32)),
        }

    def training_loss(self, model, batch):
        out = model(batch["tokens"], batch["lengths"])
        main = ((out["prediction"] - batch["target"]) ** 2).mean()
        aux = ((out["aux"] - batch["target"]) ** 2).mean()
        return main + aux, {"aux_loss": float(aux)}

    def optimizers(self, model: TextRegressor, loop) -> list[OptimizerSpec]:
        return [
            OptimizerSpec(
                "main",
                [
                    ParamGroup(list(model.encoder.parameters())),
                    ParamGroup(list(model.head.parameters()), lr_scale=0.1),
                    ParamGroup(list(model.embedding.parameters())),  # frozen: skipped
                ],
                lr=1e-2,
            ),
            OptimizerSpec(
                "aux", [ParamGroup(list(model.aux.parameters()))], lr=1e-3, warmup_steps=0
            ),
        ]

    def validation_metrics(self, model, device) -> dict[str, float]:
        import ray.train

        if ray.train.get_context().get_world_rank() != 0:
            return {}
        path = Path(self.record_dir) / "validation_calls.json"
        calls = json.loads(path.read_text()) + 1 if path.exists() else 1
        path.write_text(json.dumps(calls))
        return {"val_score": SCRIPTED_VALIDATION[calls]}

    def checkpoint_extras(self):
        return {}
