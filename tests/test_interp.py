"""The IR interpreter agrees with the `python` backend: the passes' oracle is the reference semantics.

Every catalog kernel (those tagged float aside: a few untagged ones still
use floats, and agree too) runs on Hypothesis-drawn inputs under both; the
outputs, return values and exceptions must match. Hand-written kernels pin
the semantics the interpreter itself must get right.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

import backends
from hls import Array, Int, UInt, i8, i16, i32, i64, kernel, prange, u8, zeros
from hls.ir import interp
from hls.ir import nodes as ir
from hls.ir.verify import IRError
from hls.passes import collect_callees
from hls.strategies import arguments
from hls.types import IntType, bool_
from tests.catalog import CASES

_ERRORS = (IndexError, ValueError, ZeroDivisionError)


def _python(k: Any, args: tuple[Any, ...]) -> tuple:
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        value = backends.run(k, *work, backend="python").value
    except _ERRORS as err:
        return ("error", type(err).__name__)
    return ("ok", value, [a.tolist() for a in work if isinstance(a, np.ndarray)])


def _interp(k: Any, args: tuple[Any, ...]) -> tuple:
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        value = interp.run(k.ir, {p.name: a for p, a in zip(k.ir.params, work)}, collect_callees(k))
    except _ERRORS as err:
        return ("error", type(err).__name__)
    return ("ok", value, [a.tolist() for a in work if isinstance(a, np.ndarray)])


def _agree(k: Any, examples: int) -> None:
    @seed(0)
    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(k.strategy if k.strategy is not None else arguments(k, max_dim=5))
    def trial(args: tuple[Any, ...]) -> None:
        assert _interp(k, args) == _python(k, args)

    trial()


@pytest.mark.parametrize("case", [c for c in CASES if "float" not in c.tags], ids=lambda c: c.name)
def test_interpreter_agrees_with_the_python_backend(case: Any) -> None:
    _agree(case.kernel, 5 if case.name == "sdpa_fixed" else 20)


# ---- hand-written semantics ------------------------------------------------------------------------------------


@kernel(values={"s": st.integers(-2, 66), "b": st.integers(-2, 2)})
def edges(a: Array[i64, "N"], s: Array[i8, "N"], b: Array[i16, "N"], idx: Array[i32, "N"], out: Array[i64, "N"]):
    """Shifts out of range, division by zero, indices out of range: each raises its own error."""
    for i in range(a.shape[0]):
        out[i] = (a[i] >> s[i]) + a[i] // b[i] + a[idx[i] % 7]


@kernel
def narrow_state(a: Array[i16, "N"], out: Array[Int(5), "N"], flags: Array[bool, "N"]) -> UInt(3):
    """Wrap at an assignment, at an odd-width store, at the return; bools keep their truth; locals start at 0."""
    t = UInt(3)(0)
    b: bool = False
    for i in range(a.shape[0]):
        t = a[i] + t
        b = a[i]
        out[i] = a[i] * 3
        flags[i] = b
    return t + 9


@kernel
def per_iteration(a: Array[i16, "N"], out: Array[i32, "N"]):
    """Locals of a prange body restart at zero each iteration; a local array is zero-filled."""
    for i in prange(a.shape[0]):
        if a[i] > 0:
            c = i32(a[i])
        buf = zeros(u8, 3)
        buf[i % 3] = 250 + a[i]
        out[i] = c + buf[0] + buf[1] + buf[2] + buf.shape[0]


@kernel
def add_one(x: i8) -> i16:
    return x + 1


@kernel
def caller(a: Array[i8, "N"], out: Array[i16, "N"]):
    for i in range(a.shape[0]):
        out[i] = add_one(a[i]) * 2


@pytest.mark.parametrize("k", [edges, narrow_state, per_iteration, caller], ids=lambda k: k.__name__)
def test_hand_written_kernels_agree(k: Any) -> None:
    _agree(k, 30)


def test_edges_raise_each_error() -> None:
    base = {
        "a": np.array([5], np.int64),
        "s": np.array([1], np.int8),
        "b": np.array([1], np.int16),
        "idx": np.array([0], np.int32),
        "out": np.zeros(1, np.int64),
    }
    assert interp.run(edges.ir, base) is None and base["out"][0] == 5 // 2 + 5 + 5
    for name, value, error in [
        ("s", 64, ValueError),
        ("s", -1, ValueError),
        ("b", 0, ZeroDivisionError),
        ("idx", 3, IndexError),
    ]:
        args = {k: v.copy() for k, v in base.items()} | {name: np.array([value], base[name].dtype)}
        with pytest.raises(error):
            interp.run(edges.ir, args)


def test_narrow_state_wraps_where_values_are_stored() -> None:
    a = np.array([7, -1, 300], np.int16)
    out, flags = np.zeros(3, np.int8), np.zeros(3, np.bool_)
    value = interp.run(narrow_state.ir, {"a": a, "out": out, "flags": flags})
    t = (7 + 0) % 8
    t = (-1 + t) % 8
    t = (300 + t) % 8
    assert value == (t + 9) % 8
    assert out.tolist() == [Int(5).wrap(21), -3, Int(5).wrap(900)]
    assert flags.tolist() == [True, True, True]


def test_a_predicated_store_evaluates_nothing_when_false() -> None:
    fn = caller.ir
    body = fn.body[0].body[0]
    loc = body.loc
    bad_index = ir.Const(99, IntType(7, False), loc)
    store = dataclasses.replace(body, indices=(bad_index,), pred=ir.Const(0, bool_, loc))
    fn = dataclasses.replace(fn, body=(dataclasses.replace(fn.body[0], body=(store,)),))
    out = np.zeros(2, np.int16)
    interp.run(fn, {"a": np.array([1, 2], np.int8), "out": out}, collect_callees(caller))
    assert out.tolist() == [0, 0]


def test_types_too_narrow_are_caught() -> None:
    fn = add_one.ir
    ret = fn.body[-1]
    narrowed = dataclasses.replace(ret.value, type=IntType(7, True))  # x + 1 needs 9 bits
    fn = dataclasses.replace(fn, body=(dataclasses.replace(ret, value=narrowed),))
    assert interp.run(fn, {"x": 3}, check_types=False) == 4
    with pytest.raises(IRError, match="outside its type Int\\(7\\)"):
        interp.run(fn, {"x": 100})


def test_missing_arguments_and_callees_are_reported() -> None:
    with pytest.raises(ValueError, match="missing arguments: x"):
        interp.run(add_one.ir, {})
    with pytest.raises(IRError, match="no IR given for callee"):
        interp.run(caller.ir, {"a": np.zeros(1, np.int8), "out": np.zeros(1, np.int16)})


def test_float_kernels_run_as_the_reference_does() -> None:
    from algorithms import detect, dma, sdpa

    for k in (sdpa.exp_neg_f32, detect.vs_accumulate):
        _agree(k, 5)
    for k in (dma.dma_topk_threshold, dma.dma_tile_flags):  # float64 scores and thresholds
        _agree(k, 20)
