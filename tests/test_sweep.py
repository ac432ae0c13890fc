"""hls.sweep: a grid of lower() options over a 2x2x2 QK unit, on a local process pool and on a Dask LocalCluster.

Every point is lowered, simulated (MyHDL) against the python reference, and placed and routed (nextpnr-ecp5) for
real. Each pool gets its own fresh cache folder, so the tools run in its workers and the two tables are computed
apart; a repeated sweep is then served from the cache, which `tool_runs` counts (no timing).
"""

import json

import pytest

from algorithms.qk import qk_dense
from hls import lower
from hls.cli import main
from hls.sweep import pareto_front, points, sweep
from hls.tools import nextpnr

needs_pnr = pytest.mark.skipif(nextpnr.missing() is not None, reason=str(nextpnr.missing()))

GRID = {"clock_ns": [3.0, 10.0], "multipliers": [1, 2]}
DIMS = {"M": 2, "N": 2, "D": 2}


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The sweep on a local pool of 2 processes, into a fresh cache; then the same sweep again."""
    cache = tmp_path_factory.mktemp("local") / "cache"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ATTNHLS_CACHE", str(cache))
        first = sweep(qk_dense, GRID, workers=2, **DIMS)
        again = sweep(qk_dense, GRID, workers=2, **DIMS)
    return first, again, cache


@needs_pnr
def test_every_point_is_simulated_placed_and_routed(local):
    result, _, _ = local
    assert result.tool_runs == 4  # a fresh cache: every point ran Yosys and nextpnr in a worker
    assert [r["point"] for r in result.rows] == points(GRID)
    for r in result.rows:
        design = lower(qk_dense, **r["point"], **DIMS)
        latency = design.report.latency
        assert latency.exact and r["cycles"] == latency.lo  # what MyHDL counted is what the schedule says
        assert r["clock_ns"] == r["point"]["clock_ns"] and r["fmax_mhz"] > 0
        assert r["time_us"] == pytest.approx(r["cycles"] / r["fmax_mhz"])
        assert r["LUT"] > 0 and r["FF"] > 0 and r["DSP"] == 2 and r["BRAM"] == 0
    assert [r["pareto"] for r in result.rows] == pareto_front(result.rows)
    assert any(r["pareto"] for r in result.rows)


@needs_pnr
def test_a_repeated_sweep_runs_no_tool(local):
    first, again, _ = local
    assert again.tool_runs == 0
    assert again.rows == first.rows


@needs_pnr
def test_a_dask_local_cluster_gives_the_same_table(local, tmp_path, monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setenv("ATTNHLS_CACHE", str(tmp_path / "cache"))  # before the workers start: they inherit it
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        on_dask = sweep(qk_dense, GRID, scheduler=cluster.scheduler_address, **DIMS)
    assert on_dask.tool_runs == 4  # its own cache: the cluster's workers placed and routed every point
    assert on_dask.rows == local[0].rows
    assert on_dask.table() == local[0].table()


def test_the_pareto_front_of_a_constructed_table():
    rows = [
        {"time_us": 1.0, "LUT": 500},  # fastest: on the front
        {"time_us": 2.0, "LUT": 200},  # on the front
        {"time_us": 2.0, "LUT": 300},  # dominated by the row above (same time, more LUTs)
        {"time_us": 3.0, "LUT": 100},  # smallest: on the front
        {"time_us": 3.5, "LUT": 100},  # dominated (same LUTs, slower)
        {"time_us": 2.5, "LUT": 250},  # dominated by (2.0, 200)
        {"time_us": 3.0, "LUT": 100},  # equal to a front row: neither dominates the other
        {"time_us": None, "LUT": 10},  # not timed: never on the front, dominates nothing
    ]
    assert pareto_front(rows) == [True, True, False, True, False, False, True, False]


def test_a_bad_grid_is_refused_with_what_is_allowed():
    with pytest.raises(ValueError, match=r"grid key 'P' is neither an option of lower\(\) \(clock_ns, multipliers, "):
        sweep(qk_dense, {"P": [1, 2]}, **DIMS)
    with pytest.raises(ValueError, match=r"nor a dim or scalar parameter of qk_dense \(M, D, N\)"):
        sweep(qk_dense, {"clock_ns": [5.0]}, M=2, N=2, D=2, K=4)
    with pytest.raises(ValueError, match=r"grid\['clock_ns'\] must be a non-empty list of values, got \[\]"):
        sweep(qk_dense, {"clock_ns": []}, **DIMS)
    with pytest.raises(ValueError, match=r"qk_dense needs a size for dim\(s\) D: add them to the grid or pass D=8"):
        sweep(qk_dense, {"M": [2, 4]}, N=2)
    with pytest.raises(ValueError, match=r"'M' is both a grid key and fixed \(M=2\); give it once"):
        sweep(qk_dense, {"M": [2, 4]}, **DIMS)


@needs_pnr
def test_cli_sweep_prints_the_table_and_writes_json_and_png(local, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ATTNHLS_CACHE", str(local[2]))  # the pool's cache serves this process too
    argv = ["sweep", "algorithms.qk:qk_dense", "--dims", "M=2,N=2,D=2", "--grid", "clock_ns=3.0,10.0"]
    assert main([*argv, "--grid", "multipliers=1,2", "--workers", "1", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert local[0].table() in out and "4 points in " in out and ": 0 placed and routed, 4 cached" in out
    data = json.loads((tmp_path / "out" / "sweep.json").read_text())
    assert data["rows"] == local[0].rows and data["grid"] == GRID
    assert (tmp_path / "out" / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main([*argv, "--grid", "P=1,2"]) == 2
    assert "attnhls: ValueError: sweep(): grid key 'P' is neither an option of lower()" in capsys.readouterr().err
