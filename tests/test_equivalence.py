"""Every catalog kernel on every backend agrees bit for bit with the Python reference."""

from __future__ import annotations

import os

import pytest

import backends
from hls import check
from hls.strategies import fixed_dims
from tests.catalog import CASES, Case, backend_names, examples_scale

# The cycle-accurate backends simulate a design per draw and lower one per shape: they draw fewer examples,
# and kernels whose inputs come from their annotations get one fixed shape (one design, built in one batch).
HDL_EXAMPLES = {"myhdl": 5, "verilator": 5}
HDL_DIM = 3
# Numba's CUDA simulator runs every GPU thread in Python: there numba-cuda draws at most this many (all on a GPU).
CUDA_SIMULATOR_EXAMPLES = 25


def _hdl_dims(case: Case) -> dict[str, int] | None:
    return fixed_dims(case.kernel, HDL_DIM)


def _integer(case: Case) -> bool:
    return "float" not in case.tags


@pytest.fixture(scope="module")
def verilator_models() -> None:
    """Build the Verilator models of the fixed-shape catalog kernels in one batch."""
    backends.prebuild(
        [(c.kernel, _hdl_dims(c)) for c in CASES if _integer(c) and _hdl_dims(c) is not None and not c.kernel.dims]
    )


@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backend_agrees_with_reference(case: Case, backend: str, request: pytest.FixtureRequest) -> None:
    why = backends.available(backend)
    if why:
        pytest.skip(f"backend {backend} not run: {why}")
    examples = max(1, int(case.examples * examples_scale()))
    if backend == "numba-cuda" and os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        examples = max(1, int(min(case.examples, CUDA_SIMULATOR_EXAMPLES) * examples_scale()))
    dims, inputs = None, case.inputs
    if backend in HDL_EXAMPLES:
        inputs = {}
        examples = max(1, int(min(case.examples, HDL_EXAMPLES[backend]) * examples_scale()))
        dims = _hdl_dims(case)
        if backend == "verilator":
            request.getfixturevalue("verilator_models")
    report = check(case.kernel, backends=[backend], examples=examples, seed=0, dims=dims, **inputs)
    if backend in HDL_EXAMPLES and not _integer(case):  # floats cannot become hardware: refused, and said why
        assert report.agreed == [] and "floats" in report.skipped[backend]
        return
    assert report.agreed == [backend]
    assert report.skipped == {}
    if backend == "numba-cpu":  # every example drawn: every branch and loop of the kernel must have been reached
        assert report.warnings == [], "\n".join(report.warnings)


@pytest.mark.parametrize("case", [c for c in CASES if c.reference], ids=lambda c: c.name)
def test_reference_matches_numpy(case: Case) -> None:
    report = check(case.kernel, backends=["python"], examples=50, seed=0, reference=case.reference, **case.inputs)
    assert report.reference is not None
