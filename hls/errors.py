"""User-facing errors that point at the kernel source."""

from __future__ import annotations

import linecache

from hls.ir.nodes import Loc

__all__ = ["ArgumentError", "DeadlockError", "KernelError", "UnsupportedKernel"]


class KernelError(Exception):
    """A kernel uses something the kernel language does not support.

    `str(err)` shows `file:line:col`, the source line with a caret under the
    offending column, what is wrong, and what to write instead.
    """

    def __init__(self, message: str, loc: Loc | None, fix: str = "") -> None:
        self.message = message
        self.loc = loc
        self.fix = fix
        super().__init__(self._render())

    def _render(self) -> str:
        if self.loc is None:
            text = f"error: {self.message}"
        else:
            text = f"{self.loc}: error: {self.message}"
            line = linecache.getline(self.loc.file, self.loc.line).rstrip("\n")
            if line:
                text += f"\n    {line}\n    {' ' * self.loc.col}^"
        if self.fix:
            text += f"\n  fix: {self.fix}"
        return text


class ArgumentError(ValueError):
    """An argument passed to a kernel does not match its annotation; nothing was run."""


class UnsupportedKernel(ValueError):
    """A backend cannot run this (valid) kernel; the message says what it lacks and what to write instead."""


class DeadlockError(RuntimeError):
    """A dataflow region stopped with every unfinished process blocked on a FIFO; nothing was written back.

    `blocked` lists (process, "read" or "write", FIFO) for each blocked process: it waits to read an
    empty FIFO or to write a full one; `full` names the FIFOs that are full; `cycle` is the clock cycle
    the hardware backends stopped at (None for software backends).
    """

    def __init__(
        self, region: str, backend: str, blocked: list[tuple[str, str, str]], full: list[str], cycle: int | None = None
    ) -> None:
        self.region, self.backend, self.blocked, self.full, self.cycle = region, backend, blocked, full, cycle
        when = f" at cycle {cycle}" if cycle is not None else ""
        lines = [f"region `{region}` deadlocked on {backend}{when}: every unfinished process waits on a FIFO"]
        for proc, op, fifo in blocked:
            state = "empty" if op == "read" else "full"
            lines.append(f"  process `{proc}` waits to {op} {state} FIFO `{fifo}`")
        lines.append(f"  full FIFOs: {', '.join(f'`{f}`' for f in full) if full else 'none'}")
        lines.append("  fix: deepen the full FIFOs (hls.min_depths finds the smallest depths), or check that each")
        lines.append("  process reads as many values as its writer writes")
        super().__init__("\n".join(lines))
