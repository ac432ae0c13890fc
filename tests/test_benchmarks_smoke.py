"""Smoke tests: the benchmarks' quick settings run, verify every result and write their JSON and PNG.

`bench_qk --quick` is two small sizes with three samples each (about 5-10 s on an
idle 2-core machine, including the cold Numba compile); `bench_sdpa` runs at N = 128
with one sample and no pauses. No timing is asserted here: performance is measured
by the benchmarks, not by tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backends
from benchmarks import _plot, bench_qk


def assert_png(path: Path, panels: int) -> None:
    """`path` is a PNG as wide as `panels` charts side by side, with more than a few colours (lines were drawn)."""
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    image = imread(path)
    assert image.shape[1] > 600 * panels and image.shape[0] > 500, image.shape
    colours = np.unique((image[:, :, :3] * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert len(colours) > 20, f"{path}: only {len(colours)} colours"


@pytest.mark.skipif(backends.available("numba-cpu") is not None, reason="numba-cpu backend not available")
def test_bench_qk_quick(tmp_path, capsys) -> None:
    report = bench_qk.main(["--quick", "--out", str(tmp_path)])

    path = tmp_path / "bench_qk.json"
    assert path.exists()
    data = json.loads(path.read_text())
    assert data == json.loads(json.dumps(report))
    for key in (
        "benchmark",
        "command",
        "date_utc",
        "quick",
        "machine",
        "settings",
        "compile",
        "results",
        "verified",
        "all_verified",
        "elapsed_s",
    ):
        assert key in data, key
    assert data["quick"] is True
    for key in ("cpu_model", "logical_cpus", "numba_version", "numpy_version", "numba_threads"):
        assert data["machine"][key], key
    assert data["compile"]["qk_dense"]["numba-cpu"]["first_call_s"] > 0

    rows = data["results"]
    numba_rows = [r for r in rows if r["backend"] == "numba-cpu"]
    assert {(r["kernel"], r["path"]) for r in numba_rows} == {
        ("qk_dense", "run"),
        ("qk_dense", "raw"),
        ("qk_masked", "run"),
        ("qk_masked", "raw"),
    }
    assert all(r["verified"] is True and r["seconds"] > 0 and r["gops"] > 0 for r in numba_rows)
    assert all(r["verified"] is True for r in rows if not r.get("skipped"))
    assert any(r["backend"] == "python" and not r["skipped"] for r in rows), "python is measured at the small size"
    assert data["all_verified"] is True
    for r in rows:
        for key in ("size", "M", "N", "D", "kernel", "backend", "path", "seconds", "speedup_vs_numpy"):
            assert key in r, key

    table = capsys.readouterr().out
    assert "numba-cpu" in table and "GOPS" in table
    assert_png(tmp_path / "bench_qk.png", panels=2)
    assert bench_qk.plot(data, tmp_path / "again.png") == tmp_path / "again.png"  # redrawn from the JSON
    assert_png(tmp_path / "again.png", panels=2)


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
    for key in (
        "benchmark",
        "command",
        "date_utc",
        "quick",
        "machine",
        "qk",
        "detect",
        "synthesis",
        "lower_all_s",
        "verilator_build_s",
        "simulate_all_s",
        "all_verified",
        "elapsed_s",
    ):
        assert key in data, key
    assert data["quick"] is True and data["synthesis"] == []
    assert data["all_verified"] is True

    rows = data["qk"]
    assert {r["kernel"] for r in rows} == {"qk_dense", "qk_coo_values", "qk_csr_values", "qk_masked"}
    assert {r["pattern"] for r in rows if r["kernel"] == "qk_coo_values"} == set(bench_hls.PATTERNS)
    for r in rows:
        for key in (
            "size",
            "kernel",
            "pattern",
            "density",
            "nnz",
            "cycles",
            "speedup",
            "target",
            "target_held",
            "lower_s",
            "verilog_s",
            "latency",
            "pipelines",
            "verified",
        ):
            assert key in r, key
        assert r["verified"] is True and r["cycles"] > 0 and r["lower_s"] > 0
    dense = next(r for r in rows if r["kernel"] == "qk_dense")
    assert dense["speedup"] == 1.0 and dense["nnz"] == dense["M"] * dense["N"]
    (det,) = data["detect"]
    assert det["verified"] is True and det["cycles"] >= det["work"] and det["kernel"] == "detect_vs_accumulate"

    table = capsys.readouterr().out
    assert "qk_coo_values" in table and "detect_vs_accumulate" in table
    assert_png(tmp_path / "bench_hls.png", panels=2)  # speedup against density (one size), cycles against N


@pytest.mark.skipif(backends.available("numba-cpu") is not None, reason="numba-cpu backend not available")
def test_bench_sdpa_tiny(tmp_path, capsys, monkeypatch) -> None:
    """`python -m benchmarks.bench_sdpa` at N = 128, one sample, no pauses: JSON, table and PNG."""
    from benchmarks import bench_sdpa

    monkeypatch.setattr(bench_sdpa, "SETTLE_S", 0.0)
    argv = ["--sizes", "128", "--sparse-sizes", "128", "--repeats", "1", "--out", str(tmp_path)]
    assert bench_sdpa.main(argv) == 0

    data = json.loads((tmp_path / "bench_sdpa.json").read_text())
    assert {r["method"] for r in data["dense"]} >= {"flash numba-cpu", "sdpa() wrapper", "numpy"}
    assert all(r["gflops"] > 0 for r in data["dense"] if r["seconds"] is not None)
    assert [r["density"] for r in data["block_sparse"]] == bench_sdpa.DENSITIES
    assert "block-sparse flash" in capsys.readouterr().out
    assert_png(tmp_path / "bench_sdpa.png", panels=2)


def test_plot_series_by_groups_sorts_and_skips_missing(tmp_path) -> None:
    rows: list[dict[str, Any]] = [
        {"g": "a", "x": 2, "y": 4.0},
        {"g": "a", "x": 1, "y": 1.0},
        {"g": "b", "x": 1, "y": None},
        {"g": "c"},
    ]
    series = _plot.series_by(rows, lambda r: r["g"] if r["g"] != "c" else None, "x", "y")
    assert series == [_plot.Series("a", [1.0, 2.0], [1.0, 4.0])]
    ideal = _plot.ideal("1/x", [0.25, 1.0], lambda x: 1 / x)
    assert ideal.reference and ideal.x[0] == 0.25 and abs(ideal.x[-1] - 1.0) < 1e-12 and ideal.y[0] == 4.0
    panel = _plot.Panel("t", "x", "y", [*series, ideal], logx=True, logy=True, xticks={1: "one", 2: "two"})
    empty = _plot.Panel("nothing measured", "x", "y", [])
    assert_png(_plot.write_png(tmp_path / "p.png", [panel, empty], "title", "note"), panels=2)


@pytest.mark.skipif(backends.available("numba-cpu") is not None, reason="numba-cpu backend not available")
def test_bench_backends_every_catalog_kernel_tiny(tmp_path, capsys) -> None:
    """`python -m benchmarks.bench_backends` at a tiny scale on numba-cpu: a row per catalog kernel, JSON and table."""
    from benchmarks import bench_backends
    from tests.catalog import CASES

    assert set(bench_backends.SPECS) == {c.name for c in CASES}, "every catalog kernel has a size, and only they"
    argv = ["--scale", "0.002", "--repeats", "1", "--backends", "numba-cpu", "--out", str(tmp_path)]
    assert bench_backends.main(argv) == 0

    data = json.loads((tmp_path / "bench_backends.json").read_text())
    assert [r["kernel"] for r in data["rows"]] == [c.name for c in CASES]
    assert all(r["cells"]["numba-cpu"]["seconds"] > 0 for r in data["rows"])
    assert data["columns"]["numba-cpu"] is None and data["columns"]["python"] == "not asked for"
    table = capsys.readouterr().out
    assert "flash_sparse_f64" in table and "numba-cpu" in table and "python: not run (not asked for)" in table


@pytest.mark.skipif(backends.available("numba-cpu") is not None, reason="numba-cpu backend not available")
def test_bench_backends_columns_side_by_side(tmp_path, capsys) -> None:
    """python (stopped past its budget), numba-cpu, the contract opt-in and torch where present, checked, compared."""
    from benchmarks import bench_backends

    kernels = "qk_dense,flash_f32,exp_neg_f32,topk_select"
    argv = ["--scale", "0.01", "--repeats", "1", "--only", kernels, "--python-budget", "0.05", "--out", str(tmp_path)]
    assert bench_backends.main(argv) == 0

    data = json.loads((tmp_path / "bench_backends.json").read_text())
    rows = {r["kernel"]: r["cells"] for r in data["rows"]}
    assert set(rows) == set(kernels.split(","))  # in catalog order
    assert rows["qk_dense"]["python"] == {"seconds": None, "skipped": "skipped: > 0.05 s"}  # ~0.2 s at 41x41x64
    assert rows["exp_neg_f32"]["python"]["check"] <= 1.0 and rows["exp_neg_f32"]["python"]["ratio"] > 0
    contract = rows["flash_f32"]["numba-cpu contract"]
    assert contract["check"] <= 1.0 and contract["ratio"] > 0
    assert rows["qk_dense"]["numba-cpu contract"]["skipped"] == "integer kernel"
    assert rows["topk_select"]["torch"]["seconds"] is None  # no equivalent (or no torch)
    if data["columns"]["torch"] is None:
        assert rows["flash_f32"]["torch"]["seconds"] > 0 and "SDPA" in rows["flash_f32"]["torch"]["what"]
    assert data["columns"]["numba-cuda"] is not None or backends.get("numba-cuda").simulated() is False
    table = capsys.readouterr().out
    assert "numba-cpu contract" in table and "skipped: > 0.05 s" in table


def test_bench_streaming_tiny(tmp_path, capsys) -> None:
    """Both regions at N = 8 on Verilator: depths found, the naive one's row buffers needed, the reordered one
    equal to sdpa_fixed at one score a cycle (the issue's N^2 + 64 bound), and the JSON, table and PNG written."""
    from benchmarks import bench_streaming

    report = bench_streaming.main(["--sizes", "8", "--d", "4", "--out", str(tmp_path)])
    rows = {r["design"]: r for r in report["rows"]}
    assert rows["reordered"]["equal_to_sdpa_fixed"] and rows["reordered"]["max_depth"] <= 4
    assert rows["reordered"]["cycles"] <= 8 * 8 + 64
    assert rows["naive"]["max_error_lsb"] <= 4 and rows["naive"]["smallest_row_buffer"] >= 8 // 2
    assert json.loads((tmp_path / "bench_streaming.json").read_text()) == json.loads(json.dumps(report, default=str))
    assert "| reordered | 8 |" in (tmp_path / "bench_streaming.md").read_text()
    assert_png(tmp_path / "bench_streaming.png", 2)
