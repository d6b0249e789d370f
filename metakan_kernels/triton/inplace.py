"""Which pointer arguments of a Triton kernel it both reads and writes (or updates atomically), found in its source.

An autotuner times a kernel by running every configuration on the caller's buffers: a kernel that
adds into an output (load and store through the same pointer argument, or an atomic) then sees
the sums of the earlier runs unless the autotuner resets (``reset_to_zero``) or restores
(``restore_value``) that argument. :func:`autotune_hazards` finds the autotuned kernels that
update an argument in place and declare neither.

The analysis reads the Python source of the kernel and of every ``@triton.jit`` function it
calls (resolved in the caller's globals): names are followed through assignments, call
arguments and return values, flow-insensitively, so every branch counts.
"""

from __future__ import annotations

import ast
import inspect
import textwrap
import types
from typing import Dict, FrozenSet, Iterable, List, NamedTuple, Optional, Set, Tuple

LOAD, STORE, ATOMIC = "load", "store", "atomic"


def jit_function(obj) -> Optional[types.FunctionType]:
    """The Python function of a ``@triton.jit`` function, of an autotuner around one, or of an
    interpreted one (``TRITON_INTERPRET=1``); None for anything else."""
    from triton.runtime.autotuner import Autotuner, Heuristics
    from triton.runtime.interpreter import InterpretedFunction
    from triton.runtime.jit import JITFunction

    while isinstance(obj, (Autotuner, Heuristics)):
        obj = obj.fn
    return obj.fn if isinstance(obj, (JITFunction, InterpretedFunction)) else None


class _Summary(NamedTuple):
    """What a function does through each parameter, and which parameters its return value derives from."""

    effects: Dict[str, FrozenSet[str]]
    returns: FrozenSet[str]


def _target_names(target: ast.AST) -> Set[str]:
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _memory_op(call: ast.Call) -> Optional[Tuple[str, Optional[ast.AST]]]:
    """(kind, address expression) of a memory access: tl.load/store/atomic_* or a descriptor's method."""
    func = call.func
    if not isinstance(func, ast.Attribute):
        return None
    name = func.attr
    if name.startswith("atomic_"):
        kind = ATOMIC
    elif name == "load":
        kind = LOAD
    elif name == "store":
        kind = STORE
    else:
        return None
    base = func.value
    if (isinstance(base, ast.Name) and base.id == "tl") or (isinstance(base, ast.Attribute) and base.attr == "language"):
        # tl.load(pointer, ...), triton.language.store(pointer, ...)
        address = call.args[0] if call.args else next((k.value for k in call.keywords if k.arg == "pointer"), None)
        return kind, address
    return kind, base  # desc.load(...), desc.store(...): the descriptor carries the pointer


class _Analyzer:
    def __init__(self):
        self._done: Dict[types.FunctionType, _Summary] = {}

    def summary(self, fn: types.FunctionType) -> _Summary:
        if fn not in self._done:
            self._done[fn] = _Summary({}, frozenset())  # Triton has no recursion; this ends any cycle
            self._done[fn] = self._summarize(fn)
        return self._done[fn]

    def _summarize(self, fn: types.FunctionType) -> _Summary:
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        func = next(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef))
        params = [a.arg for a in func.args.args]
        roots: Dict[str, Set[str]] = {p: {p} for p in params}
        assignments: List[Tuple[Set[str], ast.AST]] = []
        for node in ast.walk(func):
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    assignments.append((_target_names(target), node.value))
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)) and node.value is not None:
                assignments.append((_target_names(node.target), node.value))
            elif isinstance(node, (ast.For, ast.comprehension)):
                assignments.append((_target_names(node.target), node.iter))
            elif isinstance(node, ast.NamedExpr):
                assignments.append((_target_names(node.target), node.value))
        changed = True
        while changed:  # flow-insensitive fixpoint over the assignments (loops carry values around)
            changed = False
            for targets, value in assignments:
                derived = self._roots(value, roots, fn)
                for t in targets:
                    if not derived <= roots.setdefault(t, set()):
                        roots[t] |= derived
                        changed = True
        effects: Dict[str, Set[str]] = {}
        for node in ast.walk(func):
            if isinstance(node, ast.Call):
                for kind, params_hit in self._call_effects(node, roots, fn):
                    for p in params_hit:
                        effects.setdefault(p, set()).add(kind)
        returns: Set[str] = set()
        for node in ast.walk(func):
            if isinstance(node, ast.Return) and node.value is not None:
                returns |= self._roots(node.value, roots, fn)
        keep = set(params)
        return _Summary({p: frozenset(k) for p, k in effects.items() if p in keep}, frozenset(returns & keep))

    def _callee(self, call: ast.Call, fn: types.FunctionType) -> Optional[types.FunctionType]:
        target = call.func
        path = []
        while isinstance(target, ast.Attribute):
            path.append(target.attr)
            target = target.value
        if not isinstance(target, ast.Name):
            return None
        obj = fn.__globals__.get(target.id)
        for attr in reversed(path):
            obj = getattr(obj, attr, None)
        return jit_function(obj) if obj is not None else None

    def _bind(self, call: ast.Call, callee: types.FunctionType) -> Dict[str, ast.AST]:
        names = list(inspect.signature(callee).parameters)
        bound = {names[i]: arg for i, arg in enumerate(call.args) if i < len(names)}
        bound.update({k.arg: k.value for k in call.keywords if k.arg is not None})
        return bound

    def _roots(self, expr: ast.AST, roots: Dict[str, Set[str]], fn: types.FunctionType) -> Set[str]:
        """The parameters of ``fn`` whose values flow into ``expr`` (a loaded value carries none)."""
        if isinstance(expr, ast.Call):
            if _memory_op(expr) is not None:
                return set()  # data read from memory is not an address derived from an argument
            callee = self._callee(expr, fn)
            if callee is not None:
                summary = self.summary(callee)
                bound = self._bind(expr, callee)
                found: Set[str] = set()
                for p in summary.returns:
                    if p in bound:
                        found |= self._roots(bound[p], roots, fn)
                return found
            found = set()
            for arg in list(expr.args) + [k.value for k in expr.keywords]:
                found |= self._roots(arg, roots, fn)
            return found
        found = set()
        for child in ast.iter_child_nodes(expr):
            if isinstance(child, ast.Name):
                found |= roots.get(child.id, set())
            elif isinstance(child, ast.expr):
                found |= self._roots(child, roots, fn)
        if isinstance(expr, ast.Name):
            found |= roots.get(expr.id, set())
        return found

    def _call_effects(self, call: ast.Call, roots, fn) -> Iterable[Tuple[str, Set[str]]]:
        op = _memory_op(call)
        if op is not None:
            kind, address = op
            if address is not None:
                yield kind, self._roots(address, roots, fn)
            return
        callee = self._callee(call, fn)
        if callee is None:
            return
        bound = self._bind(call, callee)
        for param, kinds in self.summary(callee).effects.items():
            if param in bound:
                hit = self._roots(bound[param], roots, fn)
                for kind in kinds:
                    yield kind, hit


def pointer_effects(kernel) -> Dict[str, FrozenSet[str]]:
    """For each parameter of ``kernel`` (jitted, autotuned or interpreted) that some memory access
    addresses through: the kinds of access, a subset of {"load", "store", "atomic"}."""
    fn = jit_function(kernel)
    if fn is None:
        raise TypeError(f"not a Triton kernel: {kernel!r}")
    return dict(_Analyzer().summary(fn).effects)


def updated_in_place(kernel, pointer_args: Optional[Iterable[str]] = None) -> Set[str]:
    """Arguments the kernel reads and writes, or updates atomically. ``pointer_args`` restricts the
    answer to those names (integer arguments used in address arithmetic are reached too); by default,
    the parameters named ``*_ptr``, the convention of this package's kernels."""
    effects = pointer_effects(kernel)
    if pointer_args is None:
        pointer_args = [p for p in effects if p.endswith("_ptr")]
    allowed = set(pointer_args)
    return {p for p, kinds in effects.items()
            if p in allowed and (ATOMIC in kinds or (LOAD in kinds and STORE in kinds))}


class Hazard(NamedTuple):
    """An autotuned kernel that updates arguments in place without resetting or restoring them."""

    where: str  # module.attribute path of the autotuner
    kernel: str
    unprotected: Tuple[str, ...]


def autotuners(modules: Iterable[types.ModuleType]) -> Dict[str, object]:
    """Every autotuner held by these modules, directly or in (nested) dicts, lists and tuples, by path."""
    from triton.runtime.autotuner import Autotuner

    found: Dict[str, object] = {}

    def visit(value, path: str, depth: int):
        if isinstance(value, Autotuner):
            found.setdefault(path, value)
        elif depth < 4 and isinstance(value, dict):
            for k, v in value.items():
                visit(v, f"{path}[{k!r}]", depth + 1)
        elif depth < 4 and isinstance(value, (list, tuple)):
            for k, v in enumerate(value):
                visit(v, f"{path}[{k}]", depth + 1)

    for module in modules:
        for name, value in vars(module).items():
            visit(value, f"{module.__name__}.{name}", 0)
    return found


def autotune_hazards(modules: Iterable[types.ModuleType]) -> List[Hazard]:
    """The autotuned kernels in ``modules`` that update a pointer argument in place and name it in
    neither ``reset_to_zero`` nor ``restore_value``."""
    hazards = []
    for path, tuner in sorted(autotuners(modules).items()):
        protected = set(tuner.reset_to_zero) | set(tuner.restore_value)
        unprotected = sorted(updated_in_place(tuner) - protected)
        if unprotected:
            hazards.append(Hazard(path, jit_function(tuner).__name__, tuple(unprotected)))
    return hazards
