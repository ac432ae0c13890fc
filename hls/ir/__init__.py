from hls.ir.nodes import *  # noqa: F401,F403
