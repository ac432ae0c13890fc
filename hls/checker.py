"""`check`: run a kernel on several backends with Hypothesis-drawn inputs and compare."""

from __future__ import annotations

import hashlib
import os
import sys
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hseed

from hls import runtime as registry
from hls.args import bind
from hls.coverage import Coverage, CoverageWarning
from hls.errors import KernelError
from hls.lang import Kernel
from hls.strategies import arguments
from hls.types import ArrayType, FloatType, IntType, StreamType

REFERENCE = "python"


@dataclass
class CheckReport:
    """Which backends agreed with the Python reference (and with `reference=`), which could not run, and coverage.

    `coverage` counts, per branch arm and loop body, the examples whose `python` run reached it
    (None when the reference backend records none); `warnings` names, at its source line, each
    one no example reached: the check passed without testing it.
    """

    kernel: str
    examples: int
    agreed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    reference: str | None = None
    coverage: Coverage | None = None
    warnings: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.kernel}: {self.examples} examples; agree with {REFERENCE}: {', '.join(self.agreed) or 'none'}"
        if self.reference is not None:
            matched = [REFERENCE, *self.agreed]
            text += f"; {', '.join(matched)} agree{'s' if len(matched) == 1 else ''} with reference={self.reference}"
        for name, why in self.skipped.items():
            text += f"\n  NOT RUN {name}: {why}"
        for line in self.warnings:
            text += f"\n  warning: {line}"
        return text


class CheckFailure(AssertionError):
    """Backends disagree (or the reference failed); the message holds a minimal counterexample."""


class _Mismatch(AssertionError):
    def __init__(
        self,
        message: str,
        headline: str = "backends disagree",
        backend: str | None = None,
        inputs: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(message)
        self.headline = headline
        self.backend = backend  # the backend that disagreed (None: the reference or reference= failed)
        self.inputs = inputs  # the counterexample, in parameter order


def check(
    kernel: Kernel,
    backends: Any = ("python", "numba-cpu"),
    examples: int = 100,
    *,
    seed: int | None = 0,
    max_dim: int = 6,
    dims: dict[str, Any] | None = None,
    values: dict[str, Any] | None = None,
    strategy: Any = None,
    reference: Callable[..., Any] | None = None,
    coverage: bool = True,
    progress: Callable[[int, int], None] | None = None,
    artifacts: str | os.PathLike[str] | None = None,
) -> CheckReport:
    """Check that every backend in `backends` ("all" for every registered one) agrees with `python`.

    Inputs come from `strategy`, else the kernel's own strategy, else its
    annotations (see `hls.strategies.arguments`). Integer results must match
    bit for bit; float results within a few ulp-scaled tolerances. A
    disagreement raises `CheckFailure` with the shrunk counterexample. Backends
    that cannot run here are listed in `report.skipped`, never counted as agreeing.
    `seed=None` draws fresh random examples.

    `reference(*args)` (a numpy function, say) takes copies of the kernel's arguments and
    gives the expected result: a dict {array parameter: expected array} compares those
    arrays; None (it filled the arrays in place) compares every array the kernel writes;
    any other value is the expected return value. Every backend, `python` included, is
    compared with it under the same rules.

    The `python` run of each example records which branch arms and loop bodies it reached
    (`report.coverage`); each one no example reached is named in `report.warnings` and
    emitted as a `hls.coverage.CoverageWarning`. `coverage=False` measures nothing (for runs that
    draw few examples on purpose, such as generated kernels).

    When a hardware backend (one with waveforms: myhdl, verilator) disagrees, the counterexample is run on it
    again with a waveform, and its `inputs.npz` (every argument by parameter name) and `wave.vcd` are saved in
    `<artifacts>/<kernel>-<backend>-<hash of the inputs>/` (default artifacts: `.attnhls/counterexamples` under
    the current folder); the CheckFailure message names both files.
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"check() takes a @kernel function, got {kernel!r}")
    try:
        kernel.ir  # noqa: B018 - frontend errors first, at the user's line
    except KernelError as err:
        raise err.with_traceback(None) from None
    names = _backend_names(backends)
    report = CheckReport(kernel.__name__, examples, reference=None if reference is None else _name(reference))
    runnable = []
    for name in names:
        why = registry.available(name)
        if not why:
            unsupported = registry.get(name).unsupported(kernel)
            why = f"cannot run this kernel: {unsupported}" if unsupported else None
        if why:
            report.skipped[name] = why
        else:
            runnable.append(name)
    others = [n for n in runnable if n != REFERENCE]
    strat = (
        strategy
        if strategy is not None
        else kernel.strategy
        if kernel.strategy is not None
        else arguments(kernel, max_dim=max_dim, dims=dims, values=values)
    )
    calls = [0]
    measured: Coverage | None = Coverage.of(kernel) if coverage else None

    misuse: list[TypeError] = []  # a reference= that gives something check cannot compare: raised once, unshrunk

    def trial(args: tuple[Any, ...]) -> None:
        nonlocal measured
        if misuse:
            return
        calls[0] += 1
        if progress is not None:
            progress(calls[0], examples)
        ref_arrays, ref_value, reached = _run_reference(kernel, args, measured is not None)
        if reached is None:
            measured = None  # not asked for, or the registered reference backend records none
        elif measured is not None:
            measured.record(reached)
        try:
            want = None if reference is None else _expected(kernel, args, reference)
        except TypeError as err:
            misuse.append(err)
            return
        if want is not None:
            _compare_expected(kernel, args, want, REFERENCE, ref_arrays, ref_value)
        _compare(kernel, args, others, ref_arrays, ref_value, want)

    test = settings(
        max_examples=examples, deadline=None, database=None, print_blob=False, suppress_health_check=list(HealthCheck)
    )(given(strat)(trial))
    if seed is not None:
        test = hseed(seed)(test)
    try:
        test()
    except _Mismatch as err:
        message = f"{kernel.__name__}: {err.headline}\n{err}"
        if err.backend is not None and registry.get(err.backend).waveforms:
            message += "\n" + _save_counterexample(kernel, err.inputs, err.backend, artifacts)
        raise CheckFailure(message) from None
    if misuse:
        raise misuse[0].with_traceback(None) from None
    report.agreed = others
    report.coverage = measured
    if measured is not None:
        custom = strategy is not None or kernel.strategy is not None
        report.warnings = measured.format_warnings(_widen_hint(kernel, max_dim, custom))
        for line in report.warnings:
            warnings.warn(CoverageWarning(line), stacklevel=_caller_level())
    return report


def _caller_level() -> int:
    """The `stacklevel` of `check`'s first caller outside the hls package (`hls.check` wraps this `check`)."""
    package = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame.f_back is not None and os.path.abspath(frame.f_code.co_filename).startswith(package):
        frame, level = frame.f_back, level + 1
    return level


def _widen_hint(kernel: Kernel, max_dim: int, custom_strategy: bool) -> str:
    """How to draw inputs that reach more of the kernel, for the coverage warnings."""
    if custom_strategy:
        return "draw inputs that reach it (the strategy= given to check, or the kernel's own)"
    params = kernel.ir.params
    symbols = sorted({d for p in params if isinstance(p.type, ArrayType) for d in p.type.dims if isinstance(d, str)})
    wide = max(4 * max_dim, 16)
    scalars = [p for p in params if not isinstance(p.type, ArrayType)]
    ints = [p for p in scalars if isinstance(p.type, IntType)]  # NOTE: a bool or float scalar rarely needs widening
    first = (ints or scalars)[:1]
    strategy = (
        {IntType: "st.integers(...)", FloatType: "st.floats(...)"}.get(type(first[0].type), "st.just(...)")
        if first
        else ""
    )
    values = f'values={{"{first[0].name}": {strategy}}}' if first else ""
    if not symbols:
        return f"choose inputs that reach it: check(..., {values or 'values=...'})"
    dims = ", ".join(f'"{s}": st.integers(1, {wide})' for s in symbols)
    return f"widen the inputs: check(..., dims={{{dims}}}) or max_dim={wide}" + (f", or {values}" if values else "")


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None) or repr(fn)


def _backend_names(spec: Any) -> list[str]:
    names = registry.names() if spec == "all" else [spec] if isinstance(spec, str) else list(spec)
    for n in names:
        registry.get(n)  # unknown names raise here, listing the known ones
    return [REFERENCE] + [n for n in names if n != REFERENCE]


def _run_copy(kernel: Kernel, args: tuple[Any, ...], backend: str) -> tuple[list[Any], Any]:
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    result = registry.run(kernel, *work, backend=backend)
    return work, result.value


def _run_reference(
    kernel: Kernel, args: tuple[Any, ...], covered: bool
) -> tuple[list[Any], Any, frozenset[Any] | None]:
    """Run `python` on copies of `args`: the output arrays, the return value, and the coverage sites it reached
    (None when the registered reference backend records none)."""
    try:
        if covered:
            work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
            try:
                result, reached = registry.get(REFERENCE).run_covered(bind(kernel, tuple(work), {}))
                return work, result.value, reached
            except NotImplementedError:
                pass
        arrays, value = _run_copy(kernel, args, REFERENCE)
        return arrays, value, None
    except Exception as err:  # noqa: BLE001 - any failure of the reference is reported with its input
        raise _Mismatch(
            f"the {REFERENCE} reference raised {type(err).__name__}: {err}\n"
            f"{_describe_args(kernel, args)}\nconstrain the inputs (values=/dims=/strategy=) "
            f"or fix the kernel"
        ) from None


def _compare(
    kernel: Kernel,
    args: tuple[Any, ...],
    others: list[str],
    ref_arrays: list[Any],
    ref_value: Any,
    want: _Expected | None,
) -> None:
    params = kernel.ir.params
    for name in others:
        try:
            arrays, value = _run_copy(kernel, args, name)
        except Exception as err:  # noqa: BLE001
            raise _Mismatch(
                f"{name} raised {type(err).__name__}: {err} where {REFERENCE} did not\n{_describe_args(kernel, args)}",
                backend=name,
                inputs=args,
            ) from None
        problems = []
        for p, ref, got in zip(params, ref_arrays, arrays):
            if isinstance(p.type, ArrayType | StreamType):  # a stream port's array: what it fed, or what it got
                problems += _array_problems(p.name, p.type.elem, REFERENCE, ref, name, got)
        if not _same_value(ref_value, value):
            problems.append(f"return value: {REFERENCE}={ref_value!r} {name}={value!r}")
        if problems:
            raise _Mismatch(
                f"{name} disagrees with {REFERENCE}:\n  " + "\n  ".join(problems) + f"\n{_describe_args(kernel, args)}",
                backend=name,
                inputs=args,
            )
        if want is not None:
            _compare_expected(kernel, args, want, name, arrays, value)


@dataclass(frozen=True)
class _Expected:
    """What `reference=` gave for one input: expected arrays by parameter name, or an expected return value."""

    label: str
    arrays: dict[str, np.ndarray]
    value: Any = None
    has_value: bool = False


def _expected(kernel: Kernel, args: tuple[Any, ...], reference: Callable[..., Any]) -> _Expected:
    """Call `reference` on copies of `args` and interpret what it gives (see `check`)."""
    label = f"reference={_name(reference)}"
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        out = reference(*work)
    except Exception as err:  # noqa: BLE001 - reported with its input
        raise _Mismatch(
            f"{label} raised {type(err).__name__}: {err}\n{_describe_args(kernel, args)}", f"{label} failed"
        ) from None
    params = kernel.ir.params
    arrays = [p.name for p in params if isinstance(p.type, ArrayType | StreamType)]
    if isinstance(out, dict):
        unknown = [n for n in out if n not in arrays]
        if unknown:
            raise TypeError(
                f"{label} returned arrays for {', '.join(map(repr, unknown))}, which are not array "
                f"parameters of {kernel.__name__} ({', '.join(arrays)})"
            )
        return _Expected(label, {n: np.asarray(v) for n, v in out.items()})
    if out is None:
        written = [n for n in arrays if n in kernel.written_arrays]
        if not written:
            raise TypeError(
                f"{label} returned None, but {kernel.__name__} writes no array: return the expected "
                f"value, or a dict {{array parameter: expected array}}"
            )
        by_name = {p.name: a for p, a in zip(params, work)}
        return _Expected(label, {n: by_name[n] for n in written})
    if kernel.ir.ret is None:
        raise TypeError(
            f"{label} returned {type(out).__name__}, but {kernel.__name__} returns nothing: return None "
            f"after filling the output arrays in place, or a dict {{array parameter: expected array}}"
        )
    return _Expected(label, {}, out, has_value=True)


def _compare_expected(
    kernel: Kernel, args: tuple[Any, ...], want: _Expected, name: str, arrays: list[Any], value: Any
) -> None:
    """Compare backend `name`'s outputs with what `reference=` expects; raise _Mismatch naming both."""
    params = kernel.ir.params
    by_name = {p.name: (p, a) for p, a in zip(params, arrays)}
    problems = []
    for pname, expected in want.arrays.items():
        p, got = by_name[pname]
        assert isinstance(p.type, ArrayType | StreamType)
        problems += _array_problems(pname, p.type.elem, "reference", expected, name, got)
    if want.has_value and not _value_matches(want.value, value, kernel.ir.ret):
        problems.append(f"return value: reference={want.value!r} {name}={value!r}")
    if problems:
        raise _Mismatch(
            f"{name} disagrees with {want.label}:\n  " + "\n  ".join(problems) + f"\n{_describe_args(kernel, args)}",
            f"disagrees with {want.label}",
            backend=name,
            inputs=args,
        )


def _array_problems(
    pname: str, elem: Any, want_name: str, want: np.ndarray, got_name: str, got: np.ndarray
) -> list[str]:
    """[] when `got` matches `want` (bit for bit, or within the float tolerance), else what differs where."""
    if want.shape != got.shape:
        return [f"array `{pname}` has shape {got.shape} on {got_name}, {want.shape} on {want_name}"]
    close = _close(want, got, elem)
    if close.all():
        return []
    where = "; ".join(
        f"[{', '.join(map(str, ix))}] {want_name}={want[tuple(ix)].item()!r} {got_name}={got[tuple(ix)].item()!r}"
        for ix in np.argwhere(~close)[:5]
    )
    return [f"array `{pname}` differs at {where}"]


def _value_matches(want: Any, got: Any, t: Any) -> bool:
    """A return value against `reference=`'s: floats within the tolerance, anything else exactly (by value)."""
    if isinstance(t, FloatType):
        rtol = 1e-5 if t.width == 32 else 1e-12
        return bool(np.isclose(float(want), got, rtol=rtol, atol=rtol, equal_nan=True))
    try:
        return bool(want == got) and int(want) == int(got)
    except (TypeError, ValueError):
        return False


def _close(want: np.ndarray, got: np.ndarray, elem: Any) -> np.ndarray:
    if isinstance(elem, FloatType):
        rtol = 1e-5 if elem.width == 32 else 1e-12
        return np.isclose(want, got, rtol=rtol, atol=rtol, equal_nan=True)
    return want == got


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return bool(np.isclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True))
    return a == b and type(a) is type(b)


def _describe_args(kernel: Kernel, args: tuple[Any, ...]) -> str:
    lines = ["input:"]
    for p, a in zip(kernel.ir.params, args):
        if isinstance(a, np.ndarray):
            body = np.array2string(a, threshold=200, max_line_width=100).replace("\n", "\n      ")
            lines.append(f"  {p.name} = np.array({body}, dtype=np.{a.dtype})")
        else:
            lines.append(f"  {p.name} = {a!r}")
    return "\n".join(lines)


def _save_counterexample(
    kernel: Kernel, args: tuple[Any, ...], backend: str, artifacts: str | os.PathLike[str] | None
) -> str:
    """Save the counterexample's inputs and its waveform on `backend`; the lines naming both for the message."""
    params = [p.name for p in kernel.ir.params]
    h = hashlib.sha256()
    for name, a in zip(params, args):
        h.update(f"{name}:{np.asarray(a).dtype}:{np.shape(a)}:".encode() + np.asarray(a).tobytes())
    root = Path(artifacts) if artifacts is not None else Path.cwd() / ".attnhls" / "counterexamples"
    folder = (root / f"{kernel.__name__}-{backend}-{h.hexdigest()[:12]}").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    inputs, wave = folder / "inputs.npz", folder / "wave.vcd"
    arrays: dict[str, Any] = {name: np.asarray(a) for name, a in zip(params, args)}
    np.savez(inputs, **arrays)
    lines = [f"counterexample saved for {backend}:", f"  inputs:   {inputs}  (np.load: one entry per parameter)"]
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    try:
        registry.run(kernel, *work, backend=backend, vcd=wave)
    except Exception as err:  # noqa: BLE001 - the run may fail as it did in the check; its waveform still helps
        lines.append(f"  (the traced run raised {type(err).__name__}: {err})")
    if wave.is_file():
        lines.append(f"  waveform: {wave}")
    else:
        lines.append(f"  waveform: not written ({wave})")
    return "\n".join(lines)
