"""Waveforms: `run(..., vcd=PATH)` on the HDL backends, the same top-port values from MyHDL and Verilator, and
the counterexample (inputs and waveform) that `check` saves when a hardware backend disagrees."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import strategies as st
from vcd.reader import TokenKind, tokenize

from algorithms.examples import wrap_add
from algorithms.qk import qk_dense
from hls import Array, check, i8, i16, i32, kernel, lower, runtime
from hls.args import bind
from hls.checker import CheckFailure
from hls.cli import main
from hls.errors import ArgumentError
from hls.runtime import Bound, RunResult


@kernel
def dot_bias(a: Array[i8, "N"], b: Array[i8, "N"], bias: i16) -> i32:
    acc = i32(bias)
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    return acc


def _qk_args() -> tuple[Any, ...]:
    rng = np.random.default_rng(7)
    q = rng.integers(-128, 128, (2, 4), dtype=np.int8)
    k = rng.integers(-128, 128, (2, 4), dtype=np.int8)
    return q, k, np.zeros((2, 2), np.int32)


def _dot_args() -> tuple[Any, ...]:
    return np.array([-128, 5, 127], np.int8), np.array([127, -3, -128], np.int8), -1000


CASES = {"qk_dense": (qk_dense, _qk_args), "dot_bias": (dot_bias, _dot_args)}


@dataclass
class Wave:
    """The top ports of one VCD: each port's value just before every rising edge of `clk`, and at the end."""

    edges: list[dict[str, int | str]]
    final: dict[str, int | str]


def read_ports(path: Path, ports: list[str]) -> Wave:
    """Read `ports` (matched by leaf name, in the shallowest scope that has them) from the VCD at `path`.

    A value "just before" an edge at time T is the last one written at a time before T: both simulators write
    the edge and what it causes (registers, read data) at T itself.
    """
    depth_id: dict[str, tuple[int, str]] = {}
    scope: list[str] = []
    values: dict[str, int | str] = {}  # by id code
    before: dict[str, int | str] = {}  # the values at the end of the previous time step
    edges: list[dict[str, int | str]] = []
    clk: str | None = None
    with open(path, "rb") as f:
        for token in tokenize(f):
            if token.kind is TokenKind.SCOPE:
                scope.append(token.scope.ident)
            elif token.kind is TokenKind.UPSCOPE:
                scope.pop()
            elif token.kind is TokenKind.VAR:
                leaf = token.var.reference
                if leaf in ports and (leaf not in depth_id or len(scope) < depth_id[leaf][0]):
                    depth_id[leaf] = (len(scope), token.var.id_code)
            elif token.kind is TokenKind.ENDDEFINITIONS:
                missing = [p for p in ports if p not in depth_id]
                assert not missing, f"{path.name} lacks the ports {missing}"
                clk = depth_id["clk"][1]
            elif token.kind is TokenKind.CHANGE_TIME:
                before = dict(values)
            elif token.kind in (TokenKind.CHANGE_SCALAR, TokenKind.CHANGE_VECTOR):
                change = token.data
                value = change.value
                new: int | str = int(value) if isinstance(value, int) or value in ("0", "1") else str(value)
                if change.id_code == clk and new == 1 and values.get(clk) == 0:
                    edges.append(before)
                values[change.id_code] = new
    by_name = {p: code for p, (_, code) in depth_id.items() if p != "clk"}
    return Wave(
        [{p: e.get(code, "?") for p, code in by_name.items()} for e in edges],
        {p: values.get(code, "?") for p, code in by_name.items()},
    )


def _top_ports(kern: Any, args: tuple[Any, ...]) -> list[str]:
    """The names of the top block's ports for a call on `args` (clk, rst, start, done, p_*, ret, memory ports)."""
    bound = bind(kern, args, {})
    return list(lower(kern, **bound.dims).signals())


@pytest.mark.parametrize("backend", ["myhdl", "verilator"])
@pytest.mark.parametrize("case", list(CASES))
def test_vcd_is_written_and_the_run_unchanged(backend: str, case: str, tmp_path: Path) -> None:
    kern, make = CASES[case]
    plain, traced = make(), make()
    want = runtime.run(kern, *plain, backend=backend)
    got = runtime.run(kern, *traced, backend=backend, vcd=tmp_path / "sub" / "run.vcd")
    assert (got.value, got.cycles) == (want.value, want.cycles)
    for a, b in zip(plain, traced):
        np.testing.assert_array_equal(a, b)
    wave = read_ports(tmp_path / "sub" / "run.vcd", _top_ports(kern, plain))
    assert len(wave.edges) == 2 + 1 + want.cycles  # two reset edges, the start edge, then the counted ones
    assert [e["rst"] for e in wave.edges[:3]] == [1, 1, 0]
    assert [e["start"] for e in wave.edges[:4]] == [0, 0, 1, 0]
    assert all(e["done"] == 0 for e in wave.edges) and wave.final["done"] == 1
    if "ret" in wave.final:
        assert wave.final["ret"] == want.value % (1 << 32)


@pytest.mark.parametrize("backend", ["verilator"])  # compared with myhdl's waveform of the same run
@pytest.mark.parametrize("case", list(CASES))
def test_myhdl_and_verilator_show_the_same_top_ports(backend: str, case: str, tmp_path: Path) -> None:
    kern, make = CASES[case]
    ports = _top_ports(kern, make())
    waves = {}
    for name in ("myhdl", backend):
        runtime.run(kern, *make(), backend=name, vcd=tmp_path / f"{name}.vcd")
        waves[name] = read_ports(tmp_path / f"{name}.vcd", ports)
    mine, theirs = waves["myhdl"], waves[backend]
    assert len(mine.edges) == len(theirs.edges)
    for port in ports:
        if port == "clk":
            continue
        a, b = [e[port] for e in mine.edges], [e[port] for e in theirs.edges]
        first = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)
        assert first is None, f"{port} differs first before edge {first}: myhdl {a[first]}, verilator {b[first]}"
        assert mine.final[port] == theirs.final[port], port
    changing = [p for p in ports if p != "clk" and len({e[p] for e in mine.edges}) > 1]
    assert {"rst", "start"} <= set(changing) and len(changing) > 4  # the run shows activity, not constants


@pytest.mark.parametrize("backend", ["python", "numba-cpu"])
def test_software_backend_refuses_vcd(backend: str, tmp_path: Path) -> None:
    a = np.array([1, 2], np.int8)
    with pytest.raises(
        ArgumentError,
        match=r"^vcd= needs a hardware backend \(myhdl or verilator\); backend "
        rf"'{backend}' records no waveform$",
    ):
        runtime.run(wrap_add, a, a, np.zeros(2, np.int8), backend=backend, vcd=tmp_path / "x.vcd")
    assert not (tmp_path / "x.vcd").exists()


def _flipping(backend: str) -> runtime.Backend:
    """A copy of HDL backend `backend` that flips the low bit of the first element of the last argument."""

    class Flipping(type(runtime.get(backend))):  # type: ignore[misc]
        name = f"broken-{backend}"

        def run(self, bound: Bound) -> RunResult:
            result = super().run(bound)
            out = bound.values[-1]
            out.flat[0] ^= 1
            return result

    return Flipping()


@pytest.mark.parametrize("backend", ["myhdl"])
def test_check_saves_the_counterexample_of_an_hdl_backend(
    backend: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = _flipping(backend)
    monkeypatch.setitem(runtime._REGISTRY, broken.name, broken)
    monkeypatch.chdir(tmp_path)
    a, b = np.array([100, -7, 3], np.int8), np.array([100, 2, -128], np.int8)
    example = st.just((a, b, np.zeros(3, np.int8)))  # NOTE: one example, nothing to shrink: a quick check
    for artifacts, root in ((None, tmp_path / ".attnhls" / "counterexamples"), (tmp_path / "arts", tmp_path / "arts")):
        with pytest.raises(CheckFailure) as info:
            check(wrap_add, backends=[broken.name], examples=1, coverage=False, strategy=example, artifacts=artifacts)
        text = str(info.value)
        m = re.search(
            r"\ncounterexample saved for broken-myhdl:\n  inputs:   (\S+)  \(np.load: one entry per "
            r"parameter\)\n  waveform: (\S+)$",
            text,
        )
        assert m is not None, text
        inputs, wave = Path(m.group(1)), Path(m.group(2))
        assert inputs.parent == wave.parent and inputs.parent.parent == root.resolve()
        assert re.fullmatch(r"wrap_add-broken-myhdl-[0-9a-f]{12}", inputs.parent.name)
        assert (inputs.name, wave.name) == ("inputs.npz", "wave.vcd")
        with np.load(inputs) as saved:
            loaded = {k: saved[k] for k in saved.files}
        assert sorted(loaded) == ["a", "b", "out"]
        np.testing.assert_array_equal(loaded["a"], a)
        np.testing.assert_array_equal(loaded["b"], b)
        assert (loaded["a"].dtype, loaded["b"].dtype) == (np.int8, np.int8)
        assert "\n  a = np.array([100  -7   3], dtype=np.int8)\n" in text  # the counterexample the message shows
        want, got = loaded["out"].copy(), loaded["out"].copy()
        runtime.run(wrap_add, loaded["a"], loaded["b"], want, backend="python")
        runtime.run(wrap_add, loaded["a"], loaded["b"], got, backend=broken.name)
        assert (want != got).any()  # the saved inputs reproduce the disagreement
        n = len(loaded["a"])
        wave_ports = read_ports(wave, list(lower(wrap_add, N=n).signals()))
        assert wave_ports.final["done"] == 1


@pytest.mark.parametrize("backend", ["myhdl"])
def test_cli_run_writes_a_vcd(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.vcd"
    rc = main(
        [
            "run",
            "algorithms.qk:qk_dense",
            "--backend",
            backend,
            "--dims",
            "M=2,N=2,D=4",
            "--repeat",
            "0",
            "--vcd",
            str(out),
        ]
    )
    assert rc == 0
    assert f"waveform: {out}" in capsys.readouterr().out
    assert read_ports(out, list(lower(qk_dense, M=2, N=2, D=4).signals())).final["done"] == 1
