"""Randomly generated kernels agree bit for bit on every backend, and the generator covers the language.

`RANDOM_KERNELS_SEED` (default 2026), `RANDOM_KERNELS` (how many kernels, 200) and
`RANDOM_KERNELS_EXAMPLES` (Hypothesis examples per kernel; 6, and 2 on myhdl) choose the run; see tests/README.md.
"""

from __future__ import annotations

import collections
import functools
import os
import warnings
from pathlib import Path

import pytest

import backends
from hls import check
from hls.lang import Kernel
from tests.random_kernels import RandomKernel, generate, generate_cases, kernel_source

SEED = int(os.environ.get("RANDOM_KERNELS_SEED", "2026"))
COUNT = int(os.environ.get("RANDOM_KERNELS", "200"))
EXAMPLES = os.environ.get("RANDOM_KERNELS_EXAMPLES")  # default: 6, and 2 on myhdl (a Python simulator)
CHUNK = 10  # kernels per test, so that pytest-xdist spreads them over the workers
HDL = ("myhdl", "verilator")
MAX_NOT_RUN = 0.1  # a registered HDL backend may refuse (UnsupportedKernel) at most this share of a chunk


def _backends_under_test() -> list[str]:
    """numba-cpu, myhdl and verilator where registered (`ATTNHLS_BACKENDS` narrows them)."""
    chosen = os.environ.get("ATTNHLS_BACKENDS")
    names = [n for n in ("numba-cpu", *HDL) if n in backends.names()]
    return [n for n in names if not chosen or n in chosen.split(",")]


def _examples(backend: str) -> int:
    return int(EXAMPLES) if EXAMPLES else 2 if backend == "myhdl" else 6


def _chunk(k: int) -> tuple[RandomKernel, ...]:
    return generate_cases(SEED, COUNT)[k * CHUNK : (k + 1) * CHUNK]


def _prebuild(backend: str, kernels: list[Kernel]) -> None:
    """Let the backend build a chunk's designs in one batch (Verilator builds one executable for all)."""
    try:
        backends.get(backend).prebuild(
            [(k, {}) for k in kernels]
        )  # NOTE: dims are fixed in the annotations: nothing to bind
    except Exception as err:  # noqa: BLE001 - each kernel's own check then reports what failed
        warnings.warn(f"{backend}: batch build failed ({type(err).__name__}: {err}); building one by one", stacklevel=2)


@functools.cache
def _prebuild_all(backend: str) -> None:
    """Build every random kernel's design in one batch, once per process: one Verilator build of all of
    them (compiled in parallel chunks, linked once) costs far less than a build per chunk; a second
    pytest-xdist worker asking for the same batch waits for the first and reuses it."""
    _prebuild(backend, [c.kernel for c in generate_cases(SEED, COUNT)])


@pytest.mark.parametrize("chunk", range((COUNT + CHUNK - 1) // CHUNK))
@pytest.mark.parametrize("backend", _backends_under_test())
def test_random_kernels_agree(backend: str, chunk: int) -> None:
    why = backends.available(backend)
    if why:
        pytest.skip(f"backend {backend} not run: {why}")
    cases = _chunk(chunk)
    _prebuild_all(backend)
    failures, not_run = [], {}
    for case in cases:
        try:
            # NOTE: coverage=False: which branches a generated kernel reaches tells nothing to act on
            report = check(case.kernel, backends=[backend], examples=_examples(backend), seed=SEED, coverage=False)
        except Exception as err:  # noqa: BLE001 - every failure is reported with the kernel's seed and source
            failures.append(f"{case.describe()}\n{type(err).__name__}: {err}")
            continue
        if backend in report.skipped:
            not_run[case.name] = report.skipped[backend]
        else:
            assert report.agreed == [backend], report
    if failures:
        pytest.fail(
            f"{len(failures)} of {len(cases)} random kernels disagree on {backend}:\n\n" + "\n\n".join(failures),
            pytrace=False,
        )
    if not_run:
        reasons = "\n".join(f"  {name}: {why}" for name, why in not_run.items())
        text = f"{backend} did not run {len(not_run)} of {len(cases)} random kernels:\n{reasons}"
        # NOTE: never counted as agreement; a few refusals are reported, many fail the test.
        assert len(not_run) <= MAX_NOT_RUN * len(cases), text
        warnings.warn(text, stacklevel=1)


# ---- the generator itself ------------------------------------------------------------------------------------

REQUIRED_FEATURES = (
    "pipeline",
    "unroll",
    "unroll_factor",
    "while",
    "data_dep_loop",
    "nested_loop",
    "step_range",
    "prange",
    "odd_width",
    "unsigned",
    "u64",
    "bool",
    "wrap_store",
    "wrap_local",
    "return",
    "local_array",
    "if",
    "elif",
    "else",
    "select",
    "minmax",
    "abs",
    "divmod",
    "neg_divisor",
    "var_divisor",
    "shift",
    "shift_var",
    "cast",
    "compound",
    "typed_local",
    "untyped_local",
    "mod_index",
    "exact_wrap",
    "chained_compare",
    "logical",
    "scalar_param",
)


def test_generation_is_deterministic() -> None:
    cases = generate_cases(SEED, COUNT)
    for case in cases[:20]:
        text, features = kernel_source(SEED, case.index, case.attempts)
        assert text == kernel_source(SEED, case.index, case.attempts)[0]
        assert features == case.features
        assert text in Path(case.kernel.fn.__code__.co_filename).read_text()
    assert kernel_source(SEED, 0)[0] != kernel_source(SEED + 1, 0)[0]
    assert [k.__name__ for k in generate(SEED, 3)] == [f"rk_{SEED}_{i}" for i in range(3)]


def test_generator_covers_the_language() -> None:
    cases = generate_cases(SEED, max(COUNT, 200))
    counts = collections.Counter(f for c in cases for f in c.features)
    missing = [f for f in REQUIRED_FEATURES if counts[f] == 0]
    assert not missing, f"no random kernel of seed {SEED} uses {missing}; counts: {dict(sorted(counts.items()))}"


def test_frontend_rarely_refuses_a_candidate() -> None:
    # NOTE: the generator mirrors the frontend's range typing; a refused candidate is regenerated, but a
    # generator that survives only by retrying would hide what it cannot write.
    cases = generate_cases(SEED, max(COUNT, 200))
    refused = {c.name: c.attempts for c in cases if c.attempts}
    assert sum(refused.values()) < 0.1 * len(cases), f"the frontend refused candidates of {refused}"


def test_failure_report_shows_seed_and_source() -> None:
    case = generate_cases(SEED, COUNT)[0]
    text = case.describe()
    assert text.startswith(f"random kernel rk_{SEED}_0 (RANDOM_KERNELS_SEED={SEED}, index 0), ")
    assert f"@kernel\ndef rk_{SEED}_0(" in text
    assert Path(text.split(", ", 2)[2].split(":")[0]).exists()
