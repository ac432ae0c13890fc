"""`python`: the reference backend; exact integers, checked indices."""

from __future__ import annotations

from typing import Any

import numpy as np

from backends._software import SourceBackend
from hls.types import FloatType, ScalarType


class PythonBackend(SourceBackend):
    """Run the kernel as generated plain Python with explicit wrap-around at stores."""

    name = "python"
    flavor = "python"

    def scalar(self, value: Any, t: ScalarType) -> Any:
        if isinstance(t, FloatType):  # NOTE: float32 arithmetic must round to float32, as compiled code does
            return np.float32(value) if t.width == 32 else np.float64(value)
        return value
