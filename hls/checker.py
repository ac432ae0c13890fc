"""`check`: run a kernel on several backends with Hypothesis-drawn inputs and compare."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hseed

import backends as registry
from hls.errors import KernelError, UnsupportedKernel
from hls.lang import Kernel
from hls.strategies import arguments
from hls.types import ArrayType, FloatType

REFERENCE = "python"


@dataclass
class CheckReport:
    """Which backends agreed with the Python reference, and which could not run."""

    kernel: str
    examples: int
    agreed: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"{self.kernel}: {self.examples} examples; agree with {REFERENCE}: {', '.join(self.agreed) or 'none'}"
        for name, why in self.skipped.items():
            text += f"\n  NOT RUN {name}: {why}"
        return text


class CheckFailure(AssertionError):
    """Backends disagree (or the reference failed); the message holds a minimal counterexample."""


class _Mismatch(AssertionError):
    pass


def check(kernel: Kernel, backends: Any = ("python", "numba-cpu"), examples: int = 100, *, seed: int | None = 0,
          max_dim: int = 6, dims: dict[str, Any] | None = None, values: dict[str, Any] | None = None,
          strategy: Any = None, progress: Callable[[int, int], None] | None = None) -> CheckReport:
    """Check that every backend in `backends` ("all" for every registered one) agrees with `python`.

    Inputs come from `strategy`, else the kernel's own strategy, else its
    annotations (see `hls.strategies.arguments`). Integer results must match
    bit for bit; float results within a few ulp-scaled tolerances. A
    disagreement raises `CheckFailure` with the shrunk counterexample. Backends
    that cannot run here are listed in `report.skipped`, never counted as agreeing.
    `seed=None` draws fresh random examples.
    """
    if not isinstance(kernel, Kernel):
        raise TypeError(f"check() takes a @kernel function, got {kernel!r}")
    try:
        kernel.ir  # noqa: B018 - frontend errors first, at the user's line
    except KernelError as err:
        raise err.with_traceback(None) from None
    names = _backend_names(backends)
    report = CheckReport(kernel.__name__, examples)
    runnable = []
    for name in names:
        why = registry.available(name)
        if not why:
            try:
                compile_ = getattr(registry.get(name), "compile", None)
                if compile_ is not None:
                    compile_(kernel)
            except UnsupportedKernel as err:
                why = f"cannot run this kernel: {err}"
        if why:
            report.skipped[name] = why
        else:
            runnable.append(name)
    others = [n for n in runnable if n != REFERENCE]
    strat = strategy if strategy is not None else kernel.strategy if kernel.strategy is not None else \
        arguments(kernel, max_dim=max_dim, dims=dims, values=values)
    calls = [0]

    def trial(args: tuple[Any, ...]) -> None:
        calls[0] += 1
        if progress is not None:
            progress(calls[0], examples)
        _compare(kernel, args, others)

    test = settings(max_examples=examples, deadline=None, database=None, print_blob=False,
                    suppress_health_check=list(HealthCheck))(given(strat)(trial))
    if seed is not None:
        test = hseed(seed)(test)
    try:
        test()
    except _Mismatch as err:
        raise CheckFailure(f"{kernel.__name__}: backends disagree\n{err}") from None
    report.agreed = others
    return report



def _backend_names(spec: Any) -> list[str]:
    names = registry.names() if spec == "all" else [spec] if isinstance(spec, str) else list(spec)
    for n in names:
        registry.get(n)  # unknown names raise here, listing the known ones
    return [REFERENCE] + [n for n in names if n != REFERENCE]


def _run_copy(kernel: Kernel, args: tuple[Any, ...], backend: str) -> tuple[list[Any], Any]:
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    result = registry.run(kernel, *work, backend=backend)
    return work, result.value


def _compare(kernel: Kernel, args: tuple[Any, ...], others: list[str]) -> None:
    try:
        ref_arrays, ref_value = _run_copy(kernel, args, REFERENCE)
    except Exception as err:  # noqa: BLE001 - any failure of the reference is reported with its input
        raise _Mismatch(f"the {REFERENCE} reference raised {type(err).__name__}: {err}\n"
                        f"{_describe_args(kernel, args)}\nconstrain the inputs (values=/dims=/strategy=) "
                        f"or fix the kernel") from None
    params = kernel.ir.params
    for name in others:
        try:
            arrays, value = _run_copy(kernel, args, name)
        except Exception as err:  # noqa: BLE001
            raise _Mismatch(f"{name} raised {type(err).__name__}: {err} where {REFERENCE} did not\n"
                            f"{_describe_args(kernel, args)}") from None
        problems = []
        for p, want, got in zip(params, ref_arrays, arrays):
            if isinstance(p.type, ArrayType) and not _same(want, got, p.type.elem):
                bad = np.argwhere(~_close(want, got, p.type.elem))[:5]
                where = "; ".join(f"[{', '.join(map(str, ix))}] {REFERENCE}={want[tuple(ix)].item()!r} "
                                  f"{name}={got[tuple(ix)].item()!r}" for ix in bad)
                problems.append(f"array `{p.name}` differs at {where}")
        if not _same_value(ref_value, value):
            problems.append(f"return value: {REFERENCE}={ref_value!r} {name}={value!r}")
        if problems:
            raise _Mismatch(f"{name} disagrees with {REFERENCE}:\n  " + "\n  ".join(problems)
                            + f"\n{_describe_args(kernel, args)}")


def _close(want: np.ndarray, got: np.ndarray, elem: Any) -> np.ndarray:
    if isinstance(elem, FloatType):
        rtol = 1e-5 if elem.width == 32 else 1e-12
        return np.isclose(want, got, rtol=rtol, atol=rtol, equal_nan=True)
    return want == got


def _same(want: np.ndarray, got: np.ndarray, elem: Any) -> bool:
    return want.shape == got.shape and bool(_close(want, got, elem).all())


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
