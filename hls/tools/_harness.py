"""The C++ side of the Verilator simulation harness: a shared header, one driver per module, one `main`.

The harness runs jobs read from a file of little-endian 64-bit words and writes the results to another:

    input:  n_jobs, then per job: module index, max_cycles, the scalars (interface order),
            then each bank's `depth` words (interface order),
            then per stream port: one it reads, n and the n values; one it writes, the capacity c
    output: per job: status (0 done, 1 timed out, 2 halted), cycles, ret (0 when none),
            then each bank's `depth` words (sign-extended when the bank is signed),
            then per monitor: max, cycles at 0, cycles full, last value,
            then per stream port: one it reads, how many values it took; one it writes, how many it gave,
            then c words (the first c values it gave, zeros after the last)

Values travel as two's-complement bits; the harness keeps only the low `width` bits of what it
drives and sign-extends what it reads from signed ports.

A tracing build (`trace=True`: Verilated with `--trace-vcd`, compiled with VM_TRACE=1) runs as
`sim JOBS_IN RESULTS_OUT VCD_PREFIX` and also writes job j's waveform to `<VCD_PREFIX><j>.vcd`: every
signal of the model after each half cycle (even times: clock low, inputs set; odd times: just after the
rising edge, the RAMs' new read data driven). The code only a tracing build needs sits under `#if VM_TRACE`
or is generated only for it, so the other builds compile exactly what they did.
"""

from __future__ import annotations

from pathlib import Path

from hls.tools._common import digest
from hls.tools.interface import Interface, Port

# NOTE: every cache key includes a hash of this file, so a change here rebuilds what depends on it.
SOURCE_HASH = digest(Path(__file__).read_bytes())

HEADER = r"""// attnhls Verilator harness: the memory model and the run protocol shared by every module.
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "verilated.h"
#if VM_TRACE
#include "verilated_vcd_c.h"
#endif

namespace attnhls {

// One Verilator context for every model of the process (a fresh one per job costs ~0.1 ms).
inline VerilatedContext& shared_context() {
    static VerilatedContext context;
    return context;
}

#if VM_TRACE
// A context of its own for each traced model: a context keeps every model that was ever made in it and
// hands them all to the next trace file opened.
inline VerilatedContext* traced_context() {
    VerilatedContext* context = new VerilatedContext;
    context->traceEverOn(true);
    return context;
}

// The waveform of one job: the model's signals dumped after every half cycle (times 0, 1, 2, ...).
struct Wave {
    std::unique_ptr<VerilatedVcdC> file;
    uint64_t time = 0;

    template <class Top>
    void open(Top& top, const char* path) {
        file.reset(new VerilatedVcdC);
        top.trace(file.get(), 99);
        file->open(path);
    }
    void dump() {
        if (file) file->dump(time++);
    }
    ~Wave() {
        if (file) file->close();
    }
};
#endif

inline uint64_t mask(int width) { return width >= 64 ? ~0ULL : ((1ULL << width) - 1); }

// The low `width` bits: what a port of that width holds.
inline uint64_t low_bits(uint64_t value, int width) { return value & mask(width); }

// Read a `width`-bit port as a 64-bit value, sign-extended when the port is signed.
inline uint64_t widen(uint64_t value, int width, bool is_signed) {
    value = low_bits(value, width);
    if (is_signed && width < 64 && ((value >> (width - 1)) & 1)) value |= ~mask(width);
    return value;
}

// A synchronous RAM: 1-cycle read latency, read-first, `ports` independent ports.
// Words hold the low `width` bits; an address >= depth reads 0 and ignores writes.
struct Ram {
    uint64_t depth;
    int width;
    bool is_signed;
    std::vector<uint64_t> mem, addr, wdata, rdata;
    std::vector<uint8_t> we;

    Ram(uint64_t depth_, int width_, bool is_signed_, int ports)
        : depth(depth_), width(width_), is_signed(is_signed_), mem(depth_, 0), addr(ports, 0), wdata(ports, 0),
          rdata(ports, 0), we(ports, 0) {}

    // The rising edge, from the port outputs sampled just before it: every port reads the old
    // contents (read-first), then the writes land, in port order.
    void edge() {
        for (size_t p = 0; p < addr.size(); ++p) rdata[p] = addr[p] < depth ? mem[addr[p]] : 0;
        for (size_t p = 0; p < addr.size(); ++p)
            if (we[p] && addr[p] < depth) mem[addr[p]] = low_bits(wdata[p], width);
    }
};

// What the harness records of one monitored output.
struct Watch {
    uint64_t full, max = 0, zero = 0, full_cycles = 0, last = 0;
    void see(uint64_t v) {
        if (v > max) max = v;
        zero += v == 0;
        full_cycles += v == full;
        last = v;
    }
};

// A stream port the module reads: the harness feeds it `values`, one per handshake, valid while any are left.
struct Feed {
    std::vector<uint64_t> values;
    uint64_t at = 0;
    bool fire = false;  // a handshake at the coming edge
};

// A stream port the module writes: ready always high; the first `cap` values are kept, all are counted.
struct Drain {
    uint64_t cap = 0, count = 0;
    std::vector<uint64_t> got;
    void take(uint64_t v) {
        if (count++ < cap) got.push_back(v);
    }
};

// Reads the input words in order.
struct Reader {
    const uint64_t* at;
    uint64_t next() { return *at++; }
};

// One clock cycle of `sim`: the falling half, the port sample, the rising edge, then the RAMs.
// NOTE: the new read data is driven only after the design has evaluated the edge, so no register
// captures it at the edge that produced it.
template <class Sim>
void tick(Sim& sim) {
    sim.top.clk = 0;
    sim.top.eval();
    sim.sample();
#if VM_TRACE
    sim.wave.dump();
#endif
    sim.top.clk = 1;
    sim.top.eval();
    for (Ram* ram : sim.rams) ram->edge();
    sim.drive_rdata();
    sim.top.eval();
#if VM_TRACE
    sim.wave.dump();
#endif
}

// One job on a fresh model: reset for 2 edges, load the scalars and memories, pulse start for one
// edge, then count edges until `done` is high (at most max_cycles). Returns 0 when done, 1 on timeout.
// A tracing build writes the job's waveform to `vcd` (when not null).
template <class Sim>
int run_job(Reader& in, std::vector<uint64_t>& out, const char* vcd = nullptr) {
    std::unique_ptr<Sim> owner(new Sim);  // NOTE: on the heap: a Verilated model can be large
    Sim& sim = *owner;
#if VM_TRACE
    if (vcd) sim.wave.open(sim.top, vcd);
#else
    (void)vcd;
#endif
    uint64_t max_cycles = in.next();
    sim.top.clk = 0;
    sim.top.start = 0;
    sim.top.rst = 1;
    tick(sim);
    tick(sim);
    sim.top.rst = 0;
    sim.set_scalars(in);
    for (Ram* ram : sim.rams)
        for (uint64_t i = 0; i < ram->depth; ++i) ram->mem[i] = low_bits(in.next(), ram->width);
    sim.set_streams(in);
    sim.top.start = 1;
    tick(sim);
    sim.top.start = 0;
    uint64_t cycles = 0;
    int status = 0;
    while (!sim.top.done) {
        if (cycles >= max_cycles) {
            status = 1;
            break;
        }
        tick(sim);
        ++cycles;
        if (sim.watch()) {
            status = 2;
            break;
        }
    }
    out.push_back(status);
    out.push_back(cycles);
    out.push_back(sim.ret());
    for (Ram* ram : sim.rams)
        for (uint64_t i = 0; i < ram->depth; ++i) out.push_back(widen(ram->mem[i], ram->width, ram->is_signed));
    for (const Watch& w : sim.watches) {
        out.push_back(w.max);
        out.push_back(w.zero);
        out.push_back(w.full_cycles);
        out.push_back(w.last);
    }
    sim.put_streams(out);
    sim.top.final();
    return status;
}

}  // namespace attnhls
"""

MAIN = r"""// attnhls Verilator harness: runs the jobs of {infile} on the modules linked in, writes {outfile}.
#include <cstdint>
#include <cstdio>
#include <vector>

{declarations}

using Runner = int (*)({runner_params});
static const Runner kModules[] = {{{table}}};
static const uint64_t kModuleCount = {count};

int main(int argc, char** argv) {{
    if (argc != {argc}) {{
        std::fprintf(stderr, "usage: %s {usage}\n", argv[0]);
        return 2;
    }}
    std::FILE* f = std::fopen(argv[1], "rb");
    if (!f) {{
        std::perror(argv[1]);
        return 2;
    }}
    std::vector<uint64_t> words;
    uint64_t chunk[4096];
    size_t n;
    while ((n = std::fread(chunk, sizeof(uint64_t), 4096, f)) > 0) words.insert(words.end(), chunk, chunk + n);
    std::fclose(f);
    const uint64_t* in = words.data();
    uint64_t jobs = *in++;
    std::vector<uint64_t> out;
    for (uint64_t j = 0; j < jobs; ++j) {{
        uint64_t module = *in++;
        if (module >= kModuleCount) {{
            std::fprintf(stderr, "job %llu: no module %llu\n", (unsigned long long)j, (unsigned long long)module);
            return 2;
        }}
{call}
    }}
    f = std::fopen(argv[2], "wb");
    if (!f || std::fwrite(out.data(), sizeof(uint64_t), out.size(), f) != out.size() || std::fclose(f) != 0) {{
        std::perror(argv[2]);
        return 2;
    }}
    return 0;
}}
"""


def _port_read(port: Port) -> str:
    return f"attnhls::widen(top.{port.name}, {port.width}, {str(port.signed).lower()})"


def driver_source(prefix: str, iface: Interface, trace: bool = False) -> str:
    """The C++ driver of one Verilated module (class `prefix`): its ports, its RAMs and its entry point.

    trace: the driver of a tracing build (a context of its own, a `Wave`, an entry point taking the VCD path).
    """
    rams = [
        f"    attnhls::Ram ram{i}{{{b.depth}, {b.width}, {str(b.signed).lower()}, {b.ports}}};  // {b.prefix}"
        for i, b in enumerate(iface.banks)
    ]
    scalars = [f"        top.{s.name} = attnhls::low_bits(in.next(), {s.width});" for s in iface.scalars]
    sample: list[str] = []
    drive: list[str] = []
    for i, bank in enumerate(iface.banks):
        for p in range(bank.ports):
            sample.append(f"        ram{i}.addr[{p}] = top.{bank.port_name('addr', p)};")
            if bank.writes:
                sample.append(f"        ram{i}.we[{p}] = top.{bank.port_name('we', p)};")
                sample.append(f"        ram{i}.wdata[{p}] = top.{bank.port_name('wdata', p)};")
            if bank.reads:
                drive.append(
                    f"        top.{bank.port_name('rdata', p)} = attnhls::low_bits(ram{i}.rdata[{p}], {bank.width});"
                )
    feeds, drains, set_streams, put_streams = _streams(iface, sample, drive)
    ret = f"return {_port_read(iface.ret)};" if iface.ret is not None else "return 0;"
    watches = [f"        watches[{i}].see({_port_read(m.port)});" for i, m in enumerate(iface.monitors)]
    halt = next((i for i, m in enumerate(iface.monitors) if m.port.name == iface.halt), None)
    init = ", ".join(f"attnhls::Watch{{{m.full & 0xFFFF_FFFF_FFFF_FFFF}ULL}}" for m in iface.monitors)
    ram_list = ", ".join(f"&ram{i}" for i in range(len(iface.banks)))
    if trace:
        context = ["    std::unique_ptr<VerilatedContext> context{attnhls::traced_context()};"]
        top = f'    {prefix} top{{context.get(), "{iface.top}"}};'
        wave = ["    attnhls::Wave wave;  // NOTE: after `top`, so the file closes before the model goes"]
    else:
        context, top, wave = [], f'    {prefix} top{{&attnhls::shared_context(), "{iface.top}"}};', []
    lines = [
        f"// attnhls Verilator harness: the driver of module `{iface.top}`, Verilated as class {prefix}.",
        '#include "harness.h"',
        f'#include "{prefix}.h"',
        "",
        "namespace {",
        "",
        f"struct Sim_{prefix} {{",
        *context,
        top,
        *rams,
        f"    attnhls::Ram* rams[{len(iface.banks)}] = {{{ram_list}}};"
        if iface.banks
        else "    std::vector<attnhls::Ram*> rams;",
        *feeds,
        *drains,
        *wave,
        "",
        "    void set_scalars(attnhls::Reader& in) {",
        *(scalars or ["        (void)in;"]),
        "    }",
        "    // The stream ports' values (after reset): the first value fed to each port it reads.",
        "    void set_streams(attnhls::Reader& in) {",
        *(set_streams or ["        (void)in;"]),
        "    }",
        "    void put_streams(std::vector<uint64_t>& out) {",
        *(put_streams or ["        (void)out;"]),
        "    }",
        "    // The port outputs as they are just before the rising edge.",
        "    void sample() {",
        *(sample or ["        // (no memory ports)"]),
        "    }",
        "    // The RAMs' new read data, and the next value of each stream fed, right after the edge.",
        "    void drive_rdata() {",
        *(drive or ["        // (no read ports)"]),
        "    }",
        f"    uint64_t ret() {{ {ret} }}",
        f"    std::vector<attnhls::Watch> watches{{{init}}};",
        "    // Sample the monitors after an edge; true when the halt monitor is set.",
        "    bool watch() {",
        *watches,
        f"        return {f'watches[{halt}].last != 0' if halt is not None else 'false'};",
        "    }",
        "};",
        "",
        "}  // namespace",
        "",
        f"int attnhls_run_{prefix}({_runner_params(trace)}) {{",
        "    attnhls::Reader reader{*in};",
        f"    int status = attnhls::run_job<Sim_{prefix}>(reader, out{', vcd' if trace else ''});",
        "    *in = reader.at;",
        "    return status;",
        "}",
        "",
    ]
    return "\n".join(lines)


def _streams(iface: Interface, sample: list[str], drive: list[str]) -> tuple[list[str], ...]:
    """The C++ of the stream ports: members, and the lines of set_streams and put_streams; adds the handshake
    to `sample` (before the edge) and the next value fed to `drive` (after it)."""
    members: tuple[list[str], list[str]] = ([], [])
    load: list[str] = []
    store: list[str] = []
    for i, st in enumerate(iface.streams):
        data, valid, ready = (f"top.{st.prefix}_{x}" for x in ("data", "valid", "ready"))
        if st.into:
            members[0].append(f"    attnhls::Feed feed{i};  // {st.prefix}")
            load += [
                f"        feed{i}.values.resize(in.next());",
                f"        for (uint64_t& v : feed{i}.values) v = in.next();",
                f"        {valid} = !feed{i}.values.empty();",
                f"        {data} = feed{i}.values.empty() ? 0 : attnhls::low_bits(feed{i}.values[0], {st.width});",
            ]
            sample.append(f"        feed{i}.fire = {valid} && {ready};")
            drive += [
                f"        if (feed{i}.fire && ++feed{i}.at < feed{i}.values.size()) {{",
                f"            {data} = attnhls::low_bits(feed{i}.values[feed{i}.at], {st.width});",
                f"        }} else if (feed{i}.fire) {{",
                f"            {valid} = 0;",
                "        }",
            ]
            store.append(f"        out.push_back(feed{i}.at);")
        else:
            members[1].append(f"    attnhls::Drain drain{i};  // {st.prefix}")
            load += [f"        drain{i}.cap = in.next();", f"        {ready} = 1;"]
            value = _port_read(Port(f"{st.prefix}_data", st.width, st.signed))
            sample.append(f"        if ({valid} && {ready}) drain{i}.take({value});")
            store += [
                f"        out.push_back(drain{i}.count);",
                f"        for (uint64_t k = 0; k < drain{i}.cap; ++k)",
                f"            out.push_back(k < drain{i}.got.size() ? drain{i}.got[k] : 0);",
            ]
    return members[0], members[1], load, store


def _runner_params(trace: bool) -> str:
    """The parameters of a module's entry point (a tracing build's also takes the VCD path)."""
    return "const uint64_t** in, std::vector<uint64_t>& out" + (", const char* vcd" if trace else "")


def main_source(prefixes: list[str], trace: bool = False) -> str:
    """The harness `main` for an executable holding the modules `prefixes`, selected by index.

    trace: the main of a tracing build, `sim JOBS_IN RESULTS_OUT VCD_PREFIX`, job j traced to `<VCD_PREFIX><j>.vcd`.
    """
    params = _runner_params(trace)
    declarations = "\n".join(f"int attnhls_run_{p}({params});" for p in prefixes)
    table = ", ".join(f"attnhls_run_{p}" for p in prefixes)
    if trace:
        call = (
            "        char vcd[4096];\n"
            '        std::snprintf(vcd, sizeof vcd, "%s%llu.vcd", argv[3], (unsigned long long)j);\n'
            "        kModules[module](&in, out, vcd);"
        )
        usage, argc = "JOBS_IN RESULTS_OUT VCD_PREFIX", 4
    else:
        call, usage, argc = "        kModules[module](&in, out);", "JOBS_IN RESULTS_OUT", 3
    return MAIN.format(
        infile="argv[1]",
        outfile="argv[2]",
        declarations=declarations,
        table=table,
        count=len(prefixes),
        runner_params=params,
        argc=argc,
        usage=usage,
        call=call,
    )


def chunk_source(unities: list) -> str:
    """One translation unit compiling several modules' `unity.cpp` files."""
    # NOTE: each module's generated precompiled-header file refuses to follow another one; they are
    # plain includes here (the real precompiled header is verilated.h, given with -include).
    parts = [f'#undef VL_PCH_INCLUDED\n#include "{path}"' for path in unities]
    return "// attnhls: several Verilated modules compiled as one translation unit.\n" + "\n".join(parts) + "\n"


def unity_source(prefix: str, generated: list[str]) -> str:
    """One translation unit for a module: Verilator's generated .cpp files, then the driver."""
    includes = "\n".join(f'#include "{name}"' for name in generated)
    return (
        f"// attnhls: all of {prefix}'s Verilated C++ in one translation unit, then its driver.\n{includes}\n"
        f'#include "driver.cpp"\n'
    )
