"""Test set-up: with no NVIDIA GPU here, the numba-cuda backend runs on Numba's CUDA simulator; the two slowest
single tests start first."""

import os
import shutil

import pytest

# NOTE: this must happen before anything imports numba.cuda; a real GPU (nvidia-smi present) is used as is.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"

# Minutes each on a cold machine, and one test each: the Verilator build of all the random kernels (the first
# verilator chunk of a process builds them in one batch) and Yosys's first run (it compiles its WebAssembly).
# Started last they would leave the other worker idle at the end of the run.
SLOWEST = ["tests/test_random_kernels.py::test_random_kernels_agree[verilator-0]",
           "tests/test_tools.py::test_yosys_counts"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Put the slowest tests at the head of the first tests each pytest-xdist worker is given.

    `--dist worksteal` (`make test`) gives each worker an equal run of consecutive tests to start with, and
    `--dist load` a quarter of that (pytest-xdist 3.x); without workers the order matters little.
    """
    slow = [it for it in items if it.nodeid in SLOWEST]
    if not slow:
        return
    rest = [it for it in items if it.nodeid not in SLOWEST]
    worker = getattr(config, "workerinput", {})  # set in pytest-xdist's workers
    workers = worker.get("workercount", 1)
    share = len(items) // workers
    first = share if "worksteal" in " ".join(worker.get("mainargv", [])) else max(share // 4, 2)
    heads = [k * first for k in range(len(slow))] if workers > 1 else list(range(len(slow)))
    for at, item in zip(heads, slow):
        rest.insert(min(at, len(rest)), item)
    items[:] = rest
