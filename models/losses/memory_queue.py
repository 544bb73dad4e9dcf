"""A MoCo-style memory queue of past embeddings, one ring per channel group (cross-modal).

MoCo (He, Fan, Wu, Xie, Girshick, "Momentum Contrast for Unsupervised Visual Representation
Learning", CVPR 2020, Sec. 3.2 and Algorithm 1) decouples the number of negatives from the batch
size: the keys of the last ``K`` samples wait in a FIFO queue and serve as extra negatives; each
step enqueues the current batch's keys (gathered from every GPU) and drops the oldest.

Here every channel group (modality) has its own ring, all rings share one pointer, so slot ``j``
of every ring holds the same past window seen by each group. For the pair of groups ``(a, b)``
the query rows of group ``a`` meet group ``b``'s queue as extra negatives, and the rows of
group ``b`` meet group ``a``'s (see :mod:`models.losses.queued_info_nce`).

Hyper-parameters (MoCo's defaults):
    size = 65536: ``K``, the number of queued embeddings per group (MoCo v1/v2, ImageNet).
        Must be far larger than the global batch to matter, and a multiple of it is not needed
        (a batch that straddles the end of the ring wraps around).
    The queue stores L2-normalised embeddings (MoCo queues normalised keys), detached.

What is enqueued is the caller's choice: ``MultiGroupContrastiveLoss`` enqueues the keys of a
momentum (EMA) copy of each group encoder (:mod:`models.losses.momentum_encoder`, MoCo's
m = 0.999), which keeps the keys of the last ``K / N`` steps consistent with each other; the
online encoder's own embeddings would make it a memory bank (Wu et al. 2018). Each slot also keeps
its window's keys (sample, source, start; :mod:`models.losses.negative_exclusion`) so that an
anchor never meets its own queued key, nor an overlapping window of its recording, as a negative.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from crossmodal_ray.models.losses.distributed import gather_no_grad
from crossmodal_ray.models.losses.negative_exclusion import WindowKeys


class CrossModalMemoryQueue(nn.Module):
    """FIFO rings of the last ``size`` embeddings of every group, shared pointer.

    Buffers (persistent, so a checkpoint resumes with a full queue):
        queue: [G, K, E] normalised embeddings (one [K, E] ring per group).
        queue_valid: bool [G, K]: the window had the group (False slots are never negatives).
        ptr: 0-d long, the next slot to write.
        filled: 0-d long, how many slots hold an embedding (``<= K``).
        key_sample, key_source: int64 [K] the slot's window codes (-1 = unknown).
        key_start_s: float64 [K] the slot's window start (s).

    Args:
        n_groups: G, number of channel groups (modalities).
        embed_dim: E, embedding width.
        size: K, ring length per group (MoCo default 65536).
    """

    def __init__(self, n_groups: int, embed_dim: int, size: int = 65536) -> None:
        super().__init__()
        if n_groups < 1 or embed_dim < 1 or size < 1:
            raise ValueError(
                f"n_groups, embed_dim and size must be >= 1, got {n_groups}, {embed_dim}, {size}"
            )
        self.size = size
        self.register_buffer("queue", torch.zeros(n_groups, size, embed_dim))
        self.register_buffer("queue_valid", torch.zeros(n_groups, size, dtype=torch.bool))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("filled", torch.zeros((), dtype=torch.long))
        self.register_buffer("key_sample", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("key_source", torch.full((size,), -1, dtype=torch.long))
        self.register_buffer("key_start_s", torch.zeros(size, dtype=torch.float64))

    @property
    def n_groups(self) -> int:
        """G."""
        return self.queue.shape[0]

    @torch.no_grad()
    def dequeue_and_enqueue(self, embeddings: Tensor, valid: Tensor | None = None) -> None:
        """Gather this step's embeddings of all workers (rank order), then enqueue them.

        Every rank must call it with the same local batch size (the training loop's
        ``drop_last=True``); afterwards every rank holds the same queue.

        Args:
            embeddings: [G, b, E] this rank's embeddings.
            valid: optional bool [G, b]: False where the window lacks the group.
        """
        local = embeddings.detach().transpose(0, 1)  # b x G x E: batch first for the gather
        global_ = gather_no_grad(local).transpose(0, 1)  # G x N x E, rank order
        global_valid = None if valid is None else gather_no_grad(valid.to(torch.bool).T).T
        self.enqueue_global(global_, global_valid)

    @torch.no_grad()
    def enqueue_global(
        self,
        global_embeddings: Tensor,
        global_valid: Tensor | None = None,
        global_keys: WindowKeys | None = None,
    ) -> None:
        """Write an already gathered global batch at the pointer, wrapping around the end.

        Args:
            global_embeddings: [G, N, E] the global batch in rank order (detached here).
            global_valid: optional bool [G, N].
            global_keys: optional keys of the N windows (stored with their slots).
        """
        g, n, e = global_embeddings.shape
        if g != self.n_groups or e != self.queue.shape[2]:
            raise ValueError(
                f"embeddings [G, N, E] = {(g, n, e)} do not fit the queue {tuple(self.queue.shape)}"
            )
        keys = F.normalize(global_embeddings.detach().to(self.queue.dtype), dim=-1)
        flags = (
            torch.ones(g, n, dtype=torch.bool, device=keys.device)
            if global_valid is None
            else global_valid.to(torch.bool)
        )
        if global_keys is None:
            ids = torch.full((3, n), -1.0, dtype=torch.float64, device=keys.device)
        else:
            ids = global_keys.stacked().T.to(keys.device)  # 3 x N: sample, source, start
        ptr = int(self.ptr)
        if n > self.size:  # only the newest K survive, in the slots a full write would give them
            ptr = (ptr + n - self.size) % self.size
            keys, flags, n = keys[:, -self.size :], flags[:, -self.size :], self.size
            ids = ids[:, -self.size :]
        first = min(n, self.size - ptr)  # slots before the end of the ring
        rest = n - first  # the part of a straddling batch that wraps to the start
        for slots, part in (
            (slice(ptr, ptr + first), slice(0, first)),
            (slice(0, rest), slice(first, n)),
        ):
            self.queue[:, slots] = keys[:, part]
            self.queue_valid[:, slots] = flags[:, part]
            self.key_sample[slots] = ids[0, part].long()
            self.key_source[slots] = ids[1, part].long()
            self.key_start_s[slots] = ids[2, part]
        self.ptr.fill_((ptr + n) % self.size)
        self.filled.fill_(min(self.size, int(self.filled) + n))

    def negatives(self, group: int | None = None) -> Tensor:
        """Filled slots only (in slot order, not age order): [K_filled, E] or [G, K_filled, E].

        A view of the buffer: pass it through a new tensor (the losses normalise and
        concatenate) before the next :meth:`dequeue_and_enqueue` overwrites it in place.
        """
        filled = int(self.filled)
        if group is None:
            return self.queue[:, :filled]
        return self.queue[group, :filled]

    def negatives_valid(self, group: int | None = None) -> Tensor:
        """Bool [K_filled] or [G, K_filled]: the filled slots whose window had the group."""
        filled = int(self.filled)
        if group is None:
            return self.queue_valid[:, :filled]
        return self.queue_valid[group, :filled]

    def pair_negatives(self, a: int, b: int, use_valid: bool = True) -> tuple[Tensor, Tensor]:
        """Queued negatives of the pair ``(a, b)``: ``(queue_a, queue_b)``, each [K_ab, E].

        With ``use_valid`` only windows that had both groups are kept (the in-batch loss masks
        its negative columns the same way), so both directions see the same queued windows.
        """
        qa, qb = self.negatives(a), self.negatives(b)
        if not use_valid:
            return qa, qb
        keep = self.negatives_valid(a) & self.negatives_valid(b)  # K_filled
        if bool(keep.all()):
            return qa, qb
        return qa[keep], qb[keep]

    def pair_negative_keys(self, a: int, b: int, use_valid: bool = True) -> WindowKeys:
        """Keys of the slots :meth:`pair_negatives` returns, in the same order."""
        filled = int(self.filled)
        keys = WindowKeys(
            self.key_sample[:filled], self.key_source[:filled], self.key_start_s[:filled]
        )
        if not use_valid:
            return keys
        keep = self.negatives_valid(a) & self.negatives_valid(b)
        return keys if bool(keep.all()) else keys.select(keep)

    def extra_repr(self) -> str:
        g, k, e = self.queue.shape
        return f"n_groups={g}, size={k}, embed_dim={e}"
