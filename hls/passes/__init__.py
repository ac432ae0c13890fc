"""The IR passes of the HLS compiler, one module each, run in PASSES order by `run_all`."""
