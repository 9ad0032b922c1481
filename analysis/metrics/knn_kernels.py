"""The numba kernels behind :mod:`analysis.metrics.knn`: centring and rounding, the per-row norms, the exact
float64 distance, and the block scans that keep each row's k-NN candidates or count ball memberships.

Row i of a block against column j, from the widened GEMM value v (see :mod:`analysis.metrics.knn`'s docstring):
  d2 ≈ sq_a[i] + sq_b[j] - 2 v,   known to within  e = row_e[i] + u2 |v|,
so low = d2 - e and high = d2 + e bound the exact value. Rows are scanned in chunks of
``_WIDTH`` columns; a chunk where no low is below its threshold is skipped whole (a vectorised
count, the common case), the others are looked at pair by pair.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_TINY = 1.2e-38  # below float32's smallest normal number: set to 0 (bfloat16 dot products flush them)
#: Columns per chunk of a row scan: a chunk with no lower bound below its threshold is skipped whole.
_WIDTH = 128


@nb.njit(parallel=True, cache=True)
def _centre_round(x, centre):
    """``x - centre`` in float64 and in float32 (values below float32's normal range set to 0),
    and the largest magnitude (NaN if any value is NaN)."""
    centred = np.empty_like(x)
    rounded = np.empty(x.shape, dtype=np.float32)
    largest = np.zeros(len(x))
    for i in nb.prange(len(x)):
        top = 0.0
        for c in range(x.shape[1]):
            value = x[i, c] - centre[c]
            centred[i, c] = value
            rounded[i, c] = np.float32(value) if abs(value) >= _TINY else np.float32(0.0)
            size = abs(x[i, c])
            top = size if (size > top or size != size) else top
        largest[i] = top
    return centred, rounded, largest.max() if not np.isnan(largest).any() else np.nan


@nb.njit(parallel=True, cache=True)
def _norms(x, rounded):
    """Per row: |x|^2, |x'| and |x - x'| (x' the rounded row), in one pass."""
    sq = np.empty(len(x))
    low = np.empty(len(x))
    residual = np.empty(len(x))
    for i in nb.prange(len(x)):
        s = t = r = 0.0
        for c in range(x.shape[1]):
            a, b = x[i, c], np.float64(rounded[i, c])
            s += a * a
            t += b * b
            r += (a - b) * (a - b)
        sq[i], low[i], residual[i] = s, np.sqrt(t), np.sqrt(r)
    return sq, low, residual


@nb.njit(cache=True)
def _exact_sq(a: np.ndarray, b: np.ndarray) -> float:
    """``Σ (a_t - b_t)²`` in float64, summed in 4 interleaved partial sums: a fixed order, so the
    same pair gives the same bits everywhere, and one that LLVM can vectorise."""
    d = a.shape[0]
    s0 = s1 = s2 = s3 = 0.0
    whole = d - d % 4
    for t in range(0, whole, 4):
        e0, e1, e2, e3 = a[t] - b[t], a[t + 1] - b[t + 1], a[t + 2] - b[t + 2], a[t + 3] - b[t + 3]
        s0 += e0 * e0
        s1 += e1 * e1
        s2 += e2 * e2
        s3 += e3 * e3
    for t in range(whole, d):
        e0 = a[t] - b[t]
        s0 += e0 * e0
    return (s0 + s1) + (s2 + s3)


@nb.njit(cache=True)
def _row_lows(g_row, shift, u2, base, sq_b, bits, low):
    """``low[t] = base + sq_b[t] - 2 v - u2 |v|`` for one row segment (``base = sq_a[i] -
    row_e[i]``): each pair's lower bound. Returns v (float32). Two plain loops: both vectorise."""
    for t in range(g_row.shape[0]):
        bits[t] = np.uint32(g_row[t]) << shift
    v = bits.view(np.float32)
    for t in range(g_row.shape[0]):
        vt = np.float64(v[t])
        low[t] = base + sq_b[t] - 2.0 * vt - u2 * abs(vt)
    return v


# The two counts below take views and loop from 0: an index like `first + t` makes numba handle
# negative indices, and that stops LLVM from vectorising the loop (5x slower).
@nb.njit(cache=True)
def _below(low, threshold):
    """How many of ``low`` are below a scalar threshold (a count vectorises; a min does not)."""
    count = 0
    for t in range(low.shape[0]):
        if low[t] < threshold:
            count += 1
    return count


@nb.njit(cache=True)
def _below_each(low, thresholds):
    """How many ``low[t]`` are below ``thresholds[t]``."""
    count = 0
    for t in range(low.shape[0]):
        if low[t] < thresholds[t]:
            count += 1
    return count


@nb.njit(cache=True, inline="always")
def _insert(lows, index, low, j):
    """Insert ``low`` (column j) into the sorted ``lows``, dropping the largest; return the new largest."""
    p = len(lows) - 1
    while p > 0 and lows[p - 1] > low:
        lows[p] = lows[p - 1]
        index[p] = index[p - 1]
        p -= 1
    lows[p] = low
    index[p] = j
    return lows[len(lows) - 1]


@nb.njit(parallel=True, cache=True)
def _scan_rows(g, row0, col0, shift, u2, row_e, sq, sq_b, lows, index, worst, chunks):
    """Offer every pair (row0 + r, col0 + t) of the block to the row's candidate list."""
    rows, cols = g.shape
    size = -(-rows // chunks)
    for c in nb.prange(chunks):
        bits = np.empty(cols, dtype=np.uint32)
        low = np.empty(cols)
        for r in range(c * size, min(rows, (c + 1) * size)):
            i = row0 + r
            _row_lows(g[r], shift, u2, sq[i] - row_e[i], sq_b[col0:], bits, low)
            w = worst[i]
            for t0 in range(0, cols, _WIDTH):
                t1 = min(cols, t0 + _WIDTH)
                if _below(low[t0:t1], w):
                    for t in range(t0, t1):
                        if low[t] < w:
                            w = _insert(lows[i], index[i], low[t], col0 + t)
            worst[i] = w


@nb.njit(parallel=True, cache=True)
def _scan_columns(g, row0, col0, skip, shift, u2, row_e, sq, sq_b, lows, index, worst, chunks):
    """Offer every pair of the block's columns ``skip:`` to the column's candidate list (the
    transposed pair (col0 + t, row0 + r)); threads split the columns, so no list is shared."""
    rows, cols = g.shape
    size = -(-(cols - skip) // chunks)
    for c in nb.prange(chunks):
        lo, hi = skip + c * size, min(cols, skip + (c + 1) * size)
        if lo >= hi:
            continue
        a = col0 + lo
        bits = np.empty(hi - lo, dtype=np.uint32)
        low = np.empty(hi - lo)
        for r in range(rows):
            i = row0 + r
            _row_lows(g[r, lo:hi], shift, u2, sq[i] - row_e[i], sq_b[a : col0 + hi], bits, low)
            for t0 in range(0, hi - lo, _WIDTH):
                t1 = min(hi - lo, t0 + _WIDTH)
                if _below_each(low[t0:t1], worst[a + t0 : a + t1]):
                    for t in range(t0, t1):
                        if low[t] < worst[a + t]:
                            worst[a + t] = _insert(lows[a + t], index[a + t], low[t], i)


def _finish_kth(x, lows, index, worst, kth):
    """Per row: the exact kth smallest among its candidates, and whether that is provably the row's."""
    return _finish_kth_rows(x, x, lows, index, worst, kth)


@nb.njit(parallel=True, cache=True)
def _finish_kth_rows(x, x_b, lows, index, worst, kth):
    """Per row of x: the exact kth smallest among its candidates (rows of x_b), and whether that
    is provably the row's.

    Candidates come sorted by lower bound, so once a candidate's lower bound reaches the kth
    smallest exact value so far, neither it nor any later one can go below it: stop there."""
    n, keep = index.shape
    out = np.empty(n)
    certain = np.empty(n, dtype=np.bool_)
    for i in nb.prange(n):
        top = np.full(kth + 1, np.inf)  # the kth + 1 smallest exact values so far, sorted
        for q in range(keep):
            if lows[i, q] >= top[kth]:
                break
            value = _exact_sq(x[i], x_b[index[i, q]])
            p = kth
            if value < top[p]:
                while p > 0 and top[p - 1] > value:
                    top[p] = top[p - 1]
                    p -= 1
                top[p] = value
        out[i] = top[kth]
        # Every column left out has a lower bound >= worst; if that exceeds the kth value found,
        # none of them can be among the kth + 1 smallest.
        certain[i] = keep == len(x_b) or worst[i] > top[kth]
    return out, certain


@nb.njit(parallel=True, cache=True)
def _brute_kth(x_a, rows, x_b, kth):
    out = np.empty(len(rows))
    for r in nb.prange(len(rows)):
        d2 = np.empty(len(x_b))
        for j in range(len(x_b)):
            d2[j] = _exact_sq(x_a[rows[r]], x_b[j])
        out[r] = np.partition(d2, kth)[kth]
    return out


@nb.njit(parallel=True, cache=True)
def _cross(g, row0, shift, u2, row_e, sq_a, sq_b, x_a, x_b, r2_a, r2_b, held, holding, reached, chunks):
    """Rows row0 + r of a against every column of b: count, mark and reach (see ball_counts)."""
    rows, cols = g.shape
    size = -(-rows // chunks)
    for c in nb.prange(chunks):
        bits = np.empty(cols, dtype=np.uint32)
        low = np.empty(cols)
        for r in range(c * size, min(rows, (c + 1) * size)):
            i = row0 + r
            v = _row_lows(g[r], shift, u2, sq_a[i] - row_e[i], sq_b, bits, low)
            radius = r2_a[i]
            count = 0
            hit = False
            for t0 in range(0, cols, _WIDTH):
                t1 = min(cols, t0 + _WIDTH)
                if _below(low[t0:t1], radius):
                    for j in range(t0, t1):
                        if low[j] < radius:
                            high = low[j] + 2.0 * (row_e[i] + u2 * abs(np.float64(v[j])))
                            if high < radius or _exact_sq(x_a[i], x_b[j]) < radius:
                                count += 1
                                holding[j] = 1  # every writer writes 1: a benign race
                if not hit and _below_each(low[t0:t1], r2_b[t0:t1]):
                    for j in range(t0, t1):
                        if not hit and low[j] < r2_b[j]:
                            high = low[j] + 2.0 * (row_e[i] + u2 * abs(np.float64(v[j])))
                            hit = high < r2_b[j] or _exact_sq(x_a[i], x_b[j]) < r2_b[j]
            held[i] = count
            reached[i] = hit
