"""Coverage of a kernel by drawn examples: which `if` arms and loop bodies the runs reached, and how often.

The sites are the arms of every `if` and `elif` (a missing `else` counts too: the
condition was false) and the body of every loop, in the kernel and in every kernel
it calls. A backend that can record them (the `python` reference:
`hls.runtime.Backend.run_covered`) returns the sites one run reached; `Coverage`
counts, per site, the examples that reached it, and `format_warnings` names the
sites no example reached, at their source line.
"""

from __future__ import annotations

import linecache
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from hls import ir
from hls.lang import Kernel

__all__ = ["Coverage", "CoverageWarning", "Site", "sites"]

ARMS = ("then", "else", "body")
_TEXT_MAX = 72  # characters of a statement's source shown in a warning


class CoverageWarning(UserWarning):
    """A branch arm or loop body that no drawn example reached: the check passed without testing it."""


@dataclass(frozen=True, slots=True)
class Site:
    """One place a run may never reach: an arm of an `if`/`elif` (`then`, `else`) or a loop's `body`.

    Sites compare by (function, loc, arm); `text` is the statement's source line
    (`if j - i >= 8`), `implicit` marks an `else` the source does not write, and
    `parent` is the site whose arm or body holds this one (None at the top of a kernel).
    """

    function: str  # the IR name of the kernel that holds it
    loc: ir.Loc  # of the `if`, `elif`, `for` or `while` statement
    arm: str  # one of ARMS
    text: str = field(default="", compare=False)
    implicit: bool = field(default=False, compare=False)
    parent: Site | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> tuple[str, ir.Loc, str]:
        """What identifies the site in generated code: (function, loc, arm)."""
        return (self.function, self.loc, self.arm)

    def describe(self) -> str:
        """What never happened at this site, e.g. "branch `if j - i >= 8` (then) never taken"."""
        if self.arm == "body":
            return f"loop body `{self.text}` never entered"
        if self.implicit:
            return f"condition `{self.text}` never false"
        return f"branch `{self.text}` ({self.arm}) never taken"


def sites(kernel: Kernel) -> tuple[Site, ...]:
    """Every site of `kernel` and of the kernels it calls (each once), in source order, callers first."""
    out: list[Site] = []
    seen: set[str] = set()

    def visit(k: Kernel) -> None:
        if k.ir_name in seen:
            return
        seen.add(k.ir_name)
        _block(k.ir.name, k.ir.body, None, out)
        for callee in k.callees.values():
            visit(callee)

    visit(kernel)
    return tuple(out)


def _block(function: str, stmts: tuple[ir.Stmt, ...], parent: Site | None, out: list[Site]) -> None:
    for s in stmts:
        if isinstance(s, ir.If):
            text = _source_text(s.loc)
            then = Site(function, s.loc, "then", text, parent=parent)
            out.append(then)
            _block(function, s.then, then, out)
            if _is_elif(s.orelse):  # NOTE: the elif's own arms stand for this else arm
                _block(function, s.orelse, parent, out)
                continue
            orelse = Site(function, s.loc, "else", text, implicit=not s.orelse, parent=parent)
            out.append(orelse)
            _block(function, s.orelse, orelse, out)
        elif isinstance(s, ir.For | ir.While):
            body = Site(function, s.loc, "body", _source_text(s.loc), parent=parent)
            out.append(body)
            _block(function, s.body, body, out)


def _is_elif(orelse: tuple[ir.Stmt, ...]) -> bool:
    """True when `orelse` is the `elif` of a chain (Python's AST nests it as an `if` inside the `else`)."""
    if len(orelse) != 1 or not isinstance(orelse[0], ir.If):
        return False
    loc = orelse[0].loc
    return linecache.getline(loc.file, loc.line)[loc.col :].startswith("elif")


def _source_text(loc: ir.Loc) -> str:
    """The statement head at `loc` as written, on one line, without its colon and comments (`if j - i >= 8`)."""
    parts: list[str] = []
    depth, line_no = 0, loc.line
    while True:  # NOTE: a condition in brackets may span lines; read on until they close
        line = linecache.getline(loc.file, line_no)
        if not line:
            break
        text = re.sub(r"\s*#.*$", "", line[loc.col :] if line_no == loc.line else line).strip()
        parts.append(text)
        depth += sum(text.count(c) for c in "([{") - sum(text.count(c) for c in ")]}")
        if depth <= 0 or len(parts) >= 20:
            break
        line_no += 1
    text = " ".join(" ".join(parts).split()).replace("( ", "(").replace(" )", ")")
    text = text[:-1].rstrip() if text.endswith(":") else text or f"line {loc.line}"
    return text if len(text) <= _TEXT_MAX else text[: _TEXT_MAX - 3].rstrip() + "..."


@dataclass
class Coverage:
    """Per site, how many of the `examples` runs reached it."""

    sites: tuple[Site, ...]
    counts: dict[Site, int] = field(default_factory=dict)
    examples: int = 0

    def __post_init__(self) -> None:
        for s in self.sites:
            self.counts.setdefault(s, 0)

    @classmethod
    def of(cls, kernel: Kernel) -> Coverage:
        """Zero counts for every site of `kernel` (see `sites`)."""
        return cls(sites(kernel))

    def record(self, reached: Iterable[Site]) -> None:
        """Count one example that reached the sites in `reached`."""
        self.examples += 1
        for s in reached:
            self.counts[s] = self.counts.get(s, 0) + 1

    def missed(self) -> list[Site]:
        """The sites no example reached, except those inside another such site (implied by it)."""
        return [s for s in self.sites if self.counts[s] == 0 and (s.parent is None or self.counts[s.parent] > 0)]

    def format_warnings(self, hint: str = "") -> list[str]:
        """One line per missed site: `file:line: what never happened in N examples; hint`."""
        out = []
        for s in self.missed():
            inside = sum(1 for t in self.sites if _within(t, s))
            also = f" (nor the {inside} branch arm(s) and loop(s) inside it)" if inside else ""
            out.append(
                f"{_where(s.loc)}: {s.describe()} in {self.examples} examples{also}" + (f"; {hint}" if hint else "")
            )
        return out

    def __str__(self) -> str:
        lines = [f"coverage over {self.examples} examples:"]
        for s in self.sites:
            arm = "else (implicit)" if s.implicit else s.arm
            lines.append(f"  {_where(s.loc)}: `{s.text}` {arm}: {self.counts[s]}")
        return "\n".join(lines)


def _within(site: Site, outer: Site) -> bool:
    p = site.parent
    while p is not None:
        if p == outer:
            return True
        p = p.parent
    return False


def _where(loc: ir.Loc) -> str:
    """`file:line`, the file relative to the working folder when it lies inside it."""
    path = loc.file
    try:
        rel = os.path.relpath(path)
        path = rel if not rel.startswith("..") else path
    except ValueError:  # another drive (Windows)
        pass
    return f"{path}:{loc.line}"
