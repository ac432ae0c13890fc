"""`attnhls`: kernels from the user's folder, one-line errors with exit status 2, help with defaults and examples."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from hls.cli import build_parser, main

USER_KERNEL = textwrap.dedent("""
    from hls import Array, i8, i32, kernel

    @kernel
    def qk(q: Array[i8, "M", "D"], k: Array[i8, "N", "D"], s: Array[i32, "M", "N"]):
        for i in range(q.shape[0]):
            for j in range(k.shape[0]):
                acc = i32(0)
                for d in range(q.shape[1]):
                    acc += q[i, d] * k[j, d]
                s[i, j] = acc

    @kernel
    def broken(a: Array[i8, "N"]):
        a[0] = len(a)
""")


@pytest.fixture
def user_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "mywork").mkdir()
    (tmp_path / "mywork" / "__init__.py").write_text("")
    (tmp_path / "mywork" / "dilated.py").write_text(USER_KERNEL)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    return tmp_path


def test_kernel_is_imported_from_the_current_folder(user_folder: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "mywork.dilated:qk", "--backend", "python", "--dims", "M=2,N=3,D=4", "--repeat", "1"]) == 0
    assert "s: int32[2, 3] sum=" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["run", "mywork.dilated:qk", "--backend", "python", "--dims", "M=2"],
            "attnhls: qk needs a size for dim(s) D, N: add --dims M=2,D=8,N=8\n",
        ),
        (["lower", "mywork.dilated:qk"], "attnhls: qk needs a size for dim(s) M, D, N: add --dims M=8,D=8,N=8\n"),
        (["run", "mywork.dilated:nothing"], "attnhls: mywork.dilated:nothing is not a @kernel function\n"),
        (["run", "mywork.nowhere:qk"], "attnhls: cannot import 'mywork.nowhere'"),
        (["run", "mywork.dilated:qk", "--backend", "nope", "--dims", "M=1,N=1,D=1"], "unknown backend 'nope'"),
        (["run", "mywork.dilated:qk", "--dims", "M=x"], "attnhls: --dims takes NAME=INT pairs"),
        (["ir", "mywork.dilated:broken"], "attnhls: KernelError: "),
    ],
)
def test_expected_failures_are_one_message_and_status_2(
    user_folder: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert "Traceback" not in err


def test_every_option_has_help_and_every_command_an_example() -> None:
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    assert {"check", "run", "source", "ir", "lower", "backends", "demo"} <= set(commands)
    for name, sub in commands.items():
        assert sub.epilog and sub.epilog.startswith("example:\n  attnhls " + name), name
        for action in sub._actions:
            assert action.help, f"attnhls {name} {action.option_strings or action.dest} has no help"
    assert "(default: 100)" in commands["check"].format_help()


def test_the_installed_command_exits_2_without_a_traceback(user_folder: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hls", "lower", "mywork.dilated:qk"], capture_output=True, text=True, cwd=user_folder
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("attnhls: qk needs a size for dim(s)")


def _without_simulator() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
    return env


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU is here: numba-cuda runs on it")
def test_check_runs_numba_cuda_on_the_simulator_and_says_so() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hls",
            "check",
            "algorithms.examples:wrap_add",
            "--backends",
            "numba-cuda",
            "--examples",
            "3",
        ],
        capture_output=True,
        text=True,
        env=_without_simulator(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "numba-cuda runs on Numba's CUDA simulator" in proc.stderr
    assert "agree with python: numba-cuda" in proc.stdout
    assert "NOT RUN" not in proc.stdout


@pytest.mark.skipif(shutil.which("nvidia-smi") is not None, reason="a GPU is here: numba-cuda runs on it")
def test_run_on_numba_cuda_without_a_gpu_runs_on_the_simulator() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hls",
            "run",
            "algorithms.examples:wrap_add",
            "--backend",
            "numba-cuda",
            "--dims",
            "N=4",
            "--repeat",
            "1",
        ],
        capture_output=True,
        text=True,
        env=_without_simulator(),
    )
    assert proc.returncode == 0, proc.stderr
    assert "out: int8[4] sum=" in proc.stdout
