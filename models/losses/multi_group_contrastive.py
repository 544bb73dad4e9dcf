"""MBSL's inter-group contrastive loss over a global negative pool.

MBSL (Guo, Xu, Wu, Wang, "Multi-Scale and Multi-Modal Contrastive Learning Network for
Biomedical Time Series") encodes each channel group separately and pulls together the
embeddings of the same window in different groups while pushing apart other windows. For G
groups this module averages the symmetric InfoNCE (CLIP eq., see :mod:`.info_nce`) over the
G(G-1)/2 unordered pairs::

    L = 1 / |P| * sum_{(a, b) in P} 1/2 [ CE(z_a z_b^T / tau, y) + CE(z_b z_a^T / tau, y) ]

Hyper-parameters (defaults):
    temperature = 0.1: tau (MBSL's contrastive temperature; our choice where unspecified).
    learn_temperature = False: learn ``log(1 / tau)`` like CLIP's logit scale, clamped so that
        ``1 / tau <= 100`` (CLIP, Sec. 2.5).
    gather_with_grad = True: negatives are every window of the GLOBAL batch of all workers,
        gathered with gradient (see :mod:`models.losses.distributed` for why this is exact).
    local_loss = True: this rank's rows against global columns (b x N logits instead of N x N).
    loss = "local": "full" | "local" | "tiled" (:mod:`.contrastive_loss_config`; ``"full"`` is
        ``local_loss=False``).
    tile_size = 2048: columns per tile of ``loss="tiled"``.
    queue_size = 0: > 0 adds a cross-modal MoCo queue (He et al. 2020; MoCo's K = 65536) of that
        many past keys per group as extra negatives (:mod:`.memory_queue`). The loss of the pair
        (a, b) then uses b's queue for a's rows and a's queue for b's rows
        (:mod:`.queued_info_nce`); after the loss, in training mode only, the gathered keys of
        this step are enqueued (every rank enqueues the same gathered batch, so queues stay
        equal). The keys are the caller's ``queue_keys``: MBSL passes those of a momentum copy
        of its group encoders (MoCo eq. 2, :mod:`.momentum_encoder`); without them the online
        embeddings are enqueued (a memory bank).
    overlap_s = 0: with window keys (``forward(keys=...)``), columns of the same recording that
        start less than ``overlap_s`` from the anchor are no negatives of it (near-duplicates of
        the positive, :mod:`.negative_exclusion`); the anchor's own queued key never is one.

Gradient of ``gather_with_grad=False`` with the full loss (``local_loss=False``): every rank
computes all N x N terms but only its own slice of the gathered batch carries gradient, so rank
r's gradient is the whole ``dL/dz_r`` and DDP's average over W ranks divides it by W. The local
slice's gradient is therefore multiplied by W (its value is unchanged), which makes that
combination exact; the learned temperature, whose gradient every rank computes in full, is not
scaled. ``gather_with_grad=False`` with the local loss stays OpenCLIP's cheaper approximation
(other ranks' loss terms on our features are dropped).
"""

from __future__ import annotations

import itertools
import math

import torch
from torch import Tensor, nn

from crossmodal_ray.models.losses.contrastive_loss_config import ContrastiveLossConfig
from crossmodal_ray.models.losses.distributed import (
    gather_no_grad,
    gather_with_grad,
    get_rank,
    get_world_size,
    is_distributed,
)
from crossmodal_ray.models.losses.info_nce import local_global_info_nce
from crossmodal_ray.models.losses.memory_queue import CrossModalMemoryQueue
from crossmodal_ray.models.losses.negative_exclusion import NegativeExclusion, WindowKeys
from crossmodal_ray.models.losses.queued_info_nce import queued_local_global_info_nce
from crossmodal_ray.models.losses.tiled_info_nce import tiled_local_global_info_nce

MAX_LOGIT_SCALE = 100.0  # CLIP clamps 1/tau at 100


class MultiGroupContrastiveLoss(nn.Module):
    """Symmetric InfoNCE averaged over every unordered pair of channel groups.

    Args:
        temperature: initial (or fixed) tau.
        learn_temperature: make ``log(1 / tau)`` a parameter (clamped at ``1 / tau <= 100``).
        gather_with_grad: gather features of all ranks with gradient (exact full-batch
            gradient under DDP). False gathers without gradient and re-inserts the local
            slice (cheaper; other ranks' loss terms on our features are dropped).
        local_loss: local rows vs global columns. False computes the full N x N loss on every
            rank (same gradient under DDP, W times the compute); the same as ``loss="full"``.
        loss: "full", "local" or "tiled" (see :mod:`.contrastive_loss_config`).
        tile_size: columns per tile for ``loss="tiled"``.
        queue_size: queued negatives per group (0 = no queue); needs ``n_groups`` and
            ``embed_dim``.
        n_groups: G, to allocate one queue ring per group.
        embed_dim: E of the queued embeddings (required with ``queue_size > 0``: the queue is a
            buffer allocated here, before DDP wraps the model, never lazily).
        overlap_s: exclude same-recording columns starting closer than this (0 = off).
    """

    def __init__(
        self,
        temperature: float = 0.1,
        learn_temperature: bool = False,
        gather_with_grad: bool = True,
        local_loss: bool = True,
        loss: str = "local",
        tile_size: int = 2048,
        queue_size: int = 0,
        n_groups: int | None = None,
        embed_dim: int | None = None,
        overlap_s: float = 0.0,
    ) -> None:
        super().__init__()
        if overlap_s < 0:
            raise ValueError(f"overlap_s must be >= 0, got {overlap_s}")
        self.overlap_s = float(overlap_s)
        if not local_loss:
            if loss == "tiled":
                raise ValueError("local_loss=False contradicts loss='tiled' (use loss='full')")
            loss = "full"
        self.config = ContrastiveLossConfig(
            loss=loss,
            tile_size=tile_size,
            queue_size=queue_size,
            temperature=temperature,
            learn_temperature=learn_temperature,
        )
        self.queue: CrossModalMemoryQueue | None = None
        if queue_size > 0:
            if n_groups is None or embed_dim is None:
                raise ValueError(
                    "queue_size > 0 needs n_groups and embed_dim to allocate the queue"
                )
            self.queue = CrossModalMemoryQueue(n_groups, embed_dim, queue_size)
        log_scale = torch.tensor(math.log(1.0 / temperature))
        if learn_temperature:
            self.log_logit_scale = nn.Parameter(log_scale)
        else:
            self.register_buffer("log_logit_scale", log_scale)
        self.learn_temperature = learn_temperature
        self.gather_with_grad = gather_with_grad
        self.local_loss = self.config.local_loss

    def temperature(self) -> Tensor:
        """Current tau as a 0-d tensor (differentiable when learned)."""
        scale = self.log_logit_scale.float().exp().clamp(max=MAX_LOGIT_SCALE)
        return 1.0 / scale

    def _gather(self, x: Tensor) -> Tensor:
        """[b, ...] -> [W*b, ...] (identity when not distributed)."""
        if not is_distributed():
            return x
        if self.gather_with_grad:
            return gather_with_grad(x)
        gathered = gather_no_grad(x)
        b, start = x.shape[0], get_rank() * x.shape[0]
        if not self.local_loss:
            # Full loss: this rank's gradient is all of dL/dx; DDP's mean would divide it by W.
            world = get_world_size()
            x = x + (world - 1) * (x - x.detach())
        return torch.cat([gathered[:start], x, gathered[start + b :]], dim=0)

    def forward(
        self,
        group_embeddings: Tensor,
        valid: Tensor | None = None,
        keys: WindowKeys | None = None,
        queue_keys: Tensor | None = None,
    ) -> dict[str, Tensor]:
        """Loss of one step.

        Args:
            group_embeddings: [G, b, E] this rank's embeddings, one row per group (G >= 2).
            valid: optional bool [G, b]: False where the window lacks the whole group (e.g. no
                SpO2 channel in the record); such windows add no positive pair and no negative
                for the pairs involving that group.
            keys: optional keys of this rank's b windows (sample, recording, start): they mask
                the anchor's overlapping windows (``overlap_s``) and its own queued key out of
                its negatives, and are stored with the queued keys.
            queue_keys: [G, b, E] what this step enqueues (a momentum encoder's keys); None
                enqueues the (detached) online embeddings.

        Returns:
            ``loss`` (scalar, mean over pairs that have a valid window anywhere in the global
            batch), ``loss_g{a}_g{b}`` per pair (detached), ``temperature`` (detached).
        """
        if group_embeddings.dim() != 3:
            raise ValueError(
                f"group_embeddings must be [G, B, E], got {tuple(group_embeddings.shape)}"
            )
        n_groups, b, _ = group_embeddings.shape
        if n_groups < 2:
            raise ValueError(
                f"need >= 2 groups for an inter-group contrastive loss, got {n_groups}"
            )
        tau = self.temperature()
        # One collective for all groups: batch first for the gather.
        local = group_embeddings.transpose(0, 1)  # b x G x E
        global_ = self._gather(local).transpose(0, 1)  # G x N x E
        rows = global_ if not self.local_loss else group_embeddings
        offset = 0 if not self.local_loss else get_rank() * b
        global_keys = None
        if keys is not None:
            global_keys = WindowKeys.unstacked(gather_no_grad(keys.stacked()))
        row_keys = global_keys if not self.local_loss else keys
        global_valid = None if valid is None else gather_no_grad(valid.to(torch.bool).T).T  # G x N
        local_valid = None
        if valid is not None:
            local_valid = global_valid if not self.local_loss else valid.to(torch.bool)

        out: dict[str, Tensor] = {}
        terms = []
        for a, c in itertools.combinations(range(n_groups), 2):
            pair_local = pair_global = None
            if valid is not None:
                pair_global = global_valid[a] & global_valid[c]
                pair_local = local_valid[a] & local_valid[c]
                if not bool(pair_global.any()):
                    continue  # no window has both groups anywhere: the pair does not count
            term = self._pair_loss(
                rows[a],
                rows[c],
                global_[a],
                global_[c],
                offset,
                tau,
                pair_local,
                pair_global,
                (a, c),
                (row_keys, global_keys),
            )
            out[f"loss_g{a}_g{c}"] = term.detach()
            terms.append(term)
        # "+ 0 * sum" keeps every group's encoder in the graph even when its pairs were skipped,
        # so DDP (find_unused_parameters=False) sees the same parameters used on every rank.
        touch_all = group_embeddings.float().sum() * 0.0
        out["loss"] = (torch.stack(terms).mean() if terms else 0.0) + touch_all
        out["temperature"] = tau.detach()
        if self.queue is not None:
            out["queue_filled"] = self.queue.filled.detach().clone()
            if self.training:  # after the loss: this step's windows are no negatives of itself
                enqueued = global_.detach()
                if queue_keys is not None:
                    enqueued = gather_no_grad(queue_keys.detach().transpose(0, 1)).transpose(0, 1)
                self.queue.enqueue_global(enqueued, global_valid, global_keys)
        return out

    def _pair_loss(
        self,
        rows_a: Tensor,
        rows_c: Tensor,
        global_a: Tensor,
        global_c: Tensor,
        offset: int,
        tau: Tensor,
        pair_local: Tensor | None,
        pair_global: Tensor | None,
        groups: tuple[int, int],
        window_keys: tuple[WindowKeys | None, WindowKeys | None],
    ) -> Tensor:
        """Symmetric InfoNCE of groups (a, c), computed the configured way."""
        a, c = groups
        row_keys, global_keys = window_keys
        tile_size = self.config.tile_size if self.config.loss == "tiled" else None
        if self.queue is not None:
            if self.queue.n_groups <= max(a, c):
                raise ValueError(f"the queue has {self.queue.n_groups} groups, the batch more")
            queue_a, queue_c = self.queue.pair_negatives(a, c)  # K_ac x E each, no grad
            exclusion = None
            if row_keys is not None:
                queued = self.queue.pair_negative_keys(a, c).to(rows_a.device)
                exclusion = NegativeExclusion(
                    row_keys, WindowKeys.cat([global_keys, queued]), self.overlap_s, offset
                )
            return queued_local_global_info_nce(
                rows_a,
                rows_c,
                global_a,
                global_c,
                offset,
                tau,
                queue_a,
                queue_c,
                local_valid=pair_local,
                global_valid=pair_global,
                tile_size=tile_size,
                exclusion=exclusion,
            )
        exclusion = None
        if row_keys is not None:
            exclusion = NegativeExclusion(row_keys, global_keys, self.overlap_s, offset)
        loss_fn = local_global_info_nce
        kwargs = {}
        if tile_size is not None:
            loss_fn, kwargs = tiled_local_global_info_nce, {"tile_size": tile_size}
        return loss_fn(
            rows_a,
            rows_c,
            global_a,
            global_c,
            offset,
            tau,
            pair_local,
            pair_global,
            exclusion=exclusion,
            **kwargs,
        )
