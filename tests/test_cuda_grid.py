"""numba-cuda spreads a prange nest over the grid when the inner loop's iterations are independent.

`backends._cuda_grid` decides which loops of a top-level prange nest become grid dimensions; each kernel here
is one case of its proof (or of what it refuses, falling back to one thread per outer iteration). Every kernel
is also checked against the python backend on numba-cuda (Numba's CUDA simulator without a GPU), and
`RunResult.grid` must name the loops the launch covers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import backends
from algorithms import qk
from backends._cuda_grid import grid_levels
from hls import Array, check, i8, i32, kernel, prange, run, unroll, zeros
from hls.errors import ArgumentError
from hls.ir import nodes as ir
from hls.strategies import random_arguments


@kernel
def rows_cols(x: Array[i8, "M", "N"], out: Array[i32, "M", "N"]):
    """Temporaries inside an inner loop, written before read in each iteration: (i, j)."""
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            acc = i32(0)
            for d in range(x.shape[1]):
                t: i32 = x[i, d] * x[d % x.shape[0], j]
                acc += t
            if acc > 0:
                out[i, j] = acc
            else:
                out[i, j] = -acc


@kernel
def nested_prange(x: Array[i8, "M", "N"], out: Array[i32, "M", "N"]):
    """A prange inside a prange: independent by declaration."""
    for i in prange(x.shape[0]):
        for j in prange(x.shape[1]):
            out[i, j] = x[i, j] * 3


@kernel
def three_deep(x: Array[i8, "M", "N"], out: Array[i32, "M", "N", "N"]):
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            for k in range(x.shape[1]):
                out[i, j, k] = x[i, j] * x[i, k]


@kernel
def running_sum(x: Array[i8, "M", "N"], out: Array[i32, "M"]):
    """`acc` flows from one j to the next: i only."""
    for i in prange(x.shape[0]):
        acc = i32(0)
        for j in range(x.shape[1]):
            acc += x[i, j]
        out[i] = acc


@kernel
def carried_local(x: Array[i8, "M", "N"], out: Array[i32, "M", "N"]):
    """The inner loop is the whole body, but `acc` is read before it is written (j > 0): i only."""
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            if j == 0:
                acc = i32(0)
            acc += x[i, j]
            out[i, j] = acc


@kernel
def prefix(x: Array[i32, "M", "N"]):
    """x[i, j] reads what the previous j stored: i only."""
    for i in prange(x.shape[0]):
        for j in range(1, x.shape[1]):
            x[i, j] = x[i, j - 1] + x[i, j]


@kernel
def last_wins(x: Array[i8, "M", "N"], out: Array[i32, "M"]):
    """Every j stores to out[i]: the last one must win, i only."""
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            out[i] = x[i, j]


@kernel
def triangle(x: Array[i8, "M", "N"], out: Array[i32, "M", "N"]):
    """The inner bound depends on i (not rectangular): i only."""
    for i in prange(x.shape[0]):
        for j in range(min(i, x.shape[1])):
            out[i, j] = x[i, j]


@kernel
def with_local_array(x: Array[i8, "M", "N"], out: Array[i32, "M", "N"]):
    """A local array allocated in each j: private to the iteration, (i, j)."""
    for i in prange(x.shape[0]):
        for j in range(x.shape[1]):
            buf = zeros(i32, 4)
            for c in unroll(range(4)):
                buf[c] = x[i, j] + c
            out[i, j] = buf[0] + buf[3]


CASES: list[tuple[Any, tuple[str, ...]]] = [
    (qk.qk_dense, ("i", "j")),
    (rows_cols, ("i", "j")),
    (nested_prange, ("i", "j")),
    (three_deep, ("i", "j", "k")),
    (with_local_array, ("i", "j")),
    (running_sum, ("i",)),
    (carried_local, ("i",)),
    (prefix, ("i",)),
    (last_wins, ("i",)),
    (triangle, ("i",)),
]


def _levels(k: Any) -> tuple[str, ...]:
    top = next(s for s in k.ir.body if isinstance(s, ir.For) and s.kind == "prange")
    known = {p.name for p in k.ir.params}

    def host(e: ir.Expr) -> bool:  # as the CUDA generator sees it: constants, dims, parameters
        return isinstance(e, ir.Const | ir.Dim) or (isinstance(e, ir.Var) and e.name in known)

    return tuple(level.var for level in grid_levels(top, host))


@pytest.mark.parametrize(("k", "want"), CASES, ids=[c[0].__name__ for c in CASES])
def test_grid_levels(k: Any, want: tuple[str, ...]) -> None:
    assert _levels(k) == want


@pytest.mark.parametrize("backend", ["numba-cuda"])
@pytest.mark.parametrize(("k", "want"), CASES, ids=[c[0].__name__ for c in CASES])
def test_grid_launch_agrees_with_python(k: Any, want: tuple[str, ...], backend: str) -> None:
    why = backends.available(backend)
    if why:
        pytest.skip(why)
    report = check(k, [backend], examples=15, dims={"M": 3, "N": 4})
    assert report.agreed == [backend], report
    args = random_arguments(k, {"M": 3, "N": 4, "D": 4}, seed=1)
    result = run(k, *args, backend=backend)
    assert result.grid is not None and [g[1] for g in result.grid] == [want], result.grid
    assert all(len(sizes) == len(want) for _, _, sizes in result.grid)


# ---- device-resident arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numba-cuda"])
def test_device_arrays_stay_on_the_device(backend: str) -> None:
    """Device arrays go in as they are and the written one is written in place (read back here to compare);
    their shape and dtype are checked like numpy arrays'; other backends refuse them by name."""
    why = backends.available(backend)
    if why:
        pytest.skip(why)
    from numba import cuda

    q, k, s = random_arguments(qk.qk_dense, {"M": 3, "N": 5, "D": 4}, seed=2)
    dq, dk, ds = (cuda.to_device(a) for a in (q, k, s))
    run(qk.qk_dense, dq, dk, ds, backend=backend)
    assert (ds.copy_to_host() == q.astype(np.int32) @ k.astype(np.int32).T).all()
    with pytest.raises(ArgumentError, match="argument `s` must have dtype int32"):
        run(qk.qk_dense, dq, dk, cuda.to_device(s.astype(np.int64)), backend=backend)
    with pytest.raises(ArgumentError, match="axis 1 is dim N = 5 elsewhere"):
        run(qk.qk_dense, dq, dk, cuda.to_device(s[:, :4].copy()), backend=backend)
    with pytest.raises(ArgumentError, match="`q` is a CUDA device array; backend 'numba-cpu' takes numpy arrays"):
        run(qk.qk_dense, dq, dk, ds, backend="numba-cpu")
