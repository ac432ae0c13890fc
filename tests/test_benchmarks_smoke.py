"""Smoke test: `python -m benchmarks.bench_qk --quick` runs, verifies every result and writes its JSON.

`--quick` is two small sizes with three samples each (about 5-10 s on an idle
2-core machine, including the cold Numba compile). No timing is asserted here:
performance is measured by the benchmarks, not by tests.
"""

from __future__ import annotations

import json

import pytest

import backends
from benchmarks import bench_qk


@pytest.mark.skipif(backends.available("numba-cpu") is not None, reason="numba-cpu backend not available")
def test_bench_qk_quick(tmp_path, capsys) -> None:
    report = bench_qk.main(["--quick", "--out", str(tmp_path)])

    path = tmp_path / "bench_qk.json"
    assert path.exists()
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(report))
    for key in ("benchmark", "command", "date_utc", "quick", "machine", "settings", "compile", "results",
                "verified", "all_verified", "elapsed_s"):
        assert key in data, key
    assert data["quick"] is True
    for key in ("cpu_model", "logical_cpus", "numba_version", "numpy_version", "numba_threads"):
        assert data["machine"][key], key
    assert data["compile"]["qk_dense"]["numba-cpu"]["first_call_s"] > 0

    rows = data["results"]
    numba_rows = [r for r in rows if r["backend"] == "numba-cpu"]
    assert {(r["kernel"], r["path"]) for r in numba_rows} == {
        ("qk_dense", "run"), ("qk_dense", "raw"), ("qk_masked", "run"), ("qk_masked", "raw")}
    assert all(r["verified"] is True and r["seconds"] > 0 and r["gops"] > 0 for r in numba_rows)
    assert all(r["verified"] is True for r in rows if not r.get("skipped"))
    assert any(r["backend"] == "python" and not r["skipped"] for r in rows), "python is measured at the small size"
    assert data["all_verified"] is True
    for r in rows:
        for key in ("size", "M", "N", "D", "kernel", "backend", "path", "seconds", "speedup_vs_numpy"):
            assert key in r, key

    table = capsys.readouterr().out
    assert "numba-cpu" in table and "GOPS" in table


def _verilator_missing() -> str | None:
    from hls.tools import verilator

    return verilator.missing()


@pytest.mark.skipif(_verilator_missing() is not None, reason="Verilator not available")
def test_bench_hls_quick(tmp_path, capsys) -> None:
    """`python -m benchmarks.bench_hls --quick --no-synth`: the 8x8x16 QK unit and a tiny detector, simulated."""
    from benchmarks import bench_hls

    report = bench_hls.main(["--quick", "--no-synth", "--out", str(tmp_path)])

    data = json.loads((tmp_path / "bench_hls.json").read_text())
    assert data == json.loads(json.dumps(report, default=str))
    for key in ("benchmark", "command", "date_utc", "quick", "machine", "qk", "detect", "synthesis",
                "lower_all_s", "verilator_build_s", "simulate_all_s", "all_verified", "elapsed_s"):
        assert key in data, key
    assert data["quick"] is True and data["synthesis"] == []
    assert data["all_verified"] is True

    rows = data["qk"]
    assert {r["kernel"] for r in rows} == {"qk_dense", "qk_coo_values", "qk_csr_values", "qk_masked"}
    assert {r["pattern"] for r in rows if r["kernel"] == "qk_coo_values"} == set(bench_hls.PATTERNS)
    for r in rows:
        for key in ("size", "kernel", "pattern", "density", "nnz", "cycles", "speedup", "target", "target_held",
                    "lower_s", "verilog_s", "latency", "pipelines", "verified"):
            assert key in r, key
        assert r["verified"] is True and r["cycles"] > 0 and r["lower_s"] > 0
    dense = next(r for r in rows if r["kernel"] == "qk_dense")
    assert dense["speedup"] == 1.0 and dense["nnz"] == dense["M"] * dense["N"]
    (det,) = data["detect"]
    assert det["verified"] is True and det["cycles"] >= det["work"] and det["kernel"] == "detect_vs_accumulate"

    table = capsys.readouterr().out
    assert "qk_coo_values" in table and "detect_vs_accumulate" in table
