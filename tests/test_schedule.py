"""The hardware schedule: golden printed schedules, and the schedule verifier tested against broken schedules.

Golden tests pin `format_schedule` for a few kernels (ATTNHLS_UPDATE_GOLDEN=1
rewrites them). The verifier tests break a valid schedule one rule at a time
(an op before its operand, a chained op before its operand ends, a bank used
past its ports, a pipeline's II below its resource and recurrence bounds) and
check that the verifier names the op and the rule; `lower` runs the verifier
between its hardware stages when ATTNHLS_VERIFY_IR is set (tests/conftest.py
sets it for the whole suite).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import hls.hw.fsm
from algorithms import examples, qk
from hls import Array, i32, kernel, pipeline
from hls.compiler import Design, lower
from hls.hw.dfg import Op
from hls.hw.emit import Emitter
from hls.hw.fsm import Hardware
from hls.hw.ops import MEMORY, OpKind
from hls.hw.printer import format_schedule
from hls.hw.verify import ScheduleError, schedule_problems, verify_schedule

GOLDEN = Path(__file__).parent / "golden"


@kernel
def running(a: Array[i32, "N"]):
    """Prefix sums in place: each iteration reads what the previous one stored (a recurrence through memory)."""
    for i in pipeline(range(1, a.shape[0]), ii=1):
        a[i] = a[i - 1] + a[i]


CASES = [
    (qk.qk_dense, {"M": 2, "N": 2, "D": 4}),
    (qk.qk_csr_values, {"M": 2, "N": 2, "D": 4, "R": 3, "E": 4}),
    (examples.triangle_count, {}),
    (running, {"N": 4}),
]


def only(ops: list[Op]) -> Op:
    assert len(ops) == 1, ops
    return ops[0]


def pipeline_ops(design: Design) -> list[Op]:
    [p] = design.hw.pipelines
    return p.graph.ops


# ---- golden schedules ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("k, params", CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_golden_schedule(k: Any, params: dict[str, int]) -> None:
    text = format_schedule(lower(k, **params).hw)
    path = GOLDEN / f"schedule_{k.__name__}.txt"
    if os.environ.get("ATTNHLS_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text(), f"{path} differs; ATTNHLS_UPDATE_GOLDEN=1 rewrites it after a review"


def test_printer_is_deterministic() -> None:
    k, params = CASES[1]
    assert format_schedule(lower(k, **params).hw) == format_schedule(lower(k, **params).hw)


# ---- the verifier accepts what the scheduler builds ---------------------------------------------------------------


@pytest.mark.parametrize("k, params", CASES, ids=lambda x: getattr(x, "__name__", ""))
def test_valid_schedules_pass(k: Any, params: dict[str, int]) -> None:
    assert schedule_problems(lower(k, **params).hw) == []
    assert schedule_problems(lower(qk.qk_dense, M=2, N=2, D=8, multipliers=2).hw) == []


# ---- ... and rejects each kind of broken schedule (a test of the test) --------------------------------------------


def broken(hw: Hardware, rule: str, *names: str) -> str:
    """The verifier's message for `hw`, which must name `rule` and every one of `names`."""
    with pytest.raises(ScheduleError, match="after stage `test`") as err:
        verify_schedule(hw, "test")
    text = str(err.value)
    assert f": {rule}: " in text, text
    for name in names:
        assert name in text, text
    return text


def test_an_op_before_its_operand_is_caught() -> None:
    design = lower(qk.qk_dense, M=2, N=2, D=4)
    mul = next(o for o in pipeline_ops(design) if o.kind == OpKind.BIN and o.args[0].kind == OpKind.LOAD)
    mul.time = mul.args[0].time  # the load's data comes a cycle later
    text = broken(design.hw, "dependence", f"%{mul.id} bin", "pipeline p0", f"operand %{mul.args[0].id} load")
    assert "is ready in cycle" in text


def test_a_chained_op_before_its_operand_ends_is_caught() -> None:
    design = lower(qk.qk_dense, M=2, N=2, D=4)
    add = next(o for o in pipeline_ops(design) if o.kind == OpKind.BIN and o.start > 0)
    add.start = 0.0
    broken(design.hw, "chaining", f"%{add.id} bin", "before operand")


def test_a_chain_past_the_clock_is_caught() -> None:
    design = lower(qk.qk_dense, M=2, N=2, D=4)
    add = next(o for o in pipeline_ops(design) if o.kind == OpKind.BIN and o.start > 0)
    add.delay = design.hw.timing.clock_ns
    broken(design.hw, "chaining", f"%{add.id} bin", "past the 5.0 ns clock")


def test_a_port_limit_exceeded_is_caught() -> None:
    design = lower(qk.qk_csr_values, M=2, N=2, D=4, R=3, E=4)
    block = only([b for b in design.hw.blocks if any(o.kind in MEMORY for o in b.graph.ops)])
    reads = [o for o in block.graph.ops if o.kind in MEMORY]
    assert [(o.bank.prefix, o.time, o.port) for o in reads] == [("m_indptr", 0, 0), ("m_indptr", 0, 1)]
    design.hw.limits.ports["m_indptr"] = 1  # as if the two reads of one cycle had a single-port RAM
    broken(design.hw, "resource", "2 uses of ports of bank `m_indptr` in cycle 0, limit 1")


def test_two_ops_on_one_port_are_caught() -> None:
    design = lower(qk.qk_csr_values, M=2, N=2, D=4, R=3, E=4)
    block = only([b for b in design.hw.blocks if any(o.kind == OpKind.LOAD for o in b.graph.ops)])
    first, second = [o for o in block.graph.ops if o.kind == OpKind.LOAD]
    second.port = first.port
    broken(design.hw, "resource", f"%{second.id} load", f"port {first.port} of bank `m_indptr` is also used by")


def test_an_ii_below_the_resource_bound_is_caught() -> None:
    design = lower(qk.qk_dense, M=2, N=2, D=8, multipliers=2)
    [p] = design.hw.pipelines
    assert p.ii == 4
    p.ii = 2  # 8 multiplies in 2 slots of 2 multipliers
    broken(design.hw, "resource", "uses of multipliers in cycle modulo II=2", "limit 2")


def test_an_ii_below_the_recurrence_bound_is_caught() -> None:
    design = lower(running, N=4)
    [p] = design.hw.pipelines
    assert p.ii == 2
    p.ii = 1  # the next iteration's load would run before this iteration's store
    broken(design.hw, "edge", "+ 1 * II=1", "written in one iteration, accessed in the next")


def test_lower_runs_the_verifier_between_stages(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheduler that places a store before the value it stores fails in `lower`, not in the emitter."""
    real = hls.hw.fsm.schedule_modulo

    def wrong(g: Any, *args: Any) -> Any:
        res = real(g, *args)
        for o in g.ops:
            if o.kind == OpKind.STORE:
                o.time = 0
        return res

    monkeypatch.setenv("ATTNHLS_VERIFY_IR", "1")
    monkeypatch.setattr(hls.hw.fsm, "schedule_modulo", wrong)
    with pytest.raises(ScheduleError, match=r"after stage `build-fsm`(.|\n)*store(.|\n)*: dependence: "):
        lower(qk.qk_dense, M=2, N=2, D=4)


# ---- the emitter ---------------------------------------------------------------------------------------------------


def test_emit_twice_gives_the_same_source() -> None:
    design = lower(qk.qk_dense, M=2, N=2, D=4)
    emitter = Emitter(design.hw, design.top)
    first = emitter.emit()
    assert emitter.emit() == first == design.myhdl_source
    assert first.count("@block") == 1
