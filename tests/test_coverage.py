"""`check` measures which branch arms and loop bodies the drawn examples reached, warns at the line of each one
none reached, and compares every backend with a user's `reference=` function."""

from __future__ import annotations

import inspect
import os
import sys
import textwrap
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from backends.python import PythonBackend
from hls import Array, check, i8, i16, i32, kernel, runtime
from hls.checker import CheckFailure
from hls.cli import main
from hls.coverage import Coverage, CoverageWarning, Site
from hls.lang import Kernel
from hls.runtime import Bound, RunResult

HERE = os.path.relpath(__file__)


@kernel
def dilated(s: Array[i8, "N", "N"], out: Array[i32, "N", "N"]):
    """A dilated window: the scores at distance 8 and more count double; only N > 8 reaches that branch."""
    for i in range(s.shape[0]):
        for j in range(s.shape[1]):
            if j - i >= 8:
                out[i, j] = s[i, j] * 2
            else:
                out[i, j] = s[i, j]


@kernel
def far_tail(a: Array[i8, "N"], out: Array[i32, 1]):
    """Sums the elements past index 7: a loop whose body no array of 7 or fewer elements enters."""
    acc = i32(0)
    for i in range(8, a.shape[0]):
        acc += a[i]
        if a[i] < 0:
            acc += 1
    out[0] = acc


@kernel
def bucket(x: Array[i8, "N"], out: Array[i8, "N"]):
    for i in range(x.shape[0]):
        if x[i] > 100:
            out[i] = 2
        elif x[i] > 0:
            out[i] = 1
        elif x[i] == 0:
            out[i] = 0
        else:
            out[i] = -1


@kernel
def saturate(v: i32) -> i8:
    """Clamp to int8: a branch inside a called kernel."""
    r = v
    if v > 127:
        r = 127
    if v < -128:
        r = -128
    return r


@kernel
def saturate_all(a: Array[i16, "N"], out: Array[i8, "N"]):
    for i in range(a.shape[0]):
        out[i] = saturate(a[i] // 2)


@kernel
def guarded(a: Array[i8, "N"], out: Array[i8, "N"]):
    if a.shape[0] > 0:
        out[0] = a[0]


@kernel
def count_positive(a: Array[i8, "N"]) -> i32:
    n = i32(0)
    for i in range(a.shape[0]):
        if a[i] > 0:
            n += 1
    return n


@kernel
def clamp_wrong(a: Array[i16, "N"], out: Array[i16, "N"]):
    """Meant to clamp to -100..100, but the upper bound is off by one."""
    for i in range(a.shape[0]):
        out[i] = min(max(a[i], -100), 101)


def _line(k: Kernel, text: str) -> int:
    """The file line of the first source line of kernel `k` that starts with `text`."""
    lines, first = inspect.getsourcelines(k.fn)
    return first + next(n for n, line in enumerate(lines) if line.strip().startswith(text))


def _missed(coverage: Coverage | None) -> list[tuple[int, str, str]]:
    assert coverage is not None
    return [(s.loc.line, s.text, s.arm) for s in coverage.missed()]


@pytest.fixture
def no_coverage_warning() -> Iterator[None]:
    """Turn a CoverageWarning into an error inside the test."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", CoverageWarning)
        yield


def test_unreached_branch_warns_at_its_line() -> None:
    line = _line(dilated, "if j - i >= 8")
    want = (
        f"{HERE}:{line}: branch `if j - i >= 8` (then) never taken in 100 examples; widen the inputs: "
        f'check(..., dims={{"N": st.integers(1, 24)}}) or max_dim=24'
    )
    with pytest.warns(CoverageWarning) as record:
        report = check(dilated, backends=["python"])
    assert [str(w.message) for w in record] == [want]
    assert record[0].filename == __file__  # points at the caller of check, not into hls
    assert report.warnings == [want]
    assert f"\n  warning: {want}" in str(report)
    assert report.coverage is not None and report.coverage.examples == 100
    assert _missed(report.coverage) == [(line, "if j - i >= 8", "then")]


@pytest.mark.usefixtures("no_coverage_warning")
@pytest.mark.parametrize(
    "options",
    [{"dims": {"N": 16}}, {"dims": {"N": st.integers(1, 16)}}, {"max_dim": 16}],
    ids=["fixed", "drawn", "max_dim"],
)
def test_wider_dims_reach_the_branch(options: dict) -> None:
    report = check(dilated, backends=["python"], examples=30, **options)
    assert report.warnings == []
    assert report.coverage is not None
    then = next(s for s in report.coverage.sites if s.text == "if j - i >= 8" and s.arm == "then")
    assert 0 < report.coverage.counts[then] <= 30
    assert "warning" not in str(report)


def test_loop_body_never_entered_hides_what_is_inside_it() -> None:
    line = _line(far_tail, "for i in range(8")
    with pytest.warns(CoverageWarning):
        report = check(far_tail, backends=["python"], examples=20)
    assert report.warnings == [
        f"{HERE}:{line}: loop body `for i in range(8, a.shape[0])` never entered in 20 examples (nor the 2 branch "
        f'arm(s) and loop(s) inside it); widen the inputs: check(..., dims={{"N": st.integers(1, 24)}}) or max_dim=24'
    ]
    assert report.coverage is not None
    assert [report.coverage.counts[s] for s in report.coverage.sites] == [0, 0, 0]


@pytest.mark.usefixtures("no_coverage_warning")
def test_loop_body_entered_with_longer_arrays() -> None:
    report = check(far_tail, backends=["python"], examples=20, dims={"N": 12})
    assert report.coverage is not None
    assert all(n > 0 for n in report.coverage.counts.values())


def test_elif_arms_are_counted_each() -> None:
    lines = [_line(bucket, t) for t in ("if x[i] > 100", "elif x[i] > 0", "elif x[i] == 0")]
    with pytest.warns(CoverageWarning):
        report = check(bucket, backends=["python"], examples=50, values={"x": st.integers(1, 5)})
    assert report.coverage is not None
    # An elif chain has one site per arm: its else is the next elif, not a site of its own.
    assert [(s.loc.line, s.arm) for s in report.coverage.sites] == [
        (_line(bucket, "for i"), "body"),
        (lines[0], "then"),
        (lines[1], "then"),
        (lines[2], "then"),
        (lines[2], "else"),
    ]
    assert _missed(report.coverage) == [
        (lines[0], "if x[i] > 100", "then"),
        (lines[2], "elif x[i] == 0", "then"),
        (lines[2], "elif x[i] == 0", "else"),
    ]
    assert report.warnings[1].startswith(
        f"{HERE}:{lines[2]}: branch `elif x[i] == 0` (then) never taken in 50 examples; "
    )


@pytest.mark.usefixtures("no_coverage_warning")
def test_every_elif_arm_reached_by_the_full_range() -> None:
    report = check(bucket, backends=["python"], examples=100)
    assert report.coverage is not None and min(report.coverage.counts.values()) > 0


def test_branch_in_a_called_kernel_is_counted() -> None:
    with pytest.warns(CoverageWarning) as record:
        report = check(saturate_all, backends=["python"], examples=50, values={"a": st.integers(-200, 200)})
    assert report.coverage is not None
    by_line = {(s.loc.line, s.arm): n for s, n in report.coverage.counts.items()}
    assert by_line[(_line(saturate, "if v > 127"), "then")] == 0  # a // 2 <= 100
    assert by_line[(_line(saturate, "if v > 127"), "else")] == 50
    assert [str(w.message).split(": branch")[0] for w in record] == [
        f"{HERE}:{_line(saturate, 'if v > 127')}",
        f"{HERE}:{_line(saturate, 'if v < -128')}",
    ]


def test_condition_never_false_warns() -> None:
    with pytest.warns(CoverageWarning, match=r"condition `if a.shape\[0\] > 0` never false in 10 examples"):
        report = check(guarded, backends=["python"], examples=10)
    assert _missed(report.coverage) == [(_line(guarded, "if a.shape"), "if a.shape[0] > 0", "else")]
    assert report.coverage is not None and report.coverage.sites[1].implicit


def test_plain_python_runs_have_no_probes() -> None:
    assert "_cov[" not in PythonBackend().source(dilated)


class _Uncovered(PythonBackend):
    """A reference backend that records no coverage (the protocol's default)."""

    def run_covered(self, bound: Bound) -> tuple[RunResult, frozenset[Site]]:
        raise NotImplementedError


@pytest.mark.usefixtures("no_coverage_warning")
def test_reference_backend_without_coverage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(runtime._REGISTRY, "python", _Uncovered())
    report = check(dilated, backends=["python"], examples=10)
    assert report.coverage is None and report.warnings == []


@pytest.mark.usefixtures("no_coverage_warning")
def test_coverage_off() -> None:
    report = check(dilated, backends=["python"], examples=10, coverage=False)
    assert report.coverage is None and report.warnings == []


# ---- reference= ----------------------------------------------------------------------------------------------------


def _dilated_in_place(s: np.ndarray, out: np.ndarray) -> None:
    n = s.shape[0]
    i, j = np.indices((n, n))
    out[...] = np.where(j - i >= 8, 2 * s.astype(np.int32), s)


def _dilated_dict(s: np.ndarray, out: np.ndarray) -> dict[str, np.ndarray]:
    n = s.shape[0]
    i, j = np.indices((n, n))
    return {"out": np.where(j - i >= 8, 2 * s.astype(np.int64), s)}


@pytest.mark.usefixtures("no_coverage_warning")
@pytest.mark.parametrize("reference", [_dilated_in_place, _dilated_dict], ids=["in_place", "dict"])
def test_reference_agrees(reference) -> None:
    report = check(dilated, backends=["python"], examples=40, max_dim=12, reference=reference)
    assert report.reference == reference.__qualname__
    assert str(report).endswith(f"; python agrees with reference={reference.__qualname__}")


@pytest.mark.usefixtures("no_coverage_warning")
def test_reference_return_value_agrees() -> None:
    report = check(count_positive, backends=["python"], examples=40, reference=lambda a: int((a > 0).sum()))
    assert report.reference == "test_reference_return_value_agrees.<locals>.<lambda>"


def _clamp(a: np.ndarray, out: np.ndarray) -> None:
    out[...] = np.clip(a, -100, 100)


def test_reference_catches_a_wrong_kernel() -> None:
    # Every backend agrees with python, but the kernel is wrong: only the reference sees it, on the shrunk input.
    with pytest.raises(CheckFailure) as info:
        check(clamp_wrong, backends=["python"], examples=200, reference=_clamp)
    assert str(info.value) == (
        "clamp_wrong: disagrees with reference=_clamp\n"
        "python disagrees with reference=_clamp:\n"
        "  array `out` differs at [0] reference=100 python=101\n"
        "input:\n"
        "  a = np.array([101], dtype=np.int16)\n"
        "  out = np.array([0], dtype=np.int16)"
    )


def test_reference_catches_a_wrong_return_value() -> None:
    with pytest.raises(CheckFailure, match=r"return value: reference=0 python=1\ninput:\n  a = np.array\(\[1\]"):
        check(count_positive, backends=["python"], examples=50, reference=lambda a: int((a > 1).sum()))


def test_reference_that_raises_is_reported() -> None:
    def boom(a: np.ndarray) -> int:
        raise RuntimeError("no")

    with pytest.raises(
        CheckFailure,
        match=r"count_positive: reference=.*boom failed\nreference=.*boom raised "
        r"RuntimeError: no\ninput:",
    ):
        check(count_positive, backends=["python"], examples=5, reference=boom)


def test_reference_returning_an_unknown_array_is_refused() -> None:
    with pytest.raises(TypeError, match=r"returned arrays for 'z', which are not array parameters of dilated"):
        check(dilated, backends=["python"], examples=5, reference=lambda s, out: {"z": out})


# ---- the command line ----------------------------------------------------------------------------------------------


def test_cli_check_prints_the_warnings_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "covmod.py").write_text(
        textwrap.dedent("""
        from hls import Array, i8, kernel

        @kernel
        def late(a: Array[i8, "N"], out: Array[i8, "N"]):
            for i in range(a.shape[0]):
                if i >= 10:
                    out[i] = a[i]
    """)
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        assert main(["check", "covmod:late", "--backends", "python", "--examples", "10"]) == 0
    out = capsys.readouterr().out
    assert "\n  warning: covmod.py:7: branch `if i >= 10` (then) never taken in 10 examples; " in out
    assert not [w for w in record if issubclass(w.category, CoverageWarning)]
