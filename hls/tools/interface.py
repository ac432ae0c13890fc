"""The port-level interface of a generated module, as the simulation harness drives it.

A module `top` has `clk`, `rst` (synchronous, active high), `start` and `done`; scalar inputs
`p_<name>`; an optional `ret` output; and, per memory bank with prefix P and port p,
`P_addr{p}` (out), `P_rdata{p}` (in, when the bank is read), `P_wdata{p}` and `P_we{p}` (out, when
it is written). Each bank is a synchronous RAM with 1-cycle read latency, read-first. Per stream port
with prefix S: `S_data`, `S_valid` and `S_ready`, a value passing at each rising edge where valid and
ready are both high.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_WIDTH = 64


@dataclass(frozen=True)
class Port:
    """A scalar port: the full Verilog name (`p_x`, `ret`), its width in bits and its signedness."""

    name: str
    width: int
    signed: bool

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"port {self.name}: width {self.width} is not in 1..{MAX_WIDTH}")


@dataclass(frozen=True)
class Bank:
    """A memory bank: its port-name prefix (`m_q`), depth in words, word width and signedness, ports."""

    prefix: str
    depth: int
    width: int
    signed: bool
    ports: int = 1
    reads: bool = True
    writes: bool = False

    def __post_init__(self) -> None:
        if self.depth < 1:
            raise ValueError(f"bank {self.prefix}: depth {self.depth} must be at least 1")
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"bank {self.prefix}: width {self.width} is not in 1..{MAX_WIDTH}")
        if self.ports < 1:
            raise ValueError(f"bank {self.prefix}: needs at least one port")
        if not (self.reads or self.writes):
            raise ValueError(f"bank {self.prefix}: neither read nor written")

    @property
    def addr_width(self) -> int:
        """The width of the address ports: max(1, (depth - 1).bit_length())."""
        return max(1, (self.depth - 1).bit_length())

    def port_name(self, signal: str, port: int) -> str:
        """The Verilog name of `signal` (addr, rdata, wdata, we) on port `port`: `m_q_addr0`."""
        return f"{self.prefix}_{signal}{port}"


@dataclass(frozen=True)
class StreamPort:
    """A valid/ready stream port (`s_x`: `s_x_data`, `s_x_valid`, `s_x_ready`) of `width`-bit values.

    `into`: the module reads it, and the harness feeds it the values given for the run, valid while any are
    left; otherwise the module writes it, and the harness takes every value (ready always high), keeping as
    many as the array given for it holds and counting them all.
    """

    prefix: str
    width: int
    signed: bool
    into: bool

    def __post_init__(self) -> None:
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"stream {self.prefix}: width {self.width} is not in 1..{MAX_WIDTH}")


@dataclass(frozen=True)
class Monitor:
    """An output the harness watches from start to done: its max, the cycles it is 0 and the cycles it equals
    `full` (-1: never), and its last value (FIFO occupancy counters, a process's wait code)."""

    port: Port
    full: int = -1


@dataclass(frozen=True)
class Interface:
    """The ports of module `top`, besides clk, rst, start and done; `halt`: a monitor that stops the run when
    it is not 0 (a dataflow region's `mon_deadlock`); `streams`: its stream ports."""

    top: str
    scalars: tuple[Port, ...] = ()
    ret: Port | None = None
    banks: tuple[Bank, ...] = ()
    monitors: tuple[Monitor, ...] = ()
    halt: str | None = None
    streams: tuple[StreamPort, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "scalars", tuple(self.scalars))  # NOTE: lists given are kept as tuples
        object.__setattr__(self, "banks", tuple(self.banks))
        object.__setattr__(self, "streams", tuple(self.streams))
        names = [s.name for s in self.scalars] + [b.prefix for b in self.banks] + [s.prefix for s in self.streams]
        if len(set(names)) != len(names):
            raise ValueError(f"interface of {self.top}: duplicate port names in {names}")

    def key(self) -> str:
        """A deterministic text of the whole interface, for cache keys."""
        return repr(self)
