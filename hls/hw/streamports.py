"""The stream ports of a design's top, as the simulation harnesses drive them.

A stream parameter of the top (a region's, or a lone process's) is a valid/ready port
`s_<name>_data/valid/ready`. The software backends' rule holds here too (backends/_dataflow.py): a port the
design reads is fed the 1-D array given for it, valid while values are left (never more than that: reading
past them blocks, and a design that can do nothing else is deadlocked); a port the design writes has ready
always high, and its values fill the front of the array given for it (more values than the array holds is
an ArgumentError, and nothing is written back).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hls.errors import ArgumentError
from hls.hw.names import clean
from hls.types import ScalarType, numpy_dtype


def prefix(name: str) -> str:
    """The port prefix of stream `name`: `s_<name>`."""
    return f"s_{clean(name)}"


def interface_ports(ports: dict[str, tuple[str, ScalarType]]) -> tuple[Any, ...]:
    """hls.tools.interface.StreamPort of each (name -> ("read" | "write", element type)), in order."""
    from hls.hw.dfg import int_type
    from hls.tools.interface import StreamPort

    out = []
    for name, (direction, elem) in ports.items():
        it = int_type(elem)
        out.append(StreamPort(prefix(name), it.width, it.signed, direction == "read"))
    return tuple(out)


def images(ports: dict[str, tuple[str, ScalarType]], values: dict[str, Any]) -> dict[str, np.ndarray]:
    """The harness's input of each port: the values to feed, or the array to fill (its size is the capacity)."""
    return {prefix(name): np.asarray(values[name]) for name in ports}


def counts(ports: dict[str, tuple[str, ScalarType]], got: dict[str, Any]) -> dict[str, int]:
    """How many values each written port gave, from the MyHDL bench's lists of them."""
    return {prefix(name): len(got[prefix(name)]) for name, (direction, _) in ports.items() if direction == "write"}


def too_many(kernel: str, name: str, count: int, size: int) -> ArgumentError:
    """The error of an output stream port given more values than its array holds (every backend raises it)."""
    return ArgumentError(
        f"{kernel}(): output stream `{name}` received {count} values, but its array holds {size}; "
        f"pass an array of at least {count}"
    )


def write_back(
    kernel: str,
    ports: dict[str, tuple[str, ScalarType]],
    got: dict[str, np.ndarray],
    counts: dict[str, int],
    values: dict[str, Any],
) -> None:
    """Copy what each written port gave (`got`, `counts` by prefix) to the front of its array; ArgumentError
    (before anything is written) when a port gave more values than its array holds."""
    written = [name for name, (direction, _) in ports.items() if direction == "write"]
    for name in written:
        count, size = counts[prefix(name)], np.size(values[name])
        if count > size:
            raise too_many(kernel, name, count, size)
    for name in written:
        count = counts[prefix(name)]
        out = values[name]
        dtype = numpy_dtype(ports[name][1])
        out[:count] = np.array([int(v) for v in got[prefix(name)][:count]], dtype=object).astype(dtype)
