"""The backend protocol and registry (`hls.runtime`), and the direction of the layers."""

from __future__ import annotations

import ast
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest

import backends
from algorithms.examples import popcount, wrap_add
from algorithms.qk import qk_dense
from hls import check, runtime
from hls.cli import main as cli
from hls.runtime import Backend, Bound, RunResult

ROOT = Path(__file__).resolve().parent.parent


def test_hls_imports_nothing_above_it() -> None:
    # NOTE: `make lint` checks the same with import-linter; this keeps it true where only the tests run.
    upward = []
    for path in sorted((ROOT / "hls").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            upward += [
                f"{path.relative_to(ROOT)}:{node.lineno} imports {n}"
                for n in names
                if n.split(".")[0] in ("backends", "algorithms")
            ]
    assert not upward, "\n".join(upward)


def test_backends_register_through_entry_points() -> None:
    eps = {ep.name: ep.value for ep in entry_points(group=runtime.ENTRY_POINT_GROUP)}
    assert eps.get("builtin") == "backends:builtin_backends"
    assert runtime.names()[:5] == ["python", "numba-cpu", "numba-cuda", "myhdl", "verilator"]
    assert all(isinstance(runtime.get(n), Backend) for n in runtime.names())


class _Negating(Backend):
    """A third-party backend: runs the python backend, then inverts the bits of the first output element."""

    name = "negating"

    def source(self, kernel, dims=None) -> str:
        return "# nothing generated"

    def run(self, bound: Bound) -> RunResult:
        result = runtime.get("python").run(bound)
        bound.values[-1].flat[0] = ~bound.values[-1].flat[0]
        return RunResult(self.name, result.value)


def test_a_registered_backend_is_run_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_REGISTRY", dict(runtime._REGISTRY))
    runtime.register(_Negating())
    assert "negating" in runtime.names() and "negating" in backends.names()
    a, b = np.array([1, 2], np.int8), np.array([3, 4], np.int8)
    out = np.zeros(2, np.int8)
    assert backends.run(wrap_add, a, b, out, backend="negating").backend == "negating"
    assert out.tolist() == [-5, 6]
    with pytest.raises(AssertionError, match="negating disagrees with python"):
        check(wrap_add, backends=["negating"], examples=5)


def test_registry_refuses_what_is_not_a_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "_REGISTRY", dict(runtime._REGISTRY))
    with pytest.raises(TypeError, match="hls.runtime.Backend"):
        runtime.register(object())  # type: ignore[arg-type]

    class Other(_Negating):
        name = "python"

    with pytest.raises(ValueError, match="a different backend is already registered as 'python'"):
        runtime.register(Other())
    with pytest.raises(ValueError, match="unknown backend 'nope'; known backends: python, numba-cpu"):
        runtime.get("nope")


def test_every_backend_says_what_it_generates(capsys: pytest.CaptureFixture[str]) -> None:
    assert "def k_" in backends.get("python").source(popcount)
    assert "_njit" in backends.get("numba-cpu").source(popcount)
    assert "@block" in backends.get("myhdl").source(qk_dense, {"M": 2, "N": 2, "D": 4})
    assert "module k_qk_dense" in backends.get("verilator").source(qk_dense, {"M": 2, "N": 2, "D": 4})
    assert cli(["source", "algorithms.qk:qk_dense", "--backend", "verilator", "--dims", "M=2,N=2,D=4"]) == 0
    assert "module k_qk_dense" in capsys.readouterr().out


def test_hardware_backends_say_why_they_cannot_run_a_float_kernel() -> None:
    from algorithms.sdpa import exp_neg_f32

    for name in ("myhdl", "verilator"):
        why = backends.get(name).unsupported(exp_neg_f32)
        assert why is not None and "uses floats" in why and "fixed-point" in why
    assert backends.get("numba-cpu").unsupported(exp_neg_f32) is None
