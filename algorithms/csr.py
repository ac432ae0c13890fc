"""Index formats for sparse attention: row CSR and block-CSR with full blocks and column strips.

`RowCSR` lists, per query row, the kept key columns (`indptr`, `indices`, both
int32 so that integer kernels can loop over them). `BlockCSR` tiles the score
matrix into `block_m x block_n` tiles and lists, per query block,

- **full** key blocks: every in-bounds element kept, so a kernel computes the
  tile without evaluating any mask (flex_attention's `full_kv_num_blocks` /
  `full_kv_indices`);
- **partial** key blocks: some elements kept; each carries its tile bitmap
  `partial_masks[e]` (`[block_m, block_n]`, False outside the matrix);
- **column strips**: single key columns outside every listed block
  (MInference's `1 x 64` vertical strips), each with its row bitmap
  `col_masks[e]` (`[block_m]`, False past the last query).

The rule that chooses (`BlockCSR.from_mask`), per tile with kept elements:
all in-bounds elements kept -> full block; else, when its kept elements lie
in at most `max_strip_columns` distinct key columns -> one strip per such
column; else -> a partial block. A strip costs `block_m` scores and a partial
block `block_m * block_n`, so strips pay off for a few isolated columns (the
verticals of a vertical-slash mask) while a diagonal crossing the tile makes
it a block. The default `max_strip_columns = block_n // 4` leaves room for the
gather overhead of strips; 0 disables strips. Conversions are exact both ways:
`BlockCSR.from_mask(m).to_mask() == m` for every mask and block size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["BlockCSR", "RowCSR"]

INDEX_MAX = (1 << 31) - 1  # indices are int32


def _int(name: str, value: Any, lo: int) -> int:
    """Return `value` as an int >= lo, else raise ValueError naming `name`."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < lo:
        raise ValueError(f"{name} must be >= {lo}, got {value}")
    return int(value)


def _shape(value: Any) -> tuple[int, int]:
    """Return a checked (nq, nk) shape."""
    if not isinstance(value, tuple) or len(value) != 2:
        raise ValueError(f"shape must be a tuple (nq, nk), got {value!r}")
    nq, nk = _int("shape[0]", value[0], 0), _int("shape[1]", value[1], 0)
    if max(nq, nk) > INDEX_MAX:
        raise ValueError(f"shape {value} does not fit int32 indices")
    return nq, nk


def _bool_mask(mask: Any) -> np.ndarray:
    """Return `mask` as a 2-D bool array, else raise ValueError."""
    arr = np.asarray(mask)
    if arr.ndim != 2 or arr.dtype != bool:
        raise ValueError(f"mask must be a 2-D bool array, got {arr.dtype} with shape {arr.shape}")
    return arr


def _frozen(arr: np.ndarray) -> np.ndarray:
    """Return a C-contiguous read-only copy of `arr`."""
    out = np.ascontiguousarray(arr).copy()
    out.setflags(write=False)
    return out


def _index_array(name: str, value: Any) -> np.ndarray:
    """Return `value` as a read-only 1-D int32 array, else raise ValueError naming `name`."""
    arr = np.asarray(value)
    if arr.ndim != 1 or not (np.issubdtype(arr.dtype, np.integer) or arr.size == 0):
        raise ValueError(f"{name} must be a 1-D integer array, got {arr.dtype} with shape {arr.shape}")
    if arr.size and (arr.min() < -(1 << 31) or arr.max() > INDEX_MAX):
        raise ValueError(f"{name} does not fit int32")
    return _frozen(arr.astype(np.int32))


def _check_csr(prefix: str, indptr: np.ndarray, indices: np.ndarray, nrows: int, ncols: int) -> None:
    """Check that (indptr, indices) is a CSR of nrows rows with strictly increasing columns in 0..ncols-1."""
    if indptr.shape != (nrows + 1,):
        raise ValueError(f"{prefix}indptr must have {nrows + 1} entries (rows + 1), got {indptr.shape[0]}")
    if indptr[0] != 0 or indptr[-1] != indices.shape[0]:
        raise ValueError(
            f"{prefix}indptr must start at 0 and end at len({prefix}indices) = {indices.shape[0]}, "
            f"got {int(indptr[0])}..{int(indptr[-1])}"
        )
    if (np.diff(indptr) < 0).any():
        raise ValueError(f"{prefix}indptr must be non-decreasing")
    if indices.size:
        bad = indices[(indices < 0) | (indices >= ncols)]
        if bad.size:
            raise ValueError(f"{prefix}indices holds {int(bad[0])}, outside 0..{ncols - 1}")
        row_start = np.zeros(indices.shape[0], dtype=bool)
        row_start[indptr[:-1][indptr[:-1] < indices.shape[0]]] = True
        steps = np.diff(indices.astype(np.int64))
        if ((steps <= 0) & ~row_start[1:]).any():
            raise ValueError(f"{prefix}indices must be strictly increasing within each row")


def _rows_of(indptr: np.ndarray) -> np.ndarray:
    """The row of every entry of a CSR with row pointers `indptr`."""
    return np.repeat(np.arange(indptr.shape[0] - 1), np.diff(indptr))


def _indptr(counts: np.ndarray) -> np.ndarray:
    """Row pointers from per-row counts."""
    return np.concatenate([[0], np.cumsum(counts, dtype=np.int64)])


@dataclass(frozen=True, eq=False)
class RowCSR:
    """Per query row, the kept key columns: `indices[indptr[i]:indptr[i + 1]]`, increasing.

    Arrays are stored as read-only int32 copies; construction validates them.
    """

    shape: tuple[int, int]
    indptr: np.ndarray
    indices: np.ndarray

    def __post_init__(self) -> None:
        nq, nk = _shape(self.shape)
        object.__setattr__(self, "shape", (nq, nk))
        object.__setattr__(self, "indptr", _index_array("indptr", self.indptr))
        object.__setattr__(self, "indices", _index_array("indices", self.indices))
        _check_csr("", self.indptr, self.indices, nq, nk)

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> RowCSR:
        """Build the CSR of a bool mask [nq, nk]."""
        mask = _bool_mask(mask)
        if mask.sum() > INDEX_MAX:
            raise ValueError("mask keeps more elements than int32 indices can address")
        return cls(mask.shape, _indptr(mask.sum(axis=1)), np.nonzero(mask)[1])

    def to_mask(self) -> np.ndarray:
        """Return the bool mask [nq, nk] this CSR describes."""
        mask = np.zeros(self.shape, dtype=bool)
        mask[_rows_of(self.indptr), self.indices] = True
        return mask

    @property
    def nnz(self) -> int:
        """Return the number of kept elements."""
        return int(self.indices.shape[0])

    @property
    def density(self) -> float:
        """Return the fraction of kept elements (0.0 for an empty matrix)."""
        total = self.shape[0] * self.shape[1]
        return self.nnz / total if total else 0.0

    def row_counts(self) -> np.ndarray:
        """Return the number of kept keys of every query row."""
        return np.diff(self.indptr)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RowCSR):
            return NotImplemented
        return (
            self.shape == other.shape
            and np.array_equal(self.indptr, other.indptr)
            and np.array_equal(self.indices, other.indices)
        )

    __hash__ = None  # type: ignore[assignment]  # mutable-free but array-valued: not hashable


@dataclass(frozen=True, eq=False)
class BlockCSR:
    """Per query block: full key blocks, partial key blocks with tile bitmaps, and column strips.

    Query block `a` covers rows `a*block_m .. min((a+1)*block_m, nq) - 1`; key
    block `b` covers columns `b*block_n ..`. Each `*_indptr` has one entry per
    query block plus one. Invariants (checked): indices increasing per query
    block, a key block is not both full and partial, a strip column lies in
    no listed block of its query block, bitmaps are False outside the matrix.
    """

    shape: tuple[int, int]
    block_m: int
    block_n: int
    full_indptr: np.ndarray
    full_indices: np.ndarray
    partial_indptr: np.ndarray
    partial_indices: np.ndarray
    partial_masks: np.ndarray
    col_indptr: np.ndarray
    col_indices: np.ndarray
    col_masks: np.ndarray

    def __post_init__(self) -> None:
        nq, nk = _shape(self.shape)
        bm, bn = _int("block_m", self.block_m, 1), _int("block_n", self.block_n, 1)
        object.__setattr__(self, "shape", (nq, nk))
        object.__setattr__(self, "block_m", bm)
        object.__setattr__(self, "block_n", bn)
        for name in ("full_indptr", "full_indices", "partial_indptr", "partial_indices", "col_indptr", "col_indices"):
            object.__setattr__(self, name, _index_array(name, getattr(self, name)))
        nqb, nkb = self.n_blocks
        _check_csr("full_", self.full_indptr, self.full_indices, nqb, nkb)
        _check_csr("partial_", self.partial_indptr, self.partial_indices, nqb, nkb)
        _check_csr("col_", self.col_indptr, self.col_indices, nqb, nk)
        pm, cm = np.asarray(self.partial_masks), np.asarray(self.col_masks)
        if pm.dtype != bool or pm.shape != (self.partial_indices.shape[0], bm, bn):
            raise ValueError(
                f"partial_masks must be bool of shape {(self.partial_indices.shape[0], bm, bn)}, "
                f"got {pm.dtype} {pm.shape}"
            )
        if cm.dtype != bool or cm.shape != (self.col_indices.shape[0], bm):
            raise ValueError(
                f"col_masks must be bool of shape {(self.col_indices.shape[0], bm)}, got {cm.dtype} {cm.shape}"
            )
        object.__setattr__(self, "partial_masks", _frozen(pm))
        object.__setattr__(self, "col_masks", _frozen(cm))
        self._check_consistency()

    def _check_consistency(self) -> None:
        """Check overlaps between the three lists and that bitmaps stay inside the matrix."""
        nqb, nkb = self.n_blocks
        full_rows, part_rows = _rows_of(self.full_indptr), _rows_of(self.partial_indptr)
        listed = np.zeros((nqb, nkb), dtype=bool)
        listed[full_rows, self.full_indices] = True
        if listed[part_rows, self.partial_indices].any():
            raise ValueError("a key block is listed both in full_indices and partial_indices of one query block")
        listed[part_rows, self.partial_indices] = True
        col_rows = _rows_of(self.col_indptr)
        if self.col_indices.size and listed[col_rows, self.col_indices // self.block_n].any():
            raise ValueError("a column in col_indices lies inside a listed key block of its query block")
        valid_rows = self._valid_rows()
        if (self.col_masks & ~valid_rows[col_rows]).any():
            raise ValueError("col_masks marks rows past the last query")
        if self.partial_masks.size:
            valid_cols = self._valid_cols()
            inside = valid_rows[part_rows][:, :, None] & valid_cols[self.partial_indices][:, None, :]
            if (self.partial_masks & ~inside).any():
                raise ValueError("partial_masks marks elements outside the matrix")

    def _valid_rows(self) -> np.ndarray:
        """[nqb, block_m]: which rows of each query block exist."""
        nqb = self.n_blocks[0]
        return (np.arange(nqb)[:, None] * self.block_m + np.arange(self.block_m)[None, :]) < self.shape[0]

    def _valid_cols(self) -> np.ndarray:
        """[nkb, block_n]: which columns of each key block exist."""
        nkb = self.n_blocks[1]
        return (np.arange(nkb)[:, None] * self.block_n + np.arange(self.block_n)[None, :]) < self.shape[1]

    @property
    def n_blocks(self) -> tuple[int, int]:
        """Return (query blocks, key blocks)."""
        return math.ceil(self.shape[0] / self.block_m), math.ceil(self.shape[1] / self.block_n)

    @classmethod
    def from_mask(
        cls, mask: np.ndarray, block_m: int = 64, block_n: int = 64, max_strip_columns: int | None = None
    ) -> BlockCSR:
        """Split a bool mask [nq, nk] into full blocks, partial blocks and column strips (module rule)."""
        mask = _bool_mask(mask)
        bm, bn = _int("block_m", block_m, 1), _int("block_n", block_n, 1)
        max_cols = bn // 4 if max_strip_columns is None else _int("max_strip_columns", max_strip_columns, 0)
        nq, nk = _shape(mask.shape)
        nqb, nkb = math.ceil(nq / bm), math.ceil(nk / bn)
        padded = np.zeros((nqb * bm, nkb * bn), dtype=bool)
        padded[:nq, :nk] = mask
        inside = np.zeros_like(padded)
        inside[:nq, :nk] = True
        tiles = padded.reshape(nqb, bm, nkb, bn).transpose(0, 2, 1, 3)  # [a, b, row, col]
        kept = tiles.sum(axis=(2, 3))
        area = inside.reshape(nqb, bm, nkb, bn).sum(axis=(1, 3))
        used_cols = tiles.any(axis=2)  # [a, b, col]
        full = (kept == area) & (kept > 0)
        some = (kept > 0) & ~full
        strip = some & (used_cols.sum(axis=2) <= max_cols)
        partial = some & ~strip
        fa, fb = np.nonzero(full)
        pa, pb = np.nonzero(partial)
        sa, sb, sc = np.nonzero(strip[:, :, None] & used_cols)
        return cls(
            (nq, nk),
            bm,
            bn,
            _indptr(np.bincount(fa, minlength=nqb)),
            fb,
            _indptr(np.bincount(pa, minlength=nqb)),
            pb,
            tiles[pa, pb],
            _indptr(np.bincount(sa, minlength=nqb)),
            sb * bn + sc,
            tiles[sa, sb, :, sc],
        )

    def to_mask(self) -> np.ndarray:
        """Return the bool mask [nq, nk] this block-CSR describes."""
        nqb, nkb = self.n_blocks
        bm, bn = self.block_m, self.block_n
        tiles = np.zeros((nqb, nkb, bm, bn), dtype=bool)
        tiles[_rows_of(self.full_indptr), self.full_indices] = True
        tiles[_rows_of(self.partial_indptr), self.partial_indices] = self.partial_masks
        col_rows = _rows_of(self.col_indptr)
        tiles[col_rows, self.col_indices // bn, :, self.col_indices % bn] = self.col_masks
        return tiles.transpose(0, 2, 1, 3).reshape(nqb * bm, nkb * bn)[: self.shape[0], : self.shape[1]].copy()

    def tile_lists(self, which: str = "all") -> tuple[np.ndarray, np.ndarray]:
        """Return padded per-query-block key-block lists `(num_blocks [nqb], indices [nqb, width])`, int32.

        `which` = "full" (flex_attention's full_kv_*), "masked" (partial blocks
        and blocks holding strips: the tiles whose mask must be evaluated,
        flex_attention's kv_*), or "all" (every tile with a kept element: what a
        block-sparse flash kernel such as `sdpa.flash_sparse_*` visits; the
        tile-level mask it implies is a superset of this one unless every
        listed tile is full or causal-diagonal). Row `a` lists its blocks in
        increasing order in `indices[a, :num_blocks[a]]`; the rest is 0 padding;
        `width = max(1, most blocks of any row)`.
        """
        if which not in ("full", "masked", "all"):
            raise ValueError(f"which must be 'full', 'masked' or 'all', got {which!r}")
        nqb, nkb = self.n_blocks
        tiles = np.zeros((nqb, nkb), dtype=bool)
        if which in ("full", "all"):
            tiles[_rows_of(self.full_indptr), self.full_indices] = True
        if which in ("masked", "all"):
            tiles[_rows_of(self.partial_indptr), self.partial_indices] = True
            tiles[_rows_of(self.col_indptr), self.col_indices // self.block_n] = True
        counts = tiles.sum(axis=1).astype(np.int32)
        width = max(1, int(counts.max()) if counts.size else 1)
        indices = np.zeros((nqb, width), dtype=np.int32)
        if nkb:
            order = np.argsort(~tiles, axis=1, kind="stable")[:, :width]  # listed blocks first, increasing
            indices[:, : order.shape[1]] = np.where(np.arange(order.shape[1])[None, :] < counts[:, None], order, 0)
        return counts, indices

    # ---- density helpers ----------------------------------------------------------------------------

    @property
    def n_full(self) -> int:
        """Return the number of full blocks."""
        return int(self.full_indices.shape[0])

    @property
    def n_partial(self) -> int:
        """Return the number of partial blocks."""
        return int(self.partial_indices.shape[0])

    @property
    def n_strips(self) -> int:
        """Return the number of column strips."""
        return int(self.col_indices.shape[0])

    def block_density(self) -> float:
        """Return the fraction of tiles that are computed as blocks (full or partial)."""
        nqb, nkb = self.n_blocks
        return (self.n_full + self.n_partial) / (nqb * nkb) if nqb * nkb else 0.0

    def computed_scores(self) -> int:
        """Return how many scores a kernel computes: in-bounds elements of listed blocks plus strip rows."""
        rows = self._valid_rows().sum(axis=1)
        cols = self._valid_cols().sum(axis=1)
        full = rows[_rows_of(self.full_indptr)] * cols[self.full_indices]
        part = rows[_rows_of(self.partial_indptr)] * cols[self.partial_indices]
        strips = rows[_rows_of(self.col_indptr)]
        return int(full.sum() + part.sum() + strips.sum())

    def computed_fraction(self) -> float:
        """Return computed scores over dense scores (1.0 = no saving; 0.0 for an empty matrix)."""
        total = self.shape[0] * self.shape[1]
        return self.computed_scores() / total if total else 0.0

    def kept(self) -> int:
        """Return the number of kept elements (full blocks in bounds, set bits of the bitmaps)."""
        cols = self._valid_cols().sum(axis=1)
        rows = self._valid_rows().sum(axis=1)
        full = rows[_rows_of(self.full_indptr)] * cols[self.full_indices]
        return int(full.sum() + self.partial_masks.sum() + self.col_masks.sum())

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BlockCSR):
            return NotImplemented
        return (
            self.shape == other.shape
            and self.block_m == other.block_m
            and self.block_n == other.block_n
            and all(
                np.array_equal(getattr(self, f), getattr(other, f))
                for f in (
                    "full_indptr",
                    "full_indices",
                    "partial_indptr",
                    "partial_indices",
                    "partial_masks",
                    "col_indptr",
                    "col_indices",
                    "col_masks",
                )
            )
        )

    __hash__ = None  # type: ignore[assignment]
