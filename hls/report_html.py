"""The report files of a design: its facts as JSON (`facts`) and the same facts drawn as one HTML page (`render`).

    data = facts(design)            # latency, pipelines with their schedules, flattening, operators, registers,
                                    # memories, the kernel's source lines with what each became, Yosys if run
    page = render(data)             # self-contained HTML: inline CSS and SVG, no script, nothing fetched

`Design.save` writes both (report.json, report.html). The page shows the summary, a schedule chart per
pipelined loop (its operators over the cycles of one iteration, the next issues every II cycles marked, and
when II was missed the recurrence or the resource that bounds it in red), why each loop around a pipelined
loop was or was not flattened into it, the memories, Yosys's figures when `design.synthesize()` ran, and the
kernel's source, line by line, with the operators, the cycles and the registers each line became.
"""

from __future__ import annotations

import html
import inspect
import linecache
import math
import os
import re
from collections import Counter
from typing import TYPE_CHECKING, Any

from hls.hw.dfg import Op
from hls.hw.ops import ARITHMETIC, FREE, MEMORY, OpKind

if TYPE_CHECKING:
    from hls.compiler import Design
    from hls.hw.fsm import Pipeline, PipelineReport

__all__ = ["facts", "render"]

_HIDDEN = FREE | {OpKind.VALID}  # not drawn: constants, register reads, the pipeline's issue flag
_NOT_OPERATORS = _HIDDEN | {OpKind.SNAP, OpKind.WREG}  # register traffic: the registers column shows it


def op_name(o: Op) -> str:
    """The operator an op is, as the report counts it: `mul`, `add_const`, `load`, `cmp`, ..."""
    if o.kind in ARITHMETIC:
        return o.binop.word + ("_const" if o.kind != OpKind.BIN else "")
    return o.kind.value


def _op_label(o: Op) -> str:
    """A short description of an op for the chart: `%12 mul`, `%3 load m_q_b0`, `%9 wreg acc`."""
    what = op_name(o)
    if o.kind in MEMORY:
        what += f" {o.bank.prefix}"
    elif o.kind in (OpKind.WREG, OpKind.SNAP):
        what += f" {o.reg}"
    elif o.kind == OpKind.CMP:
        what += f" {o.cmpop.value}"
    return f"%{o.id} {what}"


# ---- the facts ---------------------------------------------------------------------------------------------


def facts(design: Design) -> dict[str, Any]:
    """Everything the report says of `design`, as JSON-ready data (the same design always gives the same)."""
    hw, report = design.hw, design.report
    home = hw.fn.loc.file
    lat = hw.latency
    return {
        "kernel": design.kernel.__name__,
        "file": os.path.basename(home),
        "top": design.top,
        "params": dict(design.params),
        "clock_ns": hw.timing.clock_ns,
        "states": len(hw.states),
        "latency": {"lo": lat.lo, "hi": lat.hi, "exact": lat.exact, "formula": lat.formula, "text": str(lat)},
        "pipelines": [_pipeline(design, p, r) for p, r in zip(hw.pipelines, hw.reports)],
        "not_pipelined": list(hw.not_pipelined),
        "flattening": [{"line": n.line, "var": n.var, "flattened": n.flattened, "why": n.why} for n in hw.flattening],
        "operators": dict(sorted(report.operators.items())),
        "registers": {"count": report.registers, "bits": report.register_bits, "list": _registers(design)},
        "memories": [
            {
                "name": m.name,
                "kind": m.kind,
                "banks": m.banks,
                "depth": m.depth,
                "width": m.width,
                "ports": m.ports,
                "bits": m.bits,
            }
            for m in report.memories
        ],
        "lines": _lines(design),
        "synthesis": report.synthesis,
        "text": str(report),
    }


def _loc(o: Op, home: str) -> dict[str, Any]:
    """{"line": N} for an op of the kernel's file, plus "file" for one of another file (an inlined kernel)."""
    if o.loc is None:
        return {"line": None}
    return {"line": o.loc.line} if o.loc.file == home else {"line": o.loc.line, "file": os.path.basename(o.loc.file)}


def _pipeline(design: Design, p: Pipeline, report: PipelineReport) -> dict[str, Any]:
    """One pipeline: its II and why, its levels, its ops in cycles, its loop-carried edges, what bounds II."""
    hw = design.hw
    home = hw.fn.loc.file
    state = next(st.index for st in hw.states if st.pipe is p)
    ops = [o for o in p.graph.ops if o.kind not in _HIDDEN]
    missed = p.ii > p.ii_asked
    carried = []
    for e in p.graph.edges:
        if e.distance > 0:
            need = math.ceil((e.src.time + e.latency - e.dst.time) / e.distance)
            carried.append(
                {
                    "src": e.src.id,
                    "dst": e.dst.id,
                    "latency": e.latency,
                    "distance": e.distance,
                    "why": e.why,
                    "needs_ii": need,
                    "bounds": missed and need >= p.ii,
                }
            )
    bound: dict[str, Any] | None = None
    if missed:
        if p.reason.startswith("recurrence"):
            edges = [e for e in carried if e["bounds"]]
            bound = {"kind": "recurrence", "ops": sorted({i for e in edges for i in (e["src"], e["dst"])})}
        else:
            uses = Counter(o.resource for o in p.graph.ops if o.resource is not None)
            tight = [r for r, n in uses.items() if (lim := hw.limits.limit(r)) and math.ceil(n / lim) >= p.ii]
            bound = {
                "kind": "resource",
                "resources": sorted(tight),
                "ops": sorted(o.id for o in p.graph.ops if o.resource in tight),
            }
    return {
        "name": p.name,
        "line": p.loc.line,
        "var": p.levels[-1].var,
        "state": state,
        "levels": [lv.var for lv in p.levels],
        "flattened": list(report.flattened),
        "rows": p.rows is not None,
        "ii": p.ii,
        "ii_asked": p.ii_asked,
        "depth": p.depth,
        "drain": p.drain,
        "reason": p.reason,
        "bound": bound,
        "ops": [
            {
                "id": o.id,
                "label": _op_label(o),
                "op": op_name(o),
                **_loc(o, home),
                "cycle": o.time,
                "start_ns": round(o.start, 3),
                "delay_ns": round(o.delay, 3),
                "latency": o.latency,
                "resource": o.resource,
            }
            for o in sorted(ops, key=lambda o: (o.time, o.start, o.id))
        ],
        "carried": carried,
    }


def _register_lines(design: Design) -> dict[str, tuple[list[tuple[str, int]], str]]:
    """Register name -> ([(file or "", line)], what it holds)."""
    from hls.hw.emit import Emitter

    hw = design.hw
    home = hw.fn.loc.file
    signal_of = Emitter(hw, design.top).regs  # local/counter name -> register name, as the emitter names them
    written: dict[str, set[tuple[str, int]]] = {}
    op_at: dict[int, Op] = {}
    for g in hw.graphs():
        for o in g.ops:
            op_at[o.id] = o
            if o.kind in (OpKind.WREG, OpKind.SNAP) and o.loc is not None:
                written.setdefault(o.reg, set()).add(("" if o.loc.file == home else o.loc.file, o.loc.line))
    out: dict[str, tuple[list[tuple[str, int]], str]] = {}
    for name, sig in signal_of.items():
        what = "the return value" if name == "_ret" else f"`{name}`"
        out[sig] = (sorted(written.get(name, ())), what)
    for name, _ in design.registers:
        m = re.fullmatch(r"c(\d+)_(\d+)", name)
        if m and int(m.group(1)) in op_at:
            o = op_at[int(m.group(1))]
            at = [] if o.loc is None else [("" if o.loc.file == home else o.loc.file, o.loc.line)]
            out[name] = (at, f"the value of %{o.id} {op_name(o)}, {int(m.group(2)) + 1} cycle(s) on")
        m = re.fullmatch(r"(p\d+)_(ph|drn|dcnt)", name)
        if m:
            p = next(q for q in hw.pipelines if q.name == m.group(1))
            what = {"ph": "phase", "drn": "draining flag", "dcnt": "drain counter"}[m.group(2)]
            out[name] = ([("", p.loc.line)], f"pipeline {p.name}'s {what}")
    out["state"] = ([], "the FSM state")
    return out


def _registers(design: Design) -> list[dict[str, Any]]:
    info = _register_lines(design)
    regs = []
    for name, bits in design.registers:
        where, what = info.get(name, ([], ""))
        regs.append({"name": name, "bits": bits, "what": what, "lines": [line for f, line in where if not f]})
    return regs


def _source(design: Design) -> tuple[int, list[str]]:
    """The kernel's first line number and its source lines (none when Python cannot find them)."""
    try:
        lines, first = inspect.getsourcelines(design.kernel.fn)
    except (OSError, TypeError):
        return 0, []
    return max(first, 1), [line.rstrip("\n") for line in lines]


def _lines(design: Design) -> list[dict[str, Any]]:
    """The kernel's source lines, each with the operators, cycles and registers it became (then other files')."""
    hw = design.hw
    home = hw.fn.loc.file
    rows: dict[tuple[str, int], dict[str, Any]] = {}

    def row(file: str, line: int) -> dict[str, Any]:
        key = (file, line)
        if key not in rows:
            code = linecache.getline(file or home, line).rstrip("\n")
            rows[key] = {
                "line": line,
                **({"file": os.path.basename(file)} if file else {}),
                "code": code,
                "operators": Counter(),
                "cycles": {},
                "registers": [],
            }
        return rows[key]

    first, source = _source(design)
    for k, code in enumerate(source):
        row("", first + k)["code"] = code
    names = hw.block_names()
    regions = [(blk.graph.ops, "states", int(names[id(blk)][1:])) for blk in hw.blocks]  # a block's states
    regions += [(p.graph.ops, p.name, 0) for p in hw.pipelines]  # the cycles of a pipeline's iteration
    for ops, region, base in regions:
        for o in ops:
            if o.loc is None or o.kind in _HIDDEN:
                continue
            r = row("" if o.loc.file == home else o.loc.file, o.loc.line)
            if o.kind not in _NOT_OPERATORS:
                r["operators"][op_name(o)] += 1
            r["cycles"].setdefault(region, set()).add(base + o.time)
    info = _register_lines(design)
    for name, bits in design.registers:
        for file, line in info.get(name, ([], ""))[0]:
            row(file, line)["registers"].append({"name": name, "bits": bits})
    out = []
    for key in sorted(rows, key=lambda k: (k[0] != "", k[0], k[1])):
        r = rows[key]
        r["operators"] = dict(sorted(r["operators"].items()))
        r["cycles"] = {k: sorted(v) for k, v in sorted(r["cycles"].items(), key=lambda kv: kv[0] != "states")}
        out.append(r)
    return out


def _spans(numbers: list[int]) -> str:
    """`0–2, 5` for [0, 1, 2, 5]."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}\u2013{r[-1]}" for r in runs)


# ---- the page ----------------------------------------------------------------------------------------------


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1200px;
       color: #1d232a; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.2em; margin-top: 1.8em;
     border-bottom: 1px solid #d5dbe1; padding-bottom: .2em; } h3 { font-size: 1.05em; }
code, pre, td.code { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: 13px; }
table { border-collapse: collapse; margin: .5em 0; } th, td { padding: 2px 8px; text-align: left;
        vertical-align: top; border-bottom: 1px solid #eceff2; } th { background: #f3f5f7; }
td.num { text-align: right; font-variant-numeric: tabular-nums; } td.code { white-space: pre; }
tr.busy td.code { background: #fbf7e6; } .muted { color: #6a737d; } .yes { color: #17803d; }
.no { color: #b42318; } .miss { color: #b42318; font-weight: 600; }
.summary td:first-child { font-weight: 600; white-space: nowrap; }
svg { display: block; margin: .5em 0 1.5em; max-width: 100%; height: auto; }
svg text { font: 11px ui-monospace, Menlo, Consolas, monospace; fill: #1d232a; }
"""

_COLOURS = {
    "load": "#3b82c4",
    "store": "#1f5f99",
    "mul": "#e07b1a",
    "mul_const": "#f0a85a",
    "add": "#2f9e5b",
    "sub": "#2f9e5b",
    "add_const": "#67c08a",
    "wreg": "#8b95a1",
    "snap": "#b6bec8",
    "cmp": "#7f6bc4",
    "sel": "#a08fd9",
}
_OTHER = "#9aa5b1"
_HOT = "#d92d20"


def render(data: dict[str, Any]) -> str:
    """The HTML page of `data` (from `facts`): one file, inline CSS and SVG, no scripts, no network."""
    e = html.escape
    bound = ", ".join(f"{k}={v}" for k, v in data["params"].items())
    title = f"{data['kernel']}({bound})"
    parts = [
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>attnhls: {e(title)}</title>',
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f'<p class="muted">module <code>{e(data["top"])}</code> from <code>{e(data["file"])}</code>, '
        f"generated by attnhls</p>",
    ]
    parts += _summary(data)
    parts += _pipelines(data)
    parts += _flattening(data)
    parts += _memories(data)
    if data.get("synthesis"):
        parts += _synthesis(data["synthesis"])
    if data.get("testbench"):
        parts += _testbench(data["testbench"])
    parts += _source_table(data)
    if data.get("files"):
        parts.append("<h2>Files</h2><ul>" + "".join(f"<li><code>{e(f)}</code></li>" for f in data["files"]) + "</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)


def _summary(data: dict[str, Any]) -> list[str]:
    e = html.escape
    ops = ", ".join(f"{k} {v}" for k, v in data["operators"].items()) or "none"
    regs = data["registers"]
    rows = [
        ("latency", e(data["latency"]["text"])),
        ("states", str(data["states"])),
        ("clock", f"{data['clock_ns']} ns"),
        ("operators", e(ops)),
        ("registers", f"{regs['count']} ({regs['bits']} bits)"),
    ]  # (name, HTML)
    for p in data["pipelines"]:
        miss = p["ii"] > p["ii_asked"]
        ii = f'<span class="miss">II={p["ii"]}</span> (asked {p["ii_asked"]})' if miss else f"II={p['ii']}"
        rows.append(
            (
                f"pipeline {p['name']}",
                f"line {p['line']} <code>{e(p['var'])}</code>: {ii}, "
                f"depth {p['depth']}" + (f"; {e(p['reason'])}" if p["reason"] else ""),
            )
        )
    rows += [("not pipelined", e(n)) for n in data["not_pipelined"]]
    body = "".join(f"<tr><td>{e(k)}</td><td>{v}</td></tr>" for k, v in rows)
    return ["<h2>Summary</h2>", f'<table class="summary">{body}</table>']


def _pipelines(data: dict[str, Any]) -> list[str]:
    e = html.escape
    if not data["pipelines"]:
        return []
    out = [
        "<h2>Pipelines</h2>",
        '<p class="muted">The cycles of one iteration, left to right; a bar is an operator inside its cycle '
        "(chained operators share one), a pale bar the cycles a memory read waits for its data. Dashed lines: "
        "where the next iterations issue, every II cycles. Red: what bounds II when it is larger than "
        "asked.</p>",
    ]
    for p in data["pipelines"]:
        levels = ", ".join(p["levels"])
        head = f"{p['name']}: line {p['line']}, loop{'s' if len(p['levels']) > 1 else ''} {levels}"
        status = (
            f"II={p['ii']} (asked {p['ii_asked']}), depth {p['depth']}, drain {p['drain']}, FSM state "
            f"{p['state']}" + (f". II is {p['ii']}: {p['reason']}" if p["reason"] else "")
        )
        out.append(f'<h3>{e(head)}</h3><p class="{"miss" if p["ii"] > p["ii_asked"] else ""}">{e(status)}</p>')
        out.append(_chart(p, data["clock_ns"]))
    return out


def _chart(p: dict[str, Any], clock: float) -> str:
    """An SVG of one pipeline's schedule: a row per operator, a column per cycle, II marked."""
    e = html.escape
    left, col, row, top = 300, 64, 20, 40
    ops = p["ops"]
    by_id = {o["id"]: o for o in ops}
    arrows = [c for c in p["carried"] if c["bounds"] and c["src"] in by_id and c["dst"] in by_id]
    later = [by_id[c["dst"]]["cycle"] + p["ii"] * c["distance"] + 1 for c in arrows]  # the next issue of a dst
    cycles = max(p["depth"], p["ii"] + 1, *later)
    hot = set(p["bound"]["ops"]) if p["bound"] else set()
    width = max(left + col * cycles + 20, 720)
    height = top + row * max(len(ops), 1) + 30
    y_of = {o["id"]: top + row * k for k, o in enumerate(ops)}
    s = [
        f'<svg class="schedule" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="schedule of pipeline {e(p["name"])}">',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{_HOT}"/>'
        "</marker></defs>",
    ]
    for c in range(cycles):
        x = left + col * c
        fill = "#f6f8fa" if c % 2 else "#ffffff"
        s.append(f'<rect x="{x}" y="{top - 4}" width="{col}" height="{height - top - 22}" fill="{fill}"/>')
        s.append(f'<text x="{x + col / 2}" y="{top - 10}" text-anchor="middle">{c}</text>')
    s.append(f'<text x="{left - 8}" y="{top - 10}" text-anchor="end">cycle</text>')
    k = 1
    while p["ii"] * k < cycles:
        x = left + col * p["ii"] * k
        s.append(
            f'<line x1="{x}" y1="{top - 24}" x2="{x}" y2="{height - 22}" stroke="#3b4752" stroke-dasharray="4 3"/>'
        )
        s.append(f'<text x="{x + 3}" y="{top - 26}">{"II" if k == 1 else f"{k}·II"}</text>')
        k += 1
    for o in ops:
        y = y_of[o["id"]]
        where = f"line {o['line']}" if o.get("line") is not None else ""
        if o.get("file"):
            where = f"{o['file']}:{o['line']}"
        colour = _HOT if o["id"] in hot else _COLOURS.get(o["op"], _OTHER)
        label = f"{o['label']}  {where}".rstrip()
        ink = f' fill="{_HOT}"' if o["id"] in hot else ""
        s.append(f'<text x="{left - 8}" y="{y + 13}" text-anchor="end"{ink}>{e(label[:44])}</text>')
        x0 = left + col * (o["cycle"] + o["start_ns"] / clock)
        w = max(col * o["delay_ns"] / clock, 4)
        tip = (
            f"{o['label']} ({where}): cycle {o['cycle']}, {o['start_ns']:.2f}..{o['start_ns'] + o['delay_ns']:.2f}"
            f" ns"
            + (f", latency {o['latency']}" if o["latency"] else "")
            + (f", uses {o['resource']}" if o["resource"] else "")
        )
        if o["latency"]:
            s.append(
                f'<rect x="{left + col * (o["cycle"] + 1)}" y="{y + 5}" width="{col * o["latency"] - 2}" '
                f'height="{row - 10}" fill="{colour}" opacity="0.3"><title>{e(tip)}</title></rect>'
            )
        s.append(
            f'<rect x="{x0:.1f}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" rx="2" '
            f'fill="{colour}"><title>{e(tip)}</title></rect>'
        )
    for c in arrows:  # src's result reaches dst of a later iteration: a ghost of that dst, and an arrow to it
        src, dst = by_id[c["src"]], by_id[c["dst"]]
        again = dst["cycle"] + p["ii"] * c["distance"]
        y1, y2 = y_of[c["src"]] + row / 2, y_of[c["dst"]] + row / 2
        s.append(
            f'<rect x="{left + col * (again + dst["start_ns"] / clock):.1f}" y="{y2 - row / 2 + 3}" '
            f'width="{max(col * dst["delay_ns"] / clock, 4):.1f}" height="{row - 6}" rx="2" fill="none" '
            f'stroke="{_HOT}" stroke-dasharray="3 2"><title>{e(dst["label"])} of iteration +{c["distance"]}'
            "</title></rect>"
        )
        x1 = left + col * (src["cycle"] + src["latency"]) + (0 if src["latency"] else col * 0.9)
        x2 = left + col * (again + dst["start_ns"] / clock) - 2
        s.append(
            f'<path d="M{x1:.1f},{y1} C{x1 + 30:.1f},{y1} {x2 - 30:.1f},{y2} {x2:.1f},{y2}" fill="none" '
            f'stroke="{_HOT}" stroke-width="1.5" marker-end="url(#arrow)"><title>{e(c["why"])}: the next '
            f"iteration's %{c['dst']} needs II &gt;= {c['needs_ii']}</title></path>"
        )
    if p["bound"] and p["bound"]["kind"] == "resource":
        s.append(
            f'<text x="{left}" y="{height - 6}" fill="{_HOT}">bounded by '
            f"{e(', '.join(p['bound']['resources']))}: every use in red</text>"
        )
    elif p["bound"]:
        s.append(f'<text x="{left}" y="{height - 6}" fill="{_HOT}">bounded by the recurrence drawn in red</text>')
    s.append("</svg>")
    return "".join(s)


def _flattening(data: dict[str, Any]) -> list[str]:
    e = html.escape
    if not data["flattening"]:
        return []
    rows = "".join(
        f'<tr><td class="num">{n["line"]}</td><td><code>{e(n["var"])}</code></td>'
        f'<td class="{"yes" if n["flattened"] else "no"}">{"flattened" if n["flattened"] else "not"}</td>'
        f"<td>{e(n['why'])}</td></tr>"
        for n in data["flattening"]
    )
    return [
        "<h2>Loop nests</h2>",
        '<p class="muted">Each loop around a pipelined loop, and why it was or was not flattened into the '
        "pipeline (a flattened nest issues across rows with no drain between them).</p>",
        f"<table><tr><th>line</th><th>loop</th><th></th><th>why</th></tr>{rows}</table>",
    ]


def _memories(data: dict[str, Any]) -> list[str]:
    e = html.escape
    if not data["memories"]:
        return []
    rows = "".join(
        f'<tr><td><code>{e(m["name"])}</code></td><td>{e(m["kind"])}</td><td class="num">{m["banks"]}'
        f'</td><td class="num">{m["depth"]}</td><td class="num">{m["width"]}</td><td class="num">'
        f'{m["ports"]}</td><td class="num">{m["bits"]}</td></tr>'
        for m in data["memories"]
    )
    return [
        "<h2>Memories</h2>",
        "<table><tr><th>array</th><th>kind</th><th>banks</th><th>depth</th><th>width</th>"
        f"<th>ports</th><th>bits</th></tr>{rows}</table>",
    ]


def _synthesis(syn: dict[str, Any]) -> list[str]:
    e = html.escape
    head = "".join(
        f'<tr><td>{k}</td><td class="num">{syn[k]}</td></tr>'
        for k in ("LUT", "FF", "DSP", "BRAM", "LUTRAM", "CARRY")
        if k in syn
    )
    cells = ", ".join(f"{e(k)} {v}" for k, v in syn.get("cells", {}).items())
    return ["<h2>Yosys synth_xilinx</h2>", f"<table>{head}</table>", f'<p class="muted">cells: {cells}</p>']


def _testbench(tb: dict[str, Any]) -> list[str]:
    e = html.escape
    if tb.get("file"):
        return [
            "<h2>Testbench</h2>",
            f"<p><code>{e(tb['file'])}</code> runs one example ({e(tb['source'])}) and "
            f"checks its outputs against the python backend's. Run: <code>{e(tb['run'])}</code></p>",
        ]
    return ["<h2>Testbench</h2>", f'<p class="no">none: {e(tb.get("why", ""))}</p>']


def _source_table(data: dict[str, Any]) -> list[str]:
    e = html.escape
    out = [
        "<h2>Source</h2>",
        '<p class="muted">Each line of the kernel and what it became: operators by kind and count, the FSM '
        "states (or pipeline cycles) they run in, and the registers it writes (pipeline values held over "
        "cycles included). The Verilog marks each datapath assignment with its line too "
        "(<code>// line N</code>).</p>",
        '<table class="source"><tr><th>line</th><th>code</th><th>operators</th><th>cycles</th><th>registers</th></tr>',
    ]
    for r in data["lines"]:
        ops = ", ".join(f"{k}&#215;{v}" if v > 1 else k for k, v in r["operators"].items())
        regs = ", ".join(f"<code>{e(g['name'])}</code> ({g['bits']})" for g in r["registers"])
        where = f"{r['file']}:{r['line']}" if r.get("file") else str(r["line"])
        cycles = "; ".join(
            f"{'state' if k == 'states' else f'{k} cycle'}{'s' if len(v) > 1 else ''} {_spans(v)}"
            for k, v in r["cycles"].items()
        )
        busy = ' class="busy"' if r["operators"] or r["registers"] else ""
        out.append(
            f'<tr{busy}><td class="num">{e(where)}</td><td class="code">{e(r["code"])}</td>'
            f"<td>{ops}</td><td>{e(cycles)}</td><td>{regs}</td></tr>"
        )
    out.append("</table>")
    return out
