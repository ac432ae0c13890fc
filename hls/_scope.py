"""The frontend's symbol table: what each name means while a kernel's body is parsed."""

from __future__ import annotations

from dataclasses import dataclass, field

from hls.ir import nodes as ir
from hls.types import ArrayType, BoolType, IntType, ScalarType

__all__ = ["LocalInfo", "Scope"]


@dataclass
class LocalInfo:
    """A local's declared type, the prange scope that owns it ("" for the whole kernel) and its declaration."""

    type: ScalarType
    scope: str
    loc: ir.Loc


@dataclass
class Scope:
    """What names mean while the body is parsed."""

    params: dict[str, ir.Param] = field(default_factory=dict)
    locals: dict[str, LocalInfo] = field(default_factory=dict)
    loop_vars: dict[str, ScalarType] = field(default_factory=dict)  # live loop variables
    past_loop_vars: set[str] = field(default_factory=set)  # variables of loops already parsed
    tables: dict[str, ir.Table] = field(default_factory=dict)
    arrays: dict[str, tuple[ArrayType, str, ir.Loc]] = field(default_factory=dict)  # local arrays
    array_dims: dict[str, tuple[IntType | BoolType, ...]] = field(default_factory=dict)  # local array -> size types
    alias: dict[str, str] = field(default_factory=dict)  # user name -> IR name of locals re-declared per prange
    prange: list[str] = field(default_factory=list)  # enclosing prange scopes, innermost last

    def fresh(self, name: str, owner_scope: str) -> str:
        """The IR name for `name` declared anew, when its earlier declaration's prange loop has ended."""
        internal = self.alias.get(name, name)
        owner = (
            self.locals[internal].scope
            if internal in self.locals
            else self.arrays[internal][1]
            if internal in self.arrays
            else None
        )
        if owner is None and name in self.past_loop_vars:
            pass  # a local named like an earlier loop's variable: its own IR name, so it still starts at zero
        elif owner is None or owner == owner_scope or not owner or owner in self.prange:
            return internal
        k = 2
        while f"{name}__{k}" in self.locals or f"{name}__{k}" in self.arrays:
            k += 1
        self.alias[name] = f"{name}__{k}"
        return self.alias[name]
