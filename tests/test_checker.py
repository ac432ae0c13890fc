"""The checker reports disagreement with a shrunk counterexample and never counts a skipped backend."""

from __future__ import annotations

import pytest

import backends
from algorithms.examples import wrap_add
from algorithms.qk import qk_dense
from backends.python import PythonBackend
from hls import Array, check, i32, kernel, runtime
from hls.checker import CheckFailure
from hls.runtime import Bound, RunResult


class _Corrupting(PythonBackend):
    """Runs the reference, then flips the first output element when `when(args)` holds."""

    def __init__(self, name: str, when) -> None:
        super().__init__()
        self.name = name
        self.when = when

    def run(self, bound: Bound) -> RunResult:
        result = super().run(bound)
        out = bound.values[-1]
        if out.size and self.when(bound.values):
            out.flat[0] ^= 1
        return RunResult(self.name, result.value)


class _Missing(PythonBackend):
    name = "missing"

    def unavailable(self) -> str:
        return "needs the frobnicator (pip install frobnicator)"


def test_disagreement_is_reported_with_the_input(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runtime._REGISTRY, "broken", _Corrupting("broken", lambda args: True))
    with pytest.raises(CheckFailure) as info:
        check(qk_dense, backends=["broken"], examples=20)
    text = str(info.value)
    assert "qk_dense: backends disagree" in text
    assert "broken disagrees with python:" in text
    assert "array `s` differs at [0, 0]" in text
    assert "input:\n  q = np.array(" in text


def test_counterexample_is_shrunk(monkeypatch: pytest.MonkeyPatch) -> None:
    # Wrong only when some a[i] > 100: Hypothesis must shrink to a single element equal to 101.
    monkeypatch.setitem(runtime._REGISTRY, "broken", _Corrupting("broken", lambda args: (args[0] > 100).any()))
    with pytest.raises(CheckFailure) as info:
        check(wrap_add, backends=["broken"], examples=200)
    text = str(info.value)
    assert "a = np.array([101], dtype=np.int8)" in text
    assert "b = np.array([0], dtype=np.int8)" in text


def test_unavailable_backend_is_listed_not_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runtime._REGISTRY, "missing", _Missing())
    report = check(wrap_add, backends=["missing", "numba-cpu"], examples=5)
    assert report.agreed == ["numba-cpu"]
    assert report.skipped == {"missing": "needs the frobnicator (pip install frobnicator)"}
    assert "NOT RUN missing: needs the frobnicator" in str(report)


def test_reference_failure_is_reported() -> None:
    @kernel
    def divide(a: Array[i32, "N"], out: Array[i32, "N"]):
        for i in range(a.shape[0]):
            out[i] = 100 // a[i]

    with pytest.raises(CheckFailure) as info:
        check(divide, backends=["numba-cpu"], examples=50)
    assert "the python reference raised ZeroDivisionError" in str(info.value)
    assert "a = np.array([0]" in str(info.value)


def test_unknown_backend_name() -> None:
    with pytest.raises(ValueError, match="unknown backend 'verilog'; known backends: python, numba-cpu"):
        check(wrap_add, backends=["verilog"])


def test_all_means_every_registered_backend() -> None:
    report = check(wrap_add, backends="all", examples=5)
    assert report.agreed + list(report.skipped) == [n for n in backends.names() if n != "python"]
