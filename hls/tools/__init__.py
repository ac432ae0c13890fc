"""The HDL tool layer: Verilator simulation and lint, Yosys synthesis figures, a VHDL check.

Independent of the compiler: it takes Verilog (or VHDL) text and the port-level `Interface` of the
module, and never imports the rest of `hls`.
"""

from hls.cache import cache_dir
from hls.tools._common import ToolError, ToolMissing
from hls.tools.interface import Bank, Interface, Port

__all__ = ["Bank", "Interface", "Port", "ToolError", "ToolMissing", "cache_dir"]
