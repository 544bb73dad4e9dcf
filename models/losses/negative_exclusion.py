"""Which columns are no negatives of a row: the anchor's own stale key, and its near-duplicates.

Contrastive losses treat every other column as a negative. Two kinds of columns are not:

- the anchor's own sample seen elsewhere, e.g. its key queued in an earlier step (MoCo's queue
  holds the key of every sample of the last ``K`` steps; with ``K`` at least an epoch long an
  anchor meets its own previous key). A column whose ``sample`` equals the row's is excluded;
- windows cut from the same recording that overlap the anchor in time. With 8 s windows at a
  2 s stride, the window 2 s later shares 6 s (75 %) of the anchor's signal: it is a near copy
  of the positive, and pushing it away fights the positive term. A column of the same
  ``source`` whose start lies less than ``overlap_s`` from the row's is excluded
  (``overlap_s`` = the window length excludes every overlapping window; 0 turns it off).

The target column of row ``i`` (column ``row_offset + i`` of the in-batch logits) is never
excluded. Masks are built tile by tile from the keys (a few numbers per window), so the tiled
loss never holds a ``b x N`` mask.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass
class WindowKeys:
    """What identifies a window for exclusion; every field is a tensor of length ``n``.

    Attributes:
        sample: int64 code of the sample id (equal codes = the same sample).
        source: int64 code of the recording the window was cut from.
        start_s: float64 start of the window in seconds from the start of the recording.
    """

    sample: Tensor
    source: Tensor
    start_s: Tensor

    def __len__(self) -> int:
        return int(self.sample.shape[0])

    def select(self, index: Tensor) -> WindowKeys:
        """Rows ``index`` (a bool mask or integer indices)."""
        return WindowKeys(self.sample[index], self.source[index], self.start_s[index])

    def to(self, device: torch.device) -> WindowKeys:
        return WindowKeys(self.sample.to(device), self.source.to(device), self.start_s.to(device))

    @staticmethod
    def cat(parts: list[WindowKeys]) -> WindowKeys:
        return WindowKeys(
            torch.cat([p.sample for p in parts]),
            torch.cat([p.source for p in parts]),
            torch.cat([p.start_s for p in parts]),
        )

    def stacked(self) -> Tensor:
        """[n, 3] float64 (sample, source, start): one tensor for a single all-gather.

        Codes are below 2**53 (see :func:`training.window_codes`), so float64 holds them exactly.
        """
        return torch.stack(
            [self.sample.double(), self.source.double(), self.start_s.double()], dim=1
        )

    @staticmethod
    def unstacked(values: Tensor) -> WindowKeys:
        """Inverse of :meth:`stacked`."""
        return WindowKeys(values[:, 0].long(), values[:, 1].long(), values[:, 2].double())


@dataclass
class NegativeExclusion:
    """Excluded (row, column) pairs of a logit matrix whose rows and columns are windows.

    Args:
        rows: keys of the logit rows (the anchors).
        cols: keys of the logit columns (the candidates: global batch, then queued keys).
        overlap_s: same-source columns starting less than this from the row are excluded
            (0 = only the row's own sample is).
        row_offset: row ``i``'s target is column ``row_offset + i`` (never excluded); None when
            no column is a target (e.g. only queued keys).
    """

    rows: WindowKeys
    cols: WindowKeys
    overlap_s: float = 0.0
    row_offset: int | None = 0

    def tile(self, row_range: tuple[int, int], col_range: tuple[int, int]) -> Tensor:
        """Bool [r1 - r0, c1 - c0]: True where column j is no negative of row i."""
        (r0, r1), (c0, c1) = row_range, col_range
        sample_r, sample_c = self.rows.sample[r0:r1, None], self.cols.sample[None, c0:c1]
        excluded = sample_r == sample_c
        if self.overlap_s > 0:
            same_source = self.rows.source[r0:r1, None] == self.cols.source[None, c0:c1]
            gap = (self.rows.start_s[r0:r1, None] - self.cols.start_s[None, c0:c1]).abs()
            excluded |= same_source & (gap < self.overlap_s)
        if self.row_offset is not None:
            row_index = torch.arange(r0, r1, device=excluded.device)[:, None]
            col_index = torch.arange(c0, c1, device=excluded.device)[None, :]
            excluded &= col_index != row_index + self.row_offset
        return excluded

    def full(self) -> Tensor:
        """Bool [n_rows, n_cols] (for the untiled losses)."""
        return self.tile((0, len(self.rows)), (0, len(self.cols)))

    def select(self, row_index: Tensor | None, col_index: Tensor | None, row_offset: int | None):
        """The exclusion of a sub-matrix (rows/columns kept by the indices, new target offset)."""
        rows = self.rows if row_index is None else self.rows.select(row_index)
        cols = self.cols if col_index is None else self.cols.select(col_index)
        return NegativeExclusion(rows, cols, self.overlap_s, row_offset)
