"""What the tool wrappers share: their errors, content hashes and atomic writes (the cache folder: hls.cache)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path


class ToolMissing(RuntimeError):
    """An external tool (Verilator, a C++ compiler, Yosys, GHDL) is not installed; the message says how to get it."""


class ToolError(RuntimeError):
    """An external tool ran and failed (bad HDL, a compiler error); the message carries the tool's own report."""


def digest(*parts: str | bytes) -> str:
    """A hex SHA-256 of the parts, each length-prefixed so that different splits never collide."""
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


def write_atomic(path: Path, data: str | bytes) -> None:
    """Write a file so that concurrent readers (parallel test workers) see either nothing or all of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "wb") as f:
        f.write(data.encode() if isinstance(data, str) else data)
    os.replace(tmp, path)


def publish_dir(tmp: Path, final: Path) -> None:
    """Move a finished build folder into place; when another process won the race, keep theirs."""
    try:
        os.rename(tmp, final)
    except OSError:
        if not final.exists():
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def run_tool(
    argv: Sequence[str | Path],
    *,
    what: str,
    cwd: Path | None = None,
    env: dict | None = None,
    timeout: float | None = None,
) -> subprocess.CompletedProcess:
    """Run a tool, capturing its output; a non-zero exit raises ToolError with the tail of what it printed."""
    proc = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        if len(output) > 6000:
            output = "...\n" + output[-6000:]
        raise ToolError(f"{what} failed (exit {proc.returncode}):\n{output}")
    return proc
