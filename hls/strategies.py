"""Hypothesis strategies that draw a kernel's arguments from its annotations."""

from __future__ import annotations

from typing import Any, Literal, cast

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from hls.lang import Kernel
from hls.types import ArrayType, BoolType, FloatType, ScalarType, StreamType, numpy_dtype


def scalar_values(t: ScalarType) -> st.SearchStrategy[Any]:
    """Every value of `t`, with its edges (min, max, 0, +-1) drawn often."""
    if isinstance(t, BoolType):
        return st.booleans()
    if isinstance(t, FloatType):
        width = cast(Literal[32, 64], t.width)  # NOTE: the only float types are f32 and f64
        return st.floats(-8.0, 8.0, width=width, allow_nan=False, allow_infinity=False)
    edges = sorted({v for v in (t.lo, t.lo + 1, -1, 0, 1, t.hi - 1, t.hi) if t.lo <= v <= t.hi})
    # NOTE: integers first, so that counterexamples shrink towards 0 rather than towards an edge.
    return st.one_of(st.integers(t.lo, t.hi), st.sampled_from(edges))


def arguments(
    kernel: Kernel, max_dim: int = 6, dims: dict[str, Any] | None = None, values: dict[str, Any] | None = None
) -> st.SearchStrategy[tuple[Any, ...]]:
    """Argument tuples for `kernel`: dims first (1..max_dim unless given), then each argument.

    `dims` maps a dim symbol to an int or a strategy; `values` maps a parameter
    to a strategy of its value (scalars) or of its elements (arrays). Both
    extend the kernel's own `dims=` / `values=` options. A stream port of a
    region is a 1-D array (the values fed in, or the array the values fill)
    whose length `dims` gives under the port's name (default 0..max_dim).
    """
    func = kernel.ir
    dim_opts = {**kernel.dims, **(dims or {})}
    value_opts = {**kernel.values, **(values or {})}
    symbols = sorted(
        {d for p in func.params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)}
    )

    @st.composite
    def draw_args(draw: st.DrawFn) -> tuple[Any, ...]:
        bound = {}
        for s in symbols:
            opt = dim_opts.get(s, st.integers(1, max_dim))
            bound[s] = opt if isinstance(opt, int) else draw(opt)
        out = []
        for p in func.params:
            t = p.type
            if isinstance(t, ArrayType | StreamType):
                shape: tuple[int, ...]
                if isinstance(t, StreamType):
                    opt = dim_opts.get(p.name, st.integers(0, max_dim))
                    shape = (opt if isinstance(opt, int) else draw(opt),)
                else:
                    shape = tuple(d if isinstance(d, int) else bound[d] for d in t.dims)
                elems = value_opts.get(p.name, scalar_values(t.elem))
                out.append(draw(hnp.arrays(numpy_dtype(t.elem), shape, elements=elems)))
            else:
                out.append(draw(value_opts.get(p.name, scalar_values(t))))
        return tuple(out)

    return draw_args()


def random_arguments(kernel: Kernel, dims: dict[str, int], seed: int = 0) -> tuple[Any, ...]:
    """Uniformly random arguments over each type's full range, for `attnhls run` and benchmarks."""
    rng = np.random.default_rng(seed)
    out = []
    for p in kernel.ir.params:
        t = p.type
        elem = t.elem if isinstance(t, ArrayType | StreamType) else t
        shape: tuple[int, ...] = ()
        if isinstance(t, StreamType):
            if p.name not in dims:
                raise ValueError(f"give the length of stream port `{p.name}`, e.g. --dims {p.name}=64")
            shape = (dims[p.name],)
        elif isinstance(t, ArrayType):
            missing = [d for d in t.dims if isinstance(d, str) and d not in dims]
            if missing:
                raise ValueError(
                    f"give a size for dim(s) {', '.join(missing)} of `{p.name}`, e.g. --dims "
                    + ",".join(f"{d}=64" for d in missing)
                )
            shape = tuple(d if isinstance(d, int) else dims[d] for d in t.dims)
        if isinstance(elem, FloatType):
            v = rng.standard_normal(shape).astype(numpy_dtype(elem))
        elif isinstance(elem, BoolType):
            v = rng.random(shape) < 0.5
        else:
            v = rng.integers(
                elem.lo,
                elem.hi,
                size=shape,
                endpoint=True,
                dtype=np.int64 if elem.signed or elem.width < 64 else np.uint64,
            ).astype(numpy_dtype(elem))
        out.append(v if isinstance(t, ArrayType | StreamType) else v.item())
    return tuple(out)


def fixed_dims(kernel: Kernel, size: int) -> dict[str, int] | None:
    """Every dim symbol of `kernel` fixed to `size` (except those its `dims=` option draws), or None when the
    kernel draws its whole input from its own `strategy=`.

    The hardware backends build one design per shape: fixed dims let `check` reuse one design.
    """
    if kernel.strategy is not None:
        return None
    symbols = {d for p in kernel.ir.params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)}
    return {s: size for s in sorted(symbols) if s not in kernel.dims}
