"""`python`: the reference backend; exact integers, checked indices."""

from __future__ import annotations

from backends._software import SourceBackend


class PythonBackend(SourceBackend):
    """Run the kernel as generated plain Python with explicit wrap-around at stores."""

    name = "python"
    flavor = "python"
