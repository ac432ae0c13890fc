"""One speed fix for MyHDL, with the same results.

MyHDL sizes every `intbv(min=..., max=...)` from its two's-complement bit
string, which `myhdl._bin._int2bitstring` builds one bit at a time (a Python
loop of divmods). A generated datapath declares each of its exact-width
variables every time it runs, so that loop took about 40 % of a simulation.
`install()` swaps in a function that returns the same strings from Python's
integer formatting (tests/test_hls.py compares the two).
"""

from __future__ import annotations

import functools


def int2bitstring(num: int) -> str:
    """The minimal two's-complement bit string of `num`, as `myhdl._bin._int2bitstring` writes it."""
    if num >= 0:
        return format(num, "b")
    width = (~num).bit_length() + 1  # the sign bit and the magnitude's bits
    return format(num & ((1 << width) - 1), "b")


@functools.cache
def install() -> None:
    from myhdl import _bin

    _bin._int2bitstring = int2bitstring
