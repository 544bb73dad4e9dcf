"""The one place that says how the contrastive loss is computed: ``ContrastiveLossConfig``.

Three ways to compute the same symmetric InfoNCE over the global batch of all workers (equal
values and gradients, different cost), plus an optional MoCo queue of extra negatives:

    "full":  every rank computes the N x N loss on the gathered batch (W times the compute of
             "local"; the plain reference).
    "local": this rank's b rows against the N global columns (OpenCLIP's ``local_loss=True``
             with ``gather_with_grad=True``): b x N logits. The default.
    "tiled": "local" computed in column tiles of ``tile_size`` without materialising the
             b x N logits (:mod:`models.losses.tiled_info_nce`); exact, for large pools.

    queue_size > 0 adds a cross-modal queue of that many past embeddings per group as extra
    negatives (MoCo, He et al. 2020: K = 65536; :mod:`models.losses.memory_queue`).
"""

from __future__ import annotations

from dataclasses import dataclass

LOSS_CHOICES = ("full", "local", "tiled")


def validate_loss_fields(
    loss: str, tile_size: int, queue_size: int, temperature: float | None = None
) -> None:
    """Raise ``ValueError`` with a clear message for an invalid loss choice or size."""
    if loss not in LOSS_CHOICES:
        raise ValueError(f"loss must be one of {LOSS_CHOICES}, got {loss!r}")
    if isinstance(tile_size, bool) or not isinstance(tile_size, int) or tile_size < 1:
        raise ValueError(f"tile_size must be an int >= 1, got {tile_size!r}")
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size < 0:
        raise ValueError(f"queue_size must be an int >= 0 (0 = no queue), got {queue_size!r}")
    if temperature is not None and not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")


@dataclass
class ContrastiveLossConfig:
    """How the inter-group contrastive loss is computed (see the module docstring).

    Attributes:
        loss: "full", "local" (default) or "tiled".
        tile_size: columns per tile of the "tiled" loss (ignored otherwise).
        queue_size: queued negatives per group; 0 = no queue (MoCo uses 65536).
        temperature: tau (initial value when learned); MBSL default 0.1 (MoCo v1 0.07, v2 0.2).
        learn_temperature: learn ``log(1 / tau)`` like CLIP's logit scale.
    """

    loss: str = "local"
    tile_size: int = 2048
    queue_size: int = 0
    temperature: float = 0.1
    learn_temperature: bool = False

    def __post_init__(self) -> None:
        validate_loss_fields(self.loss, self.tile_size, self.queue_size, self.temperature)

    @property
    def local_loss(self) -> bool:
        """True for "local" and "tiled" (this rank's rows only)."""
        return self.loss != "full"
