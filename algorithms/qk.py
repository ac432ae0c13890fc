"""Integer QK kernels for the QK unit: int8 queries and keys, int32 scores."""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from algorithms.csr import BlockCSR, RowCSR
from backends import run
from hls import Array, Kernel, i8, i32, kernel, pipeline, prange, unroll


@kernel
def qk_dense(q: Array[i8, "M", "D"], k: Array[i8, "N", "D"], s: Array[i32, "M", "N"]):
    """s[i, j] = sum_d q[i, d] * k[j, d] for every query i and key j."""
    for i in prange(q.shape[0]):
        for j in pipeline(range(k.shape[0]), ii=1):
            acc = i32(0)
            for d in unroll(range(q.shape[1])):
                acc += q[i, d] * k[j, d]
            s[i, j] = acc


@kernel
def qk_masked(q: Array[i8, "M", "D"], k: Array[i8, "N", "D"], mask: Array[bool, "M", "N"], s: Array[i32, "M", "N"]):
    """Like qk_dense, but only where mask[i, j]; masked scores are 0 and cost no multiplies."""
    for i in prange(q.shape[0]):
        for j in pipeline(range(k.shape[0]), ii=1):
            acc = i32(0)
            if mask[i, j]:
                for d in unroll(range(q.shape[1])):
                    acc += q[i, d] * k[j, d]
            s[i, j] = acc


def qk_reference(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """numpy reference: exact int64 products, wrapped to int32 like the kernels."""
    s = (q.astype(np.int64) @ k.astype(np.int64).T).astype(np.int32)
    return s if mask is None else np.where(mask, s, 0).astype(np.int32)


# ---- sparse QK: CSR- and block-CSR-driven kernels ---------------------------------------------------
# The index arrays come from `algorithms.csr` (RowCSR, BlockCSR); the wrappers below check them and
# run a kernel on any backend. The kernels trust their indices (compiled backends do not check bounds),
# so call them through the wrappers or with indices built by `algorithms.csr`.


@st.composite
def _csr_args(draw: st.DrawFn, values: bool = False) -> tuple[np.ndarray, ...]:
    """Draw (q, k, indptr, indices, out) with a valid row CSR: M, N in 1..6, D in 1..4, any mask density."""
    m, n, d = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(1, 4))
    q = draw(hnp.arrays(np.int8, (m, d)))
    k = draw(hnp.arrays(np.int8, (n, d)))
    mask = draw(hnp.arrays(np.bool_, (m, n)))
    indptr = np.concatenate([[0], np.cumsum(mask.sum(axis=1))]).astype(np.int32)
    indices = np.nonzero(mask)[1].astype(np.int32)
    out = np.zeros(indices.shape[0], np.int32) if values else np.zeros((m, n), np.int32)
    return q, k, indptr, indices, out


@kernel(strategy=_csr_args())
def qk_csr_dense_out(
    q: Array[i8, "M", "D"],
    k: Array[i8, "N", "D"],
    indptr: Array[i32, "R"],
    indices: Array[i32, "E"],
    s: Array[i32, "M", "N"],
):
    """Compute s[i, j] = q[i] . k[j] for the kept keys j of row i (CSR), and 0 elsewhere.

    Row i's keys are `indices[indptr[i] .. indptr[i + 1] - 1]` (R = M + 1): a
    data-dependent loop bound, so only kept scores cost multiplies.
    """
    for i in prange(q.shape[0]):
        for j0 in range(k.shape[0]):
            s[i, j0] = 0
        for e in pipeline(range(indptr[i], indptr[i + 1]), ii=1):
            j = indices[e]
            acc = i32(0)
            for d in unroll(range(q.shape[1])):
                acc += q[i, d] * k[j, d]
            s[i, j] = acc


@kernel(strategy=_csr_args(values=True))
def qk_csr_values(
    q: Array[i8, "M", "D"],
    k: Array[i8, "N", "D"],
    indptr: Array[i32, "R"],
    indices: Array[i32, "E"],
    values: Array[i32, "E"],
):
    """Compute the CSR values array: values[e] = q[i] . k[indices[e]] for every entry e of row i."""
    for i in prange(q.shape[0]):
        for e in pipeline(range(indptr[i], indptr[i + 1]), ii=1):
            j = indices[e]
            acc = i32(0)
            for d in unroll(range(q.shape[1])):
                acc += q[i, d] * k[j, d]
            values[e] = acc


@st.composite
def _coo_args(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Draw (q, k, rows, cols, values) for the kept scores of a random mask, in row-major order."""
    q, k, indptr, indices, values = draw(_csr_args(values=True))
    return q, k, csr_rows(indptr), indices, values


def csr_rows(indptr: np.ndarray) -> np.ndarray:
    """The row of every CSR entry (the CSR row pointers expanded): int32 [nnz]."""
    counts = np.diff(np.asarray(indptr, dtype=np.int64))
    return np.repeat(np.arange(len(counts), dtype=np.int32), counts)


@kernel(strategy=_coo_args())
def qk_coo_values(
    q: Array[i8, "M", "D"],
    k: Array[i8, "N", "D"],
    rows: Array[i32, "E"],
    cols: Array[i32, "E"],
    values: Array[i32, "E"],
):
    """Compute values[e] = q[rows[e]] . k[cols[e]] for every kept score e (the CSR with its rows expanded).

    One pipelined loop over the kept scores: in hardware one score per cycle with
    no per-row overhead, so the cycles follow nnz (qk_csr_values pays one cycle
    per row to move to the next row's pointers).
    """
    for e in pipeline(range(rows.shape[0]), ii=1):
        i = rows[e]
        j = cols[e]
        acc = i32(0)
        for d in unroll(range(q.shape[1])):
            acc += q[i, d] * k[j, d]
        values[e] = acc


@st.composite
def _block_csr_args(draw: st.DrawFn) -> tuple[np.ndarray, ...]:
    """Draw block-CSR arguments from a random mask: M, N in 1..9, blocks 1..4, strips on or off."""
    m, n, d = draw(st.integers(1, 9)), draw(st.integers(1, 9)), draw(st.integers(1, 4))
    bm, bn = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    q = draw(hnp.arrays(np.int8, (m, d)))
    k = draw(hnp.arrays(np.int8, (n, d)))
    mask = draw(hnp.arrays(np.bool_, (m, n)))
    bc = BlockCSR.from_mask(mask, bm, bn, max_strip_columns=draw(st.integers(0, bn)))
    return (q, k, *block_csr_arrays(bc), np.zeros((m, n), np.int32))


@kernel(strategy=_block_csr_args())
def qk_block_csr_dense_out(
    q: Array[i8, "M", "D"],
    k: Array[i8, "N", "D"],
    full_indptr: Array[i32, "QB"],
    full_indices: Array[i32, "F"],
    partial_indptr: Array[i32, "QB"],
    partial_indices: Array[i32, "P"],
    partial_masks: Array[bool, "P", "BM", "BN"],
    col_indptr: Array[i32, "QB"],
    col_indices: Array[i32, "C"],
    col_masks: Array[bool, "C", "BM"],
    s: Array[i32, "M", "N"],
):
    """Compute dense scores from a block-CSR (QB = query blocks + 1), 0 where the mask is False.

    Per query block: full key blocks with no mask test, partial key blocks
    tested against their tile bitmap, and single-column strips tested against
    their row bitmap. Tile sizes are read from the bitmaps' shapes.
    """
    bm = i32(partial_masks.shape[1])
    bn = i32(partial_masks.shape[2])
    for qb in prange(full_indptr.shape[0] - 1):
        r0 = i32(qb * bm)  # < M, so int32 holds it
        r1 = i32(min(r0 + bm, q.shape[0]))
        for i0 in range(r0, r1):
            for j0 in range(k.shape[0]):
                s[i0, j0] = 0
        for e in range(full_indptr[qb], full_indptr[qb + 1]):
            c0 = i32(full_indices[e] * bn)
            for i in range(r0, r1):
                for j in pipeline(range(c0, min(c0 + bn, k.shape[0])), ii=1):
                    acc = i32(0)
                    for d in unroll(range(q.shape[1])):
                        acc += q[i, d] * k[j, d]
                    s[i, j] = acc
        for e in range(partial_indptr[qb], partial_indptr[qb + 1]):
            c0 = i32(partial_indices[e] * bn)
            for i in range(r0, r1):
                for j in pipeline(range(c0, min(c0 + bn, k.shape[0])), ii=1):
                    if partial_masks[e, i - r0, j - c0]:
                        acc = i32(0)
                        for d in unroll(range(q.shape[1])):
                            acc += q[i, d] * k[j, d]
                        s[i, j] = acc
        for e in range(col_indptr[qb], col_indptr[qb + 1]):
            jc = col_indices[e]
            for i in pipeline(range(r0, r1), ii=1):
                if col_masks[e, i - r0]:
                    acc = i32(0)
                    for d in unroll(range(q.shape[1])):
                        acc += q[i, d] * k[jc, d]
                    s[i, jc] = acc


def block_csr_arrays(bc: BlockCSR) -> tuple[np.ndarray, ...]:
    """Return the eight index arrays of `bc` in `qk_block_csr_dense_out`'s parameter order, as writable copies."""
    return (
        bc.full_indptr.copy(),
        bc.full_indices.copy(),
        bc.partial_indptr.copy(),
        bc.partial_indices.copy(),
        bc.partial_masks.copy(),
        bc.col_indptr.copy(),
        bc.col_indices.copy(),
        bc.col_masks.copy(),
    )


def _check_qk_inputs(q: np.ndarray, k: np.ndarray, shape: tuple[int, int]) -> None:
    """Check that q [M, D] and k [N, D] are int8 and match an index structure of shape (M, N)."""
    for name, x in (("q", q), ("k", k)):
        if not isinstance(x, np.ndarray) or x.dtype != np.int8 or x.ndim != 2:
            raise ValueError(
                f"{name} must be a 2-D int8 array, got {getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}"
            )
    if q.shape[1] != k.shape[1]:
        raise ValueError(f"q and k must have the same head dim, got {q.shape[1]} and {k.shape[1]}")
    if (q.shape[0], k.shape[0]) != shape:
        raise ValueError(f"the index structure has shape {shape}, but q and k give {(q.shape[0], k.shape[0])}")


def qk_csr(q: np.ndarray, k: np.ndarray, csr: RowCSR, backend: str = "python", values: bool = False) -> np.ndarray:
    """Run the CSR QK kernel on `backend`: dense int32 scores [M, N], or the CSR values [nnz] if `values`."""
    _check_qk_inputs(q, k, csr.shape)
    if values:
        out = np.zeros(csr.nnz, np.int32)
        run(qk_csr_values, q, k, csr.indptr.copy(), csr.indices.copy(), out, backend=backend)
    else:
        out = np.zeros(csr.shape, np.int32)
        run(qk_csr_dense_out, q, k, csr.indptr.copy(), csr.indices.copy(), out, backend=backend)
    return out


def qk_block_csr(q: np.ndarray, k: np.ndarray, bc: BlockCSR, backend: str = "python") -> np.ndarray:
    """Run the block-CSR QK kernel on `backend`: dense int32 scores [M, N], 0 where not kept."""
    _check_qk_inputs(q, k, bc.shape)
    out = np.zeros(bc.shape, np.int32)
    run(qk_block_csr_dense_out, q, k, *block_csr_arrays(bc), out, backend=backend)
    return out


def qk_csr_values_reference(q: np.ndarray, k: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """numpy reference for qk_csr_values: exact int64 dot products per CSR entry, wrapped to int32."""
    rows = np.repeat(np.arange(q.shape[0]), np.diff(np.asarray(indptr, dtype=np.int64)))
    dots = np.einsum("ed,ed->e", q[rows].astype(np.int64), k[np.asarray(indices, dtype=np.int64)].astype(np.int64))
    return dots.astype(np.int32)


def qk_csr_reference(q: np.ndarray, k: np.ndarray, indptr: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """numpy reference for qk_csr_dense_out: the CSR values scattered into zeros [M, N]."""
    s = np.zeros((q.shape[0], k.shape[0]), np.int32)
    rows = np.repeat(np.arange(q.shape[0]), np.diff(np.asarray(indptr, dtype=np.int64)))
    s[rows, np.asarray(indices, dtype=np.int64)] = qk_csr_values_reference(q, k, indptr, indices)
    return s


# ---- throughput lanes: P scores per cycle ------------------------------------------------------------
# The same units with the pipelined loop stepping by P and an unrolled loop of P lanes: in hardware P scores
# per cycle, the score (and key) arrays partitioned cyclically by P so that each lane has its own bank
# (hls/hw/memory.py). P (`lanes`) is a compile-time constant of the kernel (one kernel per P, cached); any P >= 1 works
# for any size, the lanes past the end of a row masked off. P = 1 computes exactly what the one-score units do.


def _one_kernel_per_p(factory: Callable[[int], Kernel]) -> Callable[[int], Kernel]:
    """`factory(P)` checked (an int >= 1), built once per P and named `<factory>P` (qk_dense_lanes4)."""
    built: dict[int, Kernel] = {}

    @functools.wraps(factory)
    def get(lanes: int) -> Kernel:
        if not isinstance(lanes, int) or isinstance(lanes, bool) or lanes < 1:
            raise ValueError(f"P (scores per cycle) must be an int >= 1, got {lanes!r}")
        if lanes not in built:
            kern = factory(lanes)
            kern.__name__ = kern.__qualname__ = f"{factory.__name__}{lanes}"
            built[lanes] = kern
        return built[lanes]

    return get


@_one_kernel_per_p
def qk_dense_lanes(lanes: int) -> Kernel:
    """Return qk_dense computing P scores per cycle: P lanes over consecutive keys j .. j + P - 1."""

    @kernel
    def qk_dense_lanes(q: Array[i8, "M", "D"], k: Array[i8, "N", "D"], s: Array[i32, "M", "N"]):
        for i in prange(q.shape[0]):
            for j in pipeline(range(0, k.shape[0], lanes), ii=1):
                for p in unroll(range(lanes)):
                    acc = i32(0)  # NOTE: set in every lane, masked or not: no value carried to the next iteration
                    if j + p < k.shape[0]:
                        for d in unroll(range(q.shape[1])):
                            acc += q[i, d] * k[j + p, d]
                        s[i, j + p] = acc

    return qk_dense_lanes


@_one_kernel_per_p
def qk_coo_values_lanes(lanes: int) -> Kernel:
    """Return qk_coo_values computing P kept scores per cycle (entries e .. e + P - 1).

    The lanes gather rows of q and k at data-dependent indices: P reads of a bank per cycle, so II = 1 needs
    `ports=` of at least P on q and k (up to 4), else the report gives the II the ports allow.
    """

    @kernel(strategy=_coo_args())
    def qk_coo_values_lanes(
        q: Array[i8, "M", "D"],
        k: Array[i8, "N", "D"],
        rows: Array[i32, "E"],
        cols: Array[i32, "E"],
        values: Array[i32, "E"],
    ):
        for e in pipeline(range(0, rows.shape[0], lanes), ii=1):
            for p in unroll(range(lanes)):
                i = i32(0)  # NOTE: set in every lane, masked or not: nothing carried across iterations
                j = i32(0)
                acc = i32(0)
                if e + p < rows.shape[0]:
                    i = rows[e + p]
                    j = cols[e + p]
                    for d in unroll(range(q.shape[1])):
                        acc += q[i, d] * k[j, d]
                    values[e + p] = acc

    return qk_coo_values_lanes


@_one_kernel_per_p
def qk_csr_values_lanes(lanes: int) -> Kernel:
    """Return qk_csr_values computing P kept scores of a row per cycle.

    Row i runs from its first entry rounded down to a multiple of P, so that lane p always writes bank
    (e + p) % P; lanes outside the row are masked off: at most nnz / P + M iterations. The keys are gathered
    (P reads of each k bank per cycle): II = 1 needs `ports={"k": P}` (up to 4).
    """

    @kernel(strategy=_csr_args(values=True))
    def qk_csr_values_lanes(
        q: Array[i8, "M", "D"],
        k: Array[i8, "N", "D"],
        indptr: Array[i32, "R"],
        indices: Array[i32, "E"],
        values: Array[i32, "E"],
    ):
        for i in prange(q.shape[0]):
            for e in pipeline(range((indptr[i] // lanes) * lanes, indptr[i + 1], lanes), ii=1):
                for p in unroll(range(lanes)):
                    j = i32(0)  # NOTE: set in every lane, masked or not: nothing carried across iterations
                    acc = i32(0)
                    if e + p >= indptr[i] and e + p < indptr[i + 1]:
                        j = indices[e + p]
                        for d in unroll(range(q.shape[1])):
                            acc += q[i, d] * k[j, d]
                        values[e + p] = acc

    return qk_csr_values_lanes
