"""The shared case catalog: every kernel once, with what its tests need.

Backend test modules parametrize over `CASES`; a new backend plugs in by
being registered in `backends` (it then appears in `backend_names()`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import strategies as st

import backends
from algorithms import detect, dma, examples, fixed, qk, sdpa
from hls.lang import Kernel


@dataclass(frozen=True)
class Case:
    """One catalog entry: a kernel, how many examples to draw, an optional numpy reference.

    `reference(*args)` returns {array parameter name: expected array} for
    the arrays it predicts; the tests compare the Python backend with it.
    `inputs` are `hls.check` options (max_dim=, values=) that the software
    backends' checks need to reach every branch and loop of the kernel.
    """

    kernel: Kernel
    examples: int = 100
    reference: Callable[..., dict[str, Any]] | None = None
    tags: tuple[str, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.kernel.__name__


def _qk_dense_ref(q: Any, k: Any, s: Any) -> dict[str, Any]:
    return {"s": qk.qk_reference(q, k)}


def _qk_masked_ref(q: Any, k: Any, mask: Any, s: Any) -> dict[str, Any]:
    return {"s": qk.qk_reference(q, k, mask)}


def _qk_csr_ref(q: Any, k: Any, indptr: Any, indices: Any, s: Any) -> dict[str, Any]:
    return {"s": qk.qk_csr_reference(q, k, indptr, indices)}


def _qk_csr_values_ref(q: Any, k: Any, indptr: Any, indices: Any, values: Any) -> dict[str, Any]:
    return {"values": qk.qk_csr_values_reference(q, k, indptr, indices)}


def _qk_coo_values_ref(q: Any, k: Any, rows: Any, cols: Any, values: Any) -> dict[str, Any]:
    dots = np.einsum("ed,ed->e", q[rows].astype(np.int64), k[cols].astype(np.int64))
    return {"values": dots.astype(np.int32)}


def _detect_vs_ref(scores: Any, col_acc: Any, diag_acc: Any) -> dict[str, Any]:
    return dict(zip(("col_acc", "diag_acc"), detect.detect_vs_reference(scores)))


def _topk_ref(values: Any, n_forced: int, idx: Any) -> dict[str, Any]:
    return {"idx": detect.topk_reference(values, n_forced, len(idx))}


def _floor_ops_ref(a: Any, b: Any, quo: Any, rem: Any, sar: Any) -> dict[str, Any]:
    want = examples.floor_ops_reference(a, b)
    return dict(zip(("quo", "rem", "sar"), want))


CASES: list[Case] = [
    Case(qk.qk_dense, reference=_qk_dense_ref, tags=("qk",)),
    Case(qk.qk_masked, reference=_qk_masked_ref, tags=("qk",)),
    Case(qk.qk_csr_dense_out, examples=50, reference=_qk_csr_ref, tags=("qk", "sparse")),
    Case(qk.qk_csr_values, examples=50, reference=_qk_csr_values_ref, tags=("qk", "sparse")),
    Case(qk.qk_coo_values, examples=50, reference=_qk_coo_values_ref, tags=("qk", "sparse")),
    Case(qk.qk_block_csr_dense_out, examples=50, tags=("qk", "sparse")),
    # throughput lanes (P scores per cycle), masked at the end of a row the lanes overrun (P = 3: test_lanes.py)
    Case(qk.qk_dense_lanes(2), reference=_qk_dense_ref, tags=("qk", "lanes")),
    Case(qk.qk_dense_lanes(4), reference=_qk_dense_ref, tags=("qk", "lanes")),
    Case(qk.qk_coo_values_lanes(2), examples=50, reference=_qk_coo_values_ref, tags=("qk", "sparse", "lanes")),
    Case(qk.qk_csr_values_lanes(2), examples=50, reference=_qk_csr_values_ref, tags=("qk", "sparse", "lanes")),
    Case(detect.detect_vs_accumulate, reference=_detect_vs_ref, tags=("detector",)),
    Case(detect.topk_select, reference=_topk_ref, tags=("detector",)),
    Case(detect.vs_sample_softmax, tags=("detector", "float")),
    Case(detect.vs_accumulate, tags=("detector", "float")),
    Case(detect.a_shape_search, tags=("detector", "float")),
    Case(detect.vs_mass_curve, tags=("detector", "float")),
    Case(detect.grid_residue_mass, tags=("detector", "float")),
    # NOTE: a heap replaces its root only when `keep` is below the visible keys
    Case(dma.dma_topk_threshold, tags=("dma", "float"), inputs={"values": {"keep": st.integers(-1, 6)}}),
    Case(dma.dma_tile_flags, tags=("dma", "float")),
    Case(dma.dma_zoh_f32, tags=("dma", "float")),
    Case(dma.dma_zoh_f64, tags=("dma", "float")),
    Case(dma.flash_dma_fwd_f32, tags=("dma", "float")),
    Case(dma.flash_dma_fwd_f64, tags=("dma", "float")),
    Case(dma.dma_probs_f32, tags=("dma", "float")),
    Case(dma.dma_probs_f64, tags=("dma", "float")),
    Case(sdpa.naive_f32, tags=("sdpa", "float")),
    Case(sdpa.naive_f64, tags=("sdpa", "float")),
    Case(sdpa.streaming_f32, tags=("sdpa", "float")),
    Case(sdpa.streaming_f64, tags=("sdpa", "float")),
    # NOTE: the head-dim and key loops unrolled by 8 run only from 8 up
    Case(sdpa.flash_f32, tags=("sdpa", "float"), inputs={"max_dim": 12}),
    Case(sdpa.flash_f64, tags=("sdpa", "float"), inputs={"max_dim": 12}),
    Case(sdpa.flash_sparse_f32, tags=("sdpa", "float", "sparse")),
    Case(sdpa.flash_sparse_f64, tags=("sdpa", "float", "sparse")),
    Case(sdpa.exp_neg_f32, tags=("sdpa", "float")),
    Case(fixed.sdpa_fixed, tags=("sdpa", "fixed-point")),
    Case(fixed.exp2_neg_q16, tags=("fixed-point", "table")),
    Case(examples.wrap_add, tags=("overflow",)),
    Case(examples.dot_wrap, tags=("overflow",)),
    Case(examples.floor_ops, reference=_floor_ops_ref, tags=("negative",)),
    Case(examples.popcount),
    Case(examples.classify),
    Case(examples.clamp_odd_width, tags=("overflow", "odd-width")),
    Case(examples.exp2_q8, tags=("table", "call")),
    Case(examples.exp2_rows, tags=("table", "call")),
    Case(examples.bit_mix, tags=("overflow", "u64")),
    Case(examples.row_max_index),
    Case(examples.shift_by, tags=("overflow",)),
    Case(examples.triangle_count),
]


def examples_scale() -> float:
    """`ATTNHLS_EXAMPLES_SCALE` multiplies every case's example count (more on demand)."""
    return float(os.environ.get("ATTNHLS_EXAMPLES_SCALE", "1"))


def backend_names() -> list[str]:
    """Backends under test: every registered one, or `ATTNHLS_BACKENDS` (comma-separated)."""
    chosen = os.environ.get("ATTNHLS_BACKENDS")
    names = chosen.split(",") if chosen else backends.names()
    return [n for n in names if n != "python"]
