"""Array helpers of the mixture engine: per-row smallest values, rows grouped as CSR, and allocation.

Plain functions over NumPy arrays that :class:`analysis.mixture.engine.MixtureEngine` builds its
precomputation and its per-mixture sums on. All are exact; tests/test_mixture.py checks
:func:`allocate` directly and the others through the engine's equality with the from-scratch
metrics (:mod:`analysis.mixture.reference`).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "smallest_per_row",
    "csr_by_row",
    "csr_entries",
    "below_per_row",
    "ranges",
    "allocate",
    "train_ball_members",
    "kept_first",
]


def smallest_per_row(d2: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row, the ``count`` smallest values and their columns, sorted ascending (exact; ties in any order).

    ``torch.topk`` on the block, in place of NumPy's partition: about twice as fast on 2 cores (1.6 s against
    3.1 s for the 384 nearest of 12,600 candidates, every block of the demo's engine), the same values.
    """
    import torch

    values, columns = torch.topk(torch.from_numpy(d2), count, dim=1, largest=False, sorted=True)
    return columns.numpy(), values.numpy()


def csr_by_row(
    rows: np.ndarray, cols: np.ndarray, n_rows: int, data: np.ndarray | None = None, *, by_data: bool = False
):
    """(indptr, cols, data) of pairs grouped by row, columns ascending within a row (``by_data``: data
    ascending within a row, then columns), so a row's entries below a value are a prefix."""
    order = np.lexsort((cols, data, rows)) if by_data and data is not None else np.lexsort((cols, rows))
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows))])
    return indptr, cols[order], (data[order] if data is not None else None)


def csr_entries(indptr: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Positions into a CSR value array of all entries of ``rows``, and the row of each (as an index into ``rows``)."""
    starts, stops = indptr[rows], indptr[rows + 1]
    return ranges(starts, stops), np.repeat(np.arange(len(rows)), stops - starts)


def below_per_row(indptr: np.ndarray, values: np.ndarray, rows: np.ndarray, limits: np.ndarray) -> np.ndarray:
    """Per row of ``rows``, the position in ``values`` past its entries below ``limits`` (values ascending
    within each row of the CSR ``indptr``): a vectorised binary search, one step for all rows at once."""
    lo, hi = indptr[rows].copy(), indptr[rows + 1].copy()
    active = np.flatnonzero(lo < hi)
    while len(active):
        low, high = lo[active], hi[active]
        mid = (low + high) // 2
        less = values[mid] < limits[active]
        low = np.where(less, mid + 1, low)
        high = np.where(less, high, mid)
        lo[active], hi[active] = low, high
        active = active[low < high]
    return lo


def ranges(starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """All positions ``starts[i] <= p < stops[i]``, range after range."""
    lengths = stops - starts
    return np.repeat(starts - (np.cumsum(lengths) - lengths), lengths) + np.arange(int(lengths.sum()))


def allocate(total: int, weights: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """Split ``total`` by ``weights`` with largest-remainder rounding, capped at ``capacity``.

    A set whose share exceeds what it holds gets all it holds and the rest is split over the others
    by weight (water-filling), then the free sets' quotas are rounded by largest remainder (the
    Hamilton method); ties go to the earlier set. The caller checks that the weighted sets can
    hold ``total``.
    """
    weights = np.asarray(weights, dtype=float)
    capacity = np.asarray(capacity, dtype=np.int64)
    active = (weights > 0) & (capacity > 0)
    full = np.zeros(len(weights), dtype=bool)
    while True:
        free = active & ~full
        remaining = int(total) - int(capacity[full].sum())
        if not free.any() or remaining <= 0:
            quota = np.zeros(len(weights))
            break
        quota = np.where(free, remaining * weights / weights[free].sum(), 0.0)
        over = free & (quota >= capacity)
        if not over.any():
            break
        full |= over
    counts = np.where(full, capacity, np.floor(quota).astype(np.int64))
    left = int(total) - int(counts.sum())
    remainder = np.where(active & ~full, quota - np.floor(quota), -1.0)
    for index in np.argsort(-remainder, kind="stable")[: max(left, 0)]:
        counts[index] += 1
    return counts.astype(np.int64)


def train_ball_members(nbr: np.ndarray, nbr_d2: np.ndarray, train_r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Which real train k-NN balls hold each real train candidate, as CSR ``(indptr, ball)`` over all candidates.

    ``nbr``, ``nbr_d2``: each candidate's nearest candidates and squared distances (train candidates first,
    ``len(train_r2)`` of them); ``train_r2``: each train candidate's squared k-NN radius among the train rows.
    A train row is in its own ball and in the ball of each train row on its neighbour list that it is nearer
    than that row's radius; a ball reaching past the list is missed, which only an ordering (never a metric)
    sees. Synthetic candidates get no entries here (the engine holds theirs).
    """
    train_n = len(train_r2)
    near, near_d2 = nbr[:train_n], nbr_d2[:train_n]
    inside = (near < train_n) & (near_d2 < train_r2[np.minimum(near, train_n - 1)])
    row, position = np.nonzero(inside)
    own = np.arange(train_n)
    rows = np.concatenate([own, row])
    balls = np.concatenate([own, near[row, position]]).astype(np.int64)
    return csr_by_row(rows, balls, len(nbr))[:2]


def kept_first(real_order: np.ndarray, first: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The real draw order with the kept rows ``first`` moved to its front, and where they sat before (sorted).

    A prefix of the new order of length ``P + n - o`` (``P`` kept rows, ``o`` of them among the first ``n`` of
    the old order) is exactly the old prefix of length ``n`` plus the kept rows: protection adds rows to the
    real draw and never swaps one out.
    """
    is_first = np.zeros(int(max(real_order.max(initial=-1), first.max(initial=-1))) + 1, dtype=bool)
    is_first[first] = True
    ranks = np.flatnonzero(is_first[real_order])
    return np.concatenate([first, real_order[~is_first[real_order]]]), ranks
