"""User-facing errors that point at the kernel source."""

from __future__ import annotations

import linecache

from hls.ir.nodes import Loc

__all__ = ["ArgumentError", "KernelError", "UnsupportedKernel"]


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
