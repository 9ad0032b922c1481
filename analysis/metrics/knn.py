"""Exact k-NN radii and ball membership in embedding space, at low-precision GEMM speed.

Every distance question PRDC and tail coverage ask is a comparison: is ``|a - b|^2`` below a
threshold (a ball's squared radius), or which values are the k smallest of a row. So the
distances need not be exact, only provably on the right side:

1. Both sets are centred on the first set's mean (distances do not change) and rounded to
   bfloat16 (float32 on CPUs without bfloat16 dot products); one GEMM per row block gives every
   dot product ``g`` at several times float64 speed.
2. Each pair's error is bounded: with ``a = a' + r_a`` (``a'`` the rounded row, ``r_a`` the
   rounding residual, kept in float64), ``a·b - a'·b' = a'·r_b + r_a·b``, so by Cauchy-Schwarz
   ``|a·b - g| <= |a'||r_b| + |r_a||b| + γ_d |a'||b'| + u |g|`` where ``γ_d = 2 d 2^-24`` bounds
   float32 accumulation over d terms (Higham, *Accuracy and Stability of Numerical Algorithms*,
   §3.1, with a factor 2 to spare) and ``u = 2^-8`` bounds rounding the result to bfloat16 (0 for
   float32 output). ``d² = |a|² + |b|² - 2g`` is then known to within ``2 × that + 1e-12 (|a|² +
   |b|²)``, the last term covering float64 rounding of the exact recomputation. The kernels
   take the column set's largest norms, so the bound is a per-row constant plus ``2u|g|``.
3. A pair whose bound lies wholly on one side of its threshold is decided; the few that
   straddle it are recomputed exactly, ``Σ (a_t - b_t)²`` in float64. For k-NN radii each row
   keeps its ``k + 1 + SLACK`` smallest lower bounds, recomputes them exactly (in order, until a
   lower bound passes the k-th exact value so far), and checks that every other column's lower
   bound exceeds the k-th value found; rows that fail the check (many near-ties) are recomputed
   in full.

Results therefore equal a float64 brute force: the same radii, the same decisions. Only speed
depends on the data. Memory stays one row block of the Gram matrix (``BLOCK_BYTES``). The numba kernels
that scan the blocks live in :mod:`analysis.metrics.knn_kernels`.

Engines. Each query row's answer depends only on that row and the whole reference set, so the work
splits into blocks of query rows (:func:`kth_neighbour_sq_rows`, :func:`ball_counts_rows`) whose
results concatenate (and, for ``holding``, OR) to exactly the whole. ``with knn.using(engine):``
hands :func:`kth_neighbour_sq` and :func:`ball_counts` to an engine that runs those blocks
elsewhere (:class:`analysis.vectors.distributed.RayEngine`: Ray tasks, the reference set in Ray's object
store) for everything called inside the block, compare and the map's placement included; without
one they run here, as before.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numba as nb
import numpy as np

from analysis.metrics.knn_kernels import (
    _brute_kth,
    _centre_round,
    _cross,
    _finish_kth,
    _finish_kth_rows,
    _norms,
    _scan_columns,
    _scan_rows,
)
from analysis.metrics.knn_kernels import _exact_sq as _exact_sq  # re-exported: tests/test_knn.py checks with it

__all__ = [
    "BLOCK_BYTES",
    "SLACK",
    "KnnEngine",
    "Prepared",
    "ball_counts",
    "ball_counts_rows",
    "cpu_flags",
    "current_engine",
    "kth_neighbour_sq",
    "kth_neighbour_sq_rows",
    "prepare",
    "using",
]

#: Bytes of Gram matrix held at once.
BLOCK_BYTES = 64 * 1024 * 1024
#: Candidates kept per row beyond the k + 1 needed, so near-ties rarely force a full row.
SLACK = 24
#: Largest magnitude accepted: far below float32's overflow, so the GEMM cannot overflow.
_LIMIT = 1e15


@cache
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (``/proc/cpuinfo``'s first ``flags`` line: ``avx2``,
    ``avx512_vnni``, ``avx_vnni``, ``avx512_bf16``, ``amx_bf16``, ``amx_int8``, ...); empty where it cannot be
    read. The one reader of the CPU's features: the GEMM kind here and the embedding backend's choice
    (:func:`analysis.vectors.embed.backend_choice`) both ask it, and tests fake it by monkeypatching this function."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.partition(":")[2].split())
    except OSError:
        pass
    return frozenset()


@cache
def gemm_kind() -> str:
    """``"bfloat16"`` where the CPU has bfloat16 dot products (AVX512-BF16 or AMX), else ``"float32"``.

    ``COLLAPSE_LAB_GEMM=float32`` forces float32 (tests run both).
    """
    forced = os.environ.get("COLLAPSE_LAB_GEMM")
    if forced in ("float32", "bfloat16"):
        return forced
    flags = cpu_flags()
    return "bfloat16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "float32"


@dataclass
class Prepared:
    """One set, centred, with its low-precision copy and the per-row terms of the error bound."""

    x: np.ndarray  # float64, centred, C-contiguous
    low: Any  # torch bfloat16 tensor or float32 ndarray of the rounded rows (torch is imported only for bfloat16)
    kind: str
    sq: np.ndarray  # |x|^2
    norm: np.ndarray  # |x|
    low_norm: np.ndarray  # |x'|
    residual_norm: np.ndarray  # |x - x'|


def prepare(x: np.ndarray, centre: np.ndarray | None = None, kind: str | None = None) -> Prepared:
    """Centre ``x`` (on its mean by default) and round it for the GEMM (see the module docstring).

    Prepare two sets on the same centre to compare them; distances do not depend on it.
    """
    kind = kind or gemm_kind()
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("features must be a non-empty (n, d) array")
    x, x32, largest = _centre_round(x, x.mean(axis=0) if centre is None else np.asarray(centre, dtype=np.float64))
    if not largest <= _LIMIT:  # NaN fails this too
        raise ValueError("features must be finite numbers below 1e15 in magnitude")
    if kind == "bfloat16":
        import torch

        low = torch.from_numpy(x32).to(torch.bfloat16)
        rounded = low.to(torch.float32).numpy()
    else:
        low = rounded = x32
    sq, low_norm, residual_norm = _norms(x, rounded)
    # Norms are rounded up by a relative 1e-12 so float64 rounding cannot make the bound too tight.
    up = 1 + 1e-12
    return Prepared(
        x=x, low=low, kind=kind, sq=sq, norm=np.sqrt(sq) * up, low_norm=low_norm * up, residual_norm=residual_norm * up
    )


def _prepared(x, kind) -> Prepared:
    return x if isinstance(x, Prepared) else prepare(x, kind=kind)


def _rows(p: Prepared, start: int, stop: int) -> Prepared:
    """Rows ``start:stop`` of a prepared set (views, no copy)."""
    return Prepared(
        x=p.x[start:stop],
        low=p.low[start:stop],
        kind=p.kind,
        sq=p.sq[start:stop],
        norm=p.norm[start:stop],
        low_norm=p.low_norm[start:stop],
        residual_norm=p.residual_norm[start:stop],
    )


class KnnEngine(Protocol):
    """Where :func:`kth_neighbour_sq` and :func:`ball_counts` run once their inputs are prepared.

    An engine must return exactly what the local functions return; it gets there by running
    :func:`kth_neighbour_sq_rows` and :func:`ball_counts_rows` over blocks of query rows.
    """

    def kth_neighbour_sq(self, x: Prepared, kth: int) -> np.ndarray: ...

    def ball_counts(
        self, a: Prepared, a_r2: np.ndarray, b: Prepared, b_r2: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]: ...


_ENGINE: ContextVar[KnnEngine | None] = ContextVar("collapse_lab_knn_engine", default=None)


@contextmanager
def using(engine: KnnEngine | None) -> Iterator[KnnEngine | None]:
    """Run this context's k-NN work (radii, ball counts) on ``engine``; ``None`` runs it here."""
    token = _ENGINE.set(engine)
    try:
        yield engine
    finally:
        _ENGINE.reset(token)


def current_engine() -> KnnEngine | None:
    """The engine set by the innermost :func:`using`, or ``None`` (run here)."""
    return _ENGINE.get()


def _blocks(a: Prepared, b: Prepared, *, upper: bool = False):
    """Yield ``(start, stop, first, g)``: the Gram block of rows ``start:stop`` of a against the
    columns ``first:`` of b (``first`` is 0, or ``start`` with ``upper``, for a = b: the block's
    part on and above the diagonal, half the work).

    ``g`` is an unsigned-integer view of the block (uint16 bfloat16 bits, or uint32 float32
    bits); the kernels widen it with ``bits << shift`` into float32.
    """
    n, m = len(a.x), len(b.x)
    itemsize = 2 if a.kind == "bfloat16" else 4
    step = max(1, min(n, BLOCK_BYTES // (m * itemsize)))
    buffer: Any  # a torch bfloat16 tensor or a float32 ndarray, as Prepared.low
    if a.kind == "bfloat16":
        import torch

        buffer = torch.empty(step * m, dtype=torch.bfloat16)
    else:
        buffer = np.empty(step * m, dtype=np.float32)
    for start in range(0, n, step):
        stop = min(n, start + step)
        first = start if upper else 0
        block = buffer[: (stop - start) * (m - first)].reshape(stop - start, m - first)
        if a.kind == "bfloat16":
            import torch

            torch.mm(a.low[start:stop], b.low[first:].T, out=block)
            yield start, stop, first, block.view(torch.int16).numpy().view(np.uint16)
        else:
            np.matmul(a.low[start:stop], b.low[first:].T, out=block)
            yield start, stop, first, block.view(np.uint32)


def _chunks(rows: int) -> int:
    """Row chunks per kernel call: a few per thread, so threads finish together."""
    return max(1, min(rows, 4 * nb.get_num_threads()))


def _terms(a: Prepared, b: Prepared) -> tuple[np.uint32, float, np.ndarray, np.ndarray, np.ndarray]:
    """What the kernels need to bound rows of a against columns of b (module docstring, step 2).

    The pair bound ``2 (|a'||r_b| + |r_a||b| + γ |a'||b'| + u |g|) + 1e-12 (|a|² + |b|²)`` is
    taken at b's largest norms, so it splits into a per-row constant ``row_e[i]`` plus
    ``2 u |g|``: looser by the spread of b's norms, and two operations per pair.
    """
    shift = np.uint32(16 if a.kind == "bfloat16" else 0)
    u = 2.0**-8 if a.kind == "bfloat16" else 0.0
    gamma = 2.0 * a.x.shape[1] * 2.0**-24
    row_e = (
        2.0
        * (a.low_norm * b.residual_norm.max() + a.residual_norm * b.norm.max() + gamma * a.low_norm * b.low_norm.max())
        + 1e-12 * (a.sq + b.sq.max())
        + 1e-30
    )
    return shift, 2.0 * u, row_e * (1 + 1e-12), a.sq, b.sq


def kth_neighbour_sq(x: np.ndarray | Prepared, kth: int, *, kind: str | None = None) -> np.ndarray:
    """Exact ``np.partition(D2, kth, axis=1)[:, kth]`` of the squared distances D2 within ``x``.

    ``kth = k`` gives the k-th nearest other row's squared distance (the row's own 0 counts as
    the smallest), as Naeem et al.'s radii. Exact: equal to the float64 brute force
    ``Σ (x_i - x_j)²``.
    """
    p = _prepared(x, kind)
    n = len(p.x)
    if not 0 <= kth < n:
        raise ValueError(f"kth must be between 0 and n - 1 = {n - 1}, got {kth}")
    engine = _ENGINE.get()
    if engine is not None:
        return engine.kth_neighbour_sq(p, kth)
    keep = min(n, kth + 1 + SLACK)
    # Each row keeps its `keep` smallest lower bounds (sorted) and their columns; worst = the last.
    lows = np.full((n, keep), np.inf)
    index = np.zeros((n, keep), dtype=np.int64)
    worst = np.full(n, np.inf)
    terms = _terms(p, p)
    for start, stop, first, g in _blocks(p, p, upper=True):
        # Rows start:stop against columns start:, then columns stop: against rows start:stop
        # (the transposed pairs, which the lower half would have given).
        _scan_rows(g, start, first, *terms, lows, index, worst, _chunks(stop - start))
        if stop < n:
            _scan_columns(g, start, first, stop - start, *terms, lows, index, worst, _chunks(n - stop))
    out, certain = _finish_kth(p.x, lows, index, worst, kth)
    if not certain.all():
        rows = np.flatnonzero(~certain)
        out[rows] = _brute_kth(p.x, rows, p.x, kth)
    return out


def kth_neighbour_sq_rows(x: Prepared, kth: int, start: int, stop: int) -> np.ndarray:
    """``kth_neighbour_sq(x, kth)[start:stop]``, computed for those rows alone: one engine task.

    The rows are scanned against every row of ``x`` (no triangle trick, so about twice the GEMM
    work per row of the whole-set call); the result is the same exact value per row.
    """
    n = len(x.x)
    if not 0 <= kth < n:
        raise ValueError(f"kth must be between 0 and n - 1 = {n - 1}, got {kth}")
    if not 0 <= start <= stop <= n:
        raise ValueError(f"rows {start}:{stop} are not within the set's {n} rows")
    a = _rows(x, start, stop)
    keep = min(n, kth + 1 + SLACK)
    lows = np.full((stop - start, keep), np.inf)
    index = np.zeros((stop - start, keep), dtype=np.int64)
    worst = np.full(stop - start, np.inf)
    terms = _terms(a, x)
    for block_start, block_stop, first, g in _blocks(a, x):
        _scan_rows(g, block_start, first, *terms, lows, index, worst, _chunks(block_stop - block_start))
    out, certain = _finish_kth_rows(a.x, x.x, lows, index, worst, kth)
    if not certain.all():
        rows = np.flatnonzero(~certain)
        out[rows] = _brute_kth(a.x, rows, x.x, kth)
    return out


def ball_counts(
    centres: np.ndarray | Prepared,
    centre_r2: np.ndarray,
    points: np.ndarray | Prepared,
    point_r2: np.ndarray | None = None,
    *,
    kind: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Which points lie strictly inside which balls, counted, for PRDC and coverage.

    Ball i is centred on ``centres[i]`` with squared radius ``centre_r2[i]``; optionally point j
    has a ball of squared radius ``point_r2[j]`` too. Returns, exactly as a float64 brute force
    over ``d2[i, j] = Σ (c_i - p_j)²`` would:

    - ``held[i]``: number of points with ``d2[i, j] < centre_r2[i]``;
    - ``holding[j]``: whether some ball holds point j (``d2[i, j] < centre_r2[i]`` for some i);
    - ``reached[i]``: whether centre i lies in some point's ball (``d2[i, j] < point_r2[j]``);
      all False without ``point_r2``.
    """
    if isinstance(centres, Prepared) and isinstance(points, Prepared):
        a, b = centres, points
    elif isinstance(centres, Prepared) or isinstance(points, Prepared):
        raise TypeError("pass both sets prepared (on one centre) or both as arrays")
    else:
        centre = np.asarray(centres, dtype=np.float64).mean(axis=0)
        a, b = prepare(centres, centre, kind), prepare(points, centre, kind)
    if a.x.shape[1] != b.x.shape[1]:
        raise ValueError(f"the two sets have different dimensions: {a.x.shape[1]} vs {b.x.shape[1]}")
    if a.kind != b.kind:
        raise ValueError(f"the two sets were rounded for different GEMMs: {a.kind} vs {b.kind}")
    a_r2 = np.asarray(centre_r2, dtype=np.float64)
    b_r2 = np.full(len(b.x), -np.inf) if point_r2 is None else np.asarray(point_r2, dtype=np.float64)
    engine = _ENGINE.get()
    if engine is not None:
        return engine.ball_counts(a, a_r2, b, b_r2)
    return _ball_counts(a, a_r2, b, b_r2)


def ball_counts_rows(
    a: Prepared, a_r2: np.ndarray, b: Prepared, b_r2: np.ndarray, start: int, stop: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`ball_counts` for the balls (centres) ``start:stop`` alone: one engine task.

    ``held`` and ``reached`` are those rows' values; ``holding`` is over every point, counting only
    these balls: the whole's is the OR over blocks. ``b_r2`` is ``-inf`` everywhere for no point balls.
    """
    if not 0 <= start <= stop <= len(a.x):
        raise ValueError(f"rows {start}:{stop} are not within the set's {len(a.x)} rows")
    return _ball_counts(_rows(a, start, stop), np.asarray(a_r2)[start:stop], b, np.asarray(b_r2))


def _ball_counts(
    a: Prepared, a_r2: np.ndarray, b: Prepared, b_r2: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    shift, u2, row_e, sq_a, sq_b = _terms(a, b)
    held = np.zeros(len(a.x), dtype=np.int64)
    holding = np.zeros(len(b.x), dtype=np.uint8)
    reached = np.zeros(len(a.x), dtype=np.bool_)
    for start, stop, _, g in _blocks(a, b):
        _cross(
            g, start, shift, u2, row_e, sq_a, sq_b, a.x, b.x, a_r2, b_r2, held, holding, reached, _chunks(stop - start)
        )
    return held, holding.astype(bool), reached
