"""Every catalog kernel on every backend agrees bit for bit with the Python reference."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings

import backends
from hls import check
from hls.strategies import arguments
from tests.catalog import CASES, Case, backend_names, examples_scale


@pytest.mark.parametrize("backend", backend_names())
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_backend_agrees_with_reference(case: Case, backend: str) -> None:
    why = backends.available(backend)
    if why:
        pytest.skip(f"backend {backend} not run: {why}")
    report = check(case.kernel, backends=[backend], examples=max(1, int(case.examples * examples_scale())), seed=0)
    assert report.agreed == [backend]
    assert report.skipped == {}


@pytest.mark.parametrize("case", [c for c in CASES if c.reference], ids=lambda c: c.name)
def test_reference_matches_numpy(case: Case) -> None:
    @settings(max_examples=50, deadline=None, database=None)
    @given(case.kernel.strategy if case.kernel.strategy is not None else arguments(case.kernel))
    def trial(args: tuple) -> None:
        work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
        backends.run(case.kernel, *work, backend="python")
        params = [p.name for p in case.kernel.ir.params]
        for name, want in case.reference(*args).items():
            got = work[params.index(name)]
            np.testing.assert_array_equal(got, want, err_msg=f"{case.name}: {name}")

    trial()
