"""GHDL: check generated VHDL by analyzing and elaborating it.

    warnings = check(vhdl, "top")     # [] when clean; raises VHDLError with GHDL's messages otherwise

GHDL comes from the distribution (`apt-get install ghdl-mcode` on Debian/Ubuntu; `make test` installs
it when it runs as root with apt-get); nothing on PyPI bundles it. MyHDL's VHDL uses its support
package `pck_myhdl_<version>`: when the text refers to it and `packages` does not give it, the one of
the installed MyHDL is analyzed first.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from hls.tools._common import ToolError, ToolMissing

__all__ = ["VHDLError", "check", "missing"]

INSTALL_HINT = "apt-get install ghdl-mcode (Debian/Ubuntu; `make test` does this when run as root)"
_PACKAGE = re.compile(r"\bpck_myhdl_(\w+)\b", re.I)


class VHDLError(ToolError):
    """GHDL rejected the VHDL (analysis or elaboration); the message carries GHDL's report."""


def missing() -> str | None:
    """None when GHDL is installed; else what to install."""
    return None if shutil.which("ghdl") else f"GHDL is not installed: {INSTALL_HINT}"


def _myhdl_package(name: str) -> str | None:
    """The text of MyHDL's VHDL support package `pck_myhdl_<version>`, if the installed MyHDL has it."""
    try:
        from myhdl.conversion import _toVHDLPackage  # NOTE: private, but the only place the text lives
    except ImportError:
        return None
    if f"pck_myhdl_{_toVHDLPackage._shortversion}".lower() != name.lower():
        return None
    return _toVHDLPackage._package % {"version": _toVHDLPackage._shortversion}


def check(vhdl: str, top: str, packages: Mapping[str, str] | None = None, std: str = "08") -> list[str]:
    """Analyze `packages` (name -> VHDL text, in order) and `vhdl`, then elaborate entity `top`.

    Returns GHDL's warnings (`top.vhd:12:5:warning: ...`); raises VHDLError on any error and
    ToolMissing when GHDL is not installed.
    """
    ghdl = shutil.which("ghdl")
    if ghdl is None:
        raise ToolMissing(f"GHDL is not installed: {INSTALL_HINT}")
    files = dict(packages or {})
    for name in dict.fromkeys(m.group(0) for m in _PACKAGE.finditer(vhdl)):
        if name not in files:
            text = _myhdl_package(name)
            if text is None:
                raise VHDLError(f"{top}.vhd uses package {name}; pass its text in `packages`")
            files[name] = text
    files[top] = vhdl
    with tempfile.TemporaryDirectory(prefix="attnhls-ghdl-") as tmp:
        names = []
        for name, text in files.items():
            (Path(tmp) / f"{name}.vhd").write_text(text)
            names.append(f"{name}.vhd")
        output = []
        for step in (["-a", *names], ["-e", top]):
            proc = subprocess.run(
                [ghdl, step[0], f"--std={std}", "--workdir=.", *step[1:]], cwd=tmp, capture_output=True, text=True
            )
            output += [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
            if proc.returncode != 0:
                raise VHDLError(
                    f"GHDL {'analysis' if step[0] == '-a' else 'elaboration'} of {top} failed:\n" + "\n".join(output)
                )
    return [line for line in output if "warning" in line.lower()]
