"""A uniform random sample of a dataset's rows, read on the driver (e.g. to fit the channel
grouping on windows of every training subject, not on the first file's)."""

from __future__ import annotations

import numpy as np
import ray.data

# Rows are kept with probability ``OVERSAMPLE * k / rows`` (Bernoulli, seeded), then exactly
# ``k`` of the kept rows are drawn uniformly: every row of the split has the same chance.
OVERSAMPLE = 1.25


def uniform_row_sample(
    dataset: ray.data.Dataset,
    total_rows: int,
    k: int,
    seed: int,
    columns: tuple[str, ...],
) -> dict[str, np.ndarray]:
    """``k`` rows (all of them when the split is smaller) drawn uniformly without replacement
    from the whole ``dataset``, as numpy columns in the dataset's order."""
    selected = dataset.select_columns(list(columns))
    if total_rows > k:
        fraction = min(1.0, OVERSAMPLE * k / total_rows + 1e-9)
        if fraction < 1.0:
            selected = selected.random_sample(fraction, seed=seed)
    parts = list(selected.iter_batches(batch_size=4096, batch_format="numpy"))
    if not parts:
        raise ValueError("the dataset has no rows to sample")
    rows = {name: np.concatenate([part[name] for part in parts]) for name in columns}
    n = len(rows[columns[0]])
    if n > k:
        keep = np.sort(np.random.default_rng(seed).choice(n, size=k, replace=False))
        rows = {name: values[keep] for name, values in rows.items()}
    return rows
