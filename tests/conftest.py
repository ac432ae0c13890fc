"""Test set-up: with no NVIDIA GPU here, the numba-cuda backend runs on Numba's CUDA simulator; every test gets its
tier's marker (tests/README.md); the two slowest single tests start first."""

import os
import shutil
from collections.abc import Iterator

import pytest

# NOTE: this must happen before anything imports numba.cuda; a real GPU (nvidia-smi present) is used as is.
if "NUMBA_ENABLE_CUDASIM" not in os.environ and shutil.which("nvidia-smi") is None:
    os.environ["NUMBA_ENABLE_CUDASIM"] = "1"
os.environ.setdefault("ATTNHLS_VERIFY_IR", "1")  # the IR verifier between passes, the schedule's between stages


def pytest_configure(config: pytest.Config) -> None:
    """Register the built-in backends also where the package is not installed (no entry points: a bare copy)."""
    import backends

    backends.names()


# Tiers, by what a test needs (tests/README.md; `-m "not hdl and not slow"` is `make test-fast`). A test's tier is
# that of its `backend` parameter, else its own entry in TEST_TIER, else its file's in FILE_TIER, else pure.
# WHOLE_FILES put every test of a file in these tiers, whatever its parameters.
BACKEND_TIER = {"python": "pure", "numba-cpu": "cpu", "numba-cuda": "cuda", "myhdl": "hdl", "verilator": "hdl"}
WHOLE_FILES = {
    "test_hls.py": ("hdl",),
    "test_tools.py": ("hdl",),
    "test_report.py": ("hdl",),
    "test_report_browser.py": ("hdl",),
    "test_waveforms.py": ("hdl",),
    "test_examples.py": ("hdl",),
    "test_random_kernels.py": ("hdl", "slow"),
    "test_streams_hdl.py": ("hdl",),
    "test_recurrences.py": ("hdl",),
    "test_timing.py": ("hdl",),  # Yosys and nextpnr-ecp5
    "test_sweep.py": ("hdl",),
    "test_lanes.py": ("hdl",),  # simulates the lane units on myhdl and verilator
}
# Files whose tests run kernels through Numba (or the GPU) inside the test, not through a `backend` parameter.
FILE_TIER = {
    "test_detect.py": "cpu",
    "test_dma.py": "cpu",
    "test_sdpa.py": "cpu",
    "test_sparse_qk.py": "cpu",
    "test_streams_software.py": "cpu",
    "test_streaming_sdpa.py": "cpu",
    "test_benchmarks_smoke.py": "cpu",
    "test_codegen.py": "cuda",
    "test_gpu_attention.py": "cuda",
}
# Single tests that need more than their file.
TEST_TIER = {
    "test_checker.py::test_unavailable_backend_is_listed_not_counted": "cpu",
    "test_checker.py::test_reference_failure_is_reported": "cpu",
    "test_checker.py::test_all_means_every_registered_backend": "hdl",  # every registered backend
    "test_benchmarks_smoke.py::test_bench_hls_quick": "hdl",
    "test_benchmarks_smoke.py::test_bench_streaming_tiny": "hdl",
    "test_examples.py::test_the_tutorial_runs_end_to_end": "hdl",  # simulates the tutorial's unit on myhdl
    "test_cli.py::test_check_runs_numba_cuda_on_the_simulator_and_says_so": "cuda",
    "test_cli.py::test_run_on_numba_cuda_without_a_gpu_runs_on_the_simulator": "cuda",
}


def tiers(item: pytest.Item) -> tuple[str, ...]:
    """The tier markers of one test (see BACKEND_TIER)."""
    file = item.path.name
    if file in WHOLE_FILES:
        return WHOLE_FILES[file]
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("backend") if callspec is not None else None
    if isinstance(backend, str) and backend in BACKEND_TIER:
        return (BACKEND_TIER[backend],)
    test = f"{file}::{getattr(item, 'originalname', item.name)}"
    return (TEST_TIER.get(test) or FILE_TIER.get(file, "pure"),)


# Minutes each on a cold machine, and one test each: the Verilator build of all the random kernels (the first
# verilator chunk of a process builds them in one batch) and Yosys's first run (it compiles its WebAssembly).
# Started last they would leave the other worker idle at the end of the run.
SLOWEST = [
    "tests/test_random_kernels.py::test_random_kernels_agree[verilator-0]",
    "tests/test_tools.py::test_yosys_counts",
]


@pytest.hookimpl(hookwrapper=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> Iterator[None]:
    """Mark each test with its tiers before `-m` selects by them; then put the slowest selected tests at the head
    of the first tests each pytest-xdist worker is given.

    `--dist worksteal` (`make test`) gives each worker an equal run of consecutive tests to start with, and
    `--dist load` a quarter of that (pytest-xdist 3.x); without workers the order matters little.
    """
    for item in items:
        for name in tiers(item):
            item.add_marker(getattr(pytest.mark, name))
    yield  # pytest's own hooks deselect (`-m`, `-k`, `--deselect`) here
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
