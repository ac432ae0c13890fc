"""`@kernel(fastmath="contract")`: float multiply-adds may fuse on numba-cpu, integer code is untouched.

The opt-in reaches the generated numba source of the kernel and of the float kernels it calls, is
refused for any other value, changes float results by about an ulp (a fused multiply-add rounds
once), stays within `hls.check`'s float tolerance, and leaves the python flavor, integer kernels and
the hardware backends as they were.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

import backends
from algorithms.qk import qk_dense
from algorithms.sdpa import exp_neg_f32, flash_f32, sdpa_reference
from hls import Array, check, f32, i8, i32, kernel, lower
from hls.lang import FASTMATH
from tests.tolerance import assert_within_naive_error

numba_cpu = pytest.mark.skipif(backends.available("numba-cpu") is not None, reason="numba-cpu backend not available")
CONTRACT = "fastmath={'contract'}"


def fma_residue(a: Array[f32, "N"], c: Array[f32, "N"], out: Array[f32, "N"]):
    for i in range(a.shape[0]):
        out[i] = a[i] * a[i] - c[i]


def int_dot(a: Array[i8, "N"], b: Array[i8, "N"], out: Array[i32, 1]):
    acc = i32(0)
    for i in range(a.shape[0]):
        acc += a[i] * b[i]
    out[0] = acc


def njit_lines(source: str) -> list[str]:
    return [line for line in source.splitlines() if line.startswith("@_njit")]


def test_only_contract_is_documented() -> None:
    assert FASTMATH == ("contract",)
    assert kernel(fma_residue, fastmath="contract").fastmath == "contract"
    assert kernel(fma_residue).fastmath is None


@pytest.mark.parametrize("value", [True, "fast", "reassoc", {"contract"}, "Contract", ""])
def test_other_values_are_refused(value: object) -> None:
    with pytest.raises(ValueError) as err:
        kernel(fastmath=value)(fma_residue)
    assert str(err.value).startswith(f'@kernel(fastmath={value!r}) is not supported; use fastmath="contract"')


def test_with_options_keeps_the_other_options_and_refuses_unknown_ones() -> None:
    fm = flash_f32.with_options(fastmath="contract")
    assert fm.fastmath == "contract" and flash_f32.fastmath is None
    assert (fm.fn, fm.dims, fm.values, fm.strategy) == (flash_f32.fn, flash_f32.dims, flash_f32.values, None)
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['fast'\]"):
        flash_f32.with_options(fast=True)
    with pytest.raises(ValueError, match="is not supported"):
        flash_f32.with_options(fastmath="fast")


def test_numba_source_carries_the_flag_on_the_kernel_and_its_float_callees() -> None:
    be = backends.get("numba-cpu")
    plain = be.source(flash_f32)
    fm = be.source(flash_f32.with_options(fastmath="contract"))
    assert CONTRACT not in plain
    # the three kernels of the module (exp_neg_f32 inlined, flash_tile, flash) carry it; the integer helpers do not
    assert [CONTRACT in line for line in njit_lines(fm)] == [False, False, False, False, True, True, True]
    assert "@_njit(cache=True, parallel=True, fastmath={'contract'})\ndef k_" in fm
    assert fm.replace(", " + CONTRACT, "") == plain  # nothing else changes


def test_integer_kernels_are_untouched() -> None:
    be = backends.get("numba-cpu")
    fm = qk_dense.with_options(fastmath="contract")
    assert be.source(fm) == be.source(qk_dense)
    source = be.source(kernel(int_dot, fastmath="contract"))
    assert source == be.source(kernel(int_dot)) and "fastmath=" not in source


def test_python_and_hardware_backends_ignore_it() -> None:
    assert backends.get("python").source(flash_f32.with_options(fastmath="contract")) == backends.get("python").source(
        flash_f32
    )
    plain, fm = kernel(int_dot), kernel(int_dot, fastmath="contract")
    assert lower(fm, N=8).myhdl_source == lower(plain, N=8).myhdl_source


@numba_cpu
def test_integer_results_stay_bit_exact() -> None:
    rng = np.random.default_rng(0)
    a, b = (rng.integers(-128, 128, 4096, dtype=np.int8) for _ in range(2))
    outs = [np.zeros(1, np.int32) for _ in range(2)]
    backends.run(kernel(int_dot), a, b, outs[0], backend="numba-cpu")
    backends.run(kernel(int_dot, fastmath="contract"), a, b, outs[1], backend="numba-cpu")
    assert outs[0][0] == outs[1][0] == np.int32(np.dot(a.astype(np.int64), b.astype(np.int64)))


def _has_fma() -> bool:
    try:
        return " fma " in f" {Path('/proc/cpuinfo').read_text()} "
    except OSError:
        return False


@numba_cpu
@pytest.mark.skipif(not _has_fma(), reason="this CPU has no FMA instructions for LLVM to fuse into")
def test_contract_fuses_and_stays_within_the_checker_tolerance() -> None:
    """a*a - c with a = 1 + 2**-12, c = 1 + 2**-11: the product rounds to c (0.0), the FMA keeps 2**-24."""
    a = np.full(64, 1 + 2.0**-12, np.float32)
    c = np.full(64, 1 + 2.0**-11, np.float32)
    plain, fm = kernel(fma_residue), kernel(fma_residue, fastmath="contract")
    outs = {}
    for name, kern in (("python", plain), ("numba-cpu", plain), ("contract", fm)):
        outs[name] = np.ones(64, np.float32)
        backends.run(kern, a, c, outs[name], backend="python" if name == "python" else "numba-cpu")
    assert (outs["python"] == 0).all() and (outs["numba-cpu"] == 0).all()
    assert (outs["contract"] == np.float32(2.0**-24)).all()  # the flag reached LLVM
    assert check(fm, backends=["numba-cpu"], examples=50).agreed == ["numba-cpu"]  # raises CheckFailure if not


@numba_cpu
@pytest.mark.parametrize("kern", [flash_f32, exp_neg_f32], ids=lambda k: k.__name__)
def test_check_passes_with_contract(kern) -> None:
    report = check(kern.with_options(fastmath="contract"), backends=["numba-cpu"], examples=60, max_dim=12)
    assert report.agreed == ["numba-cpu"]  # check() raises CheckFailure on a disagreement


@numba_cpu
def test_flash_with_contract_is_within_the_tolerance_rule() -> None:
    """At N = 256, d = 64: error against float64 at most twice the naive float32 error (tests/tolerance.py)."""
    rng = np.random.default_rng(7)
    q, k, v = (rng.standard_normal((1, 2, 256, 64)).astype(np.float32) for _ in range(3))
    o, lse = np.zeros_like(q), np.zeros(q.shape[:3], np.float32)
    scale = np.float32(1 / math.sqrt(64))
    fm = flash_f32.with_options(fastmath="contract")
    backends.run(fm, q, k, v, scale, False, 64, 64, o, lse, backend="numba-cpu")
    ref, ref_lse = sdpa_reference(q, k, v)
    naive, naive_lse = sdpa_reference(q, k, v, dtype=np.float32)
    assert_within_naive_error(o, ref, naive, "o")
    assert_within_naive_error(lse, ref_lse, naive_lse, "lse")
