"""What `backends.run` returns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RunResult:
    """The outcome of one kernel run; output arrays were updated in place.

    `value` is the kernel's return value (None when it returns nothing),
    `cycles` the simulated clock cycles (HDL backends only), `seconds` the
    wall time of the kernel itself, excluding argument checks and compilation.
    """

    backend: str
    value: Any = None
    cycles: int | None = None
    seconds: float | None = None
