"""Arithmetic expressions from text: parsed with ``ast`` against an allow-list into sympy, evaluated with numpy.

No text reaches ``eval``, ``exec`` or ``sympy.lambdify``: the parser walks Python's syntax tree and
builds the sympy expression node by node from numbers, variables, the constants ``pi`` and ``E``,
``+ - * / **`` and the functions in :data:`FUNCTIONS`; anything else is refused with a message
that names it.
"""

from __future__ import annotations

import ast
import keyword
import operator
from typing import Callable, Sequence

import numpy as np

MAX_LENGTH = 2000  # characters: bounds the parser's and sympy's work on any input
MAX_EXPONENT = 1000  # sympy evaluates number ** number exactly: a huge power would never finish
MAX_POWER_BITS = 100_000  # the same for a large base raised to a moderate power

# name -> (sympy function's attribute name, numpy ufunc)
FUNCTIONS = {
    "sin": ("sin", np.sin), "cos": ("cos", np.cos), "tan": ("tan", np.tan),
    "asin": ("asin", np.arcsin), "acos": ("acos", np.arccos), "atan": ("atan", np.arctan),
    "sinh": ("sinh", np.sinh), "cosh": ("cosh", np.cosh), "tanh": ("tanh", np.tanh),
    "asinh": ("asinh", np.arcsinh), "acosh": ("acosh", np.arccosh), "atanh": ("atanh", np.arctanh),
    "exp": ("exp", np.exp), "log": ("log", np.log), "sqrt": ("sqrt", np.sqrt), "abs": ("Abs", np.abs),
}
CONSTANTS = ("pi", "E")

_ARITHMETIC = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_REFUSED = {
    ast.Attribute: "attribute access ('.')", ast.Subscript: "subscripts ('[]')", ast.Lambda: "lambda",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions", ast.DictComp: "comprehensions",
    ast.GeneratorExp: "comprehensions", ast.Compare: "comparisons", ast.BoolOp: "'and' / 'or'",
    ast.IfExp: "'if ... else'", ast.NamedExpr: "assignments (':=')", ast.Starred: "'*' unpacking",
    ast.Tuple: "tuples", ast.List: "lists", ast.Dict: "dicts", ast.Set: "sets", ast.JoinedStr: "f-strings",
}


def allowed() -> str:
    """What an expression may contain, for error messages."""
    return (f"numbers, variables, the constants {', '.join(CONSTANTS)}, + - * / ** and parentheses, "
            f"and the functions {', '.join(FUNCTIONS)}")


def check_variable_name(name: str) -> None:
    """Refuse a variable name that is not a plain identifier or that means something else here."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"variable name {name!r} is not an identifier")
    if name.startswith("_"):
        raise ValueError(f"variable name {name!r} is not allowed: names must not start with '_'")
    if name in FUNCTIONS or name in CONSTANTS:
        raise ValueError(f"{name!r} is a {'function' if name in FUNCTIONS else 'constant'}, not a variable name")


# Deeper expressions are refused before sympy builds them (its recursion would depend on the stack).
MAX_DEPTH = 200


def parse(text: str):
    """``text`` as a sympy expression; every name other than a constant or function is a variable
    (a plain ``sympy.Symbol``). Raises ValueError naming what is not allowed."""
    if not isinstance(text, str):
        raise ValueError(f"an expression must be a string, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the expression is {len(text)} characters long; at most {MAX_LENGTH} are allowed")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError) as err:  # ValueError: e.g. a NUL character
        raise ValueError(f"not a valid expression: {err.msg if isinstance(err, SyntaxError) else err}") from None
    if _depth(tree.body) > MAX_DEPTH:
        raise ValueError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
    try:
        expr = _Builder().build(tree.body)
    except RecursionError:
        raise ValueError("the expression is nested too deeply") from None
    return _checked(expr)


def _depth(node: ast.AST) -> int:
    """Nesting depth of an AST, walked without recursion (so that the check itself cannot overflow)."""
    deepest, stack = 0, [(node, 1)]
    while stack:
        current, level = stack.pop()
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in ast.iter_child_nodes(current))
    return deepest


def _checked(expr):
    import sympy

    if expr.has(sympy.I):
        raise ValueError(f"the expression has an imaginary part: {expr}")
    if expr.has(sympy.zoo, sympy.oo, sympy.nan):
        raise ValueError(f"the expression is not finite (a division by zero or an overflow): {expr}")
    return expr


class _Builder:
    """Turns an allowed ``ast`` expression into sympy, refusing every other node."""

    def __init__(self):
        import sympy

        self.sympy = sympy
        self.constants = {"pi": sympy.pi, "E": sympy.E}

    def build(self, node: ast.AST):
        if isinstance(node, ast.Constant):
            return self._number(node.value)
        if isinstance(node, ast.Name):
            return self._name(node.id)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.build(node.operand)
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            return self._power(self.build(node.left), self.build(node.right))
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return _ARITHMETIC[type(node.op)](self.build(node.left), self.build(node.right))
        if isinstance(node, ast.BinOp):
            hint = "; use ** for powers" if isinstance(node.op, ast.BitXor) else ""
            raise ValueError(f"operator {_symbol(node.op)} is not allowed{hint}; allowed: {allowed()}")
        if isinstance(node, ast.UnaryOp):
            raise ValueError(f"operator {_symbol(node.op)} is not allowed; allowed: {allowed()}")
        if isinstance(node, ast.Call):
            return self._call(node)
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            self.build(node.value)  # name what it is applied to first if that is not allowed either
        raise _refused(_REFUSED.get(type(node), type(node).__name__))

    def _number(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refused({str: "strings", bytes: "bytes"}.get(type(value), repr(value)))
        return self.sympy.Integer(value) if isinstance(value, int) else self.sympy.Float(value)

    def _name(self, name: str):
        if name in self.constants:
            return self.constants[name]
        if name in FUNCTIONS:
            raise ValueError(f"{name!r} is a function: call it, as in {name}(x)")
        if name.startswith("_"):
            raise ValueError(f"name {name!r} is not allowed: variable names must not start with '_'")
        return self.sympy.Symbol(name)

    def _call(self, node: ast.Call):
        function = node.func
        if not isinstance(function, ast.Name):
            self.build(function)
            raise _refused("calls of anything but a function name")
        if function.id not in FUNCTIONS:
            raise ValueError(f"function {function.id!r} is not allowed; allowed functions: {', '.join(FUNCTIONS)}")
        if node.keywords or len(node.args) != 1:
            raise ValueError(f"{function.id}() takes exactly one argument, no keywords")
        return getattr(self.sympy, FUNCTIONS[function.id][0])(self.build(node.args[0]))

    def _power(self, base, exponent):
        if base.is_Number and exponent.is_Number:
            bits = max(abs(base.p).bit_length(), abs(base.q).bit_length()) if base.is_Rational else 64
            if abs(exponent) > MAX_EXPONENT or bits * abs(exponent) > MAX_POWER_BITS:
                raise ValueError(f"a power of numbers is too large to compute exactly (over {MAX_POWER_BITS} bits)")
        return base**exponent


def _refused(what: str) -> ValueError:
    return ValueError(f"an expression may not contain {what}; allowed: {allowed()}")


def _symbol(op: ast.AST) -> str:
    symbols = {ast.Mod: "%", ast.FloorDiv: "//", ast.MatMult: "@", ast.BitXor: "^", ast.BitAnd: "&",
               ast.BitOr: "|", ast.LShift: "<<", ast.RShift: ">>", ast.Invert: "~", ast.Not: "'not'"}
    return symbols.get(type(op), type(op).__name__)


def numpy_function(expr, names: Sequence[str]) -> Callable[..., np.ndarray]:
    """f(*columns) -> values of ``expr`` (a :func:`parse` result) with numpy, one column per name.

    Walks the sympy tree once into nested numpy calls (no generated code).
    """
    import sympy

    ufuncs = {getattr(sympy, attr): ufunc for attr, ufunc in FUNCTIONS.values()}
    # sympy's symbols are complex: it rewrites abs(exp(x)) as exp(re(x)); the samples are real
    ufuncs.update({sympy.re: np.real, sympy.im: np.imag})
    position = {name: i for i, name in enumerate(names)}

    def compile_node(node) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
        if node.is_Symbol:
            if node.name not in position:
                raise ValueError(f"{node.name!r} is not one of the variables {list(names)}")
            index = position[node.name]
            return lambda columns: columns[index]
        if node.is_Number or node.is_NumberSymbol:
            value = np.float64(float(node))
            return lambda columns: value
        parts = [compile_node(arg) for arg in node.args]
        if node.is_Add:
            return lambda columns: _fold(np.add, parts, columns)
        if node.is_Mul:
            return lambda columns: _fold(np.multiply, parts, columns)
        if node.is_Pow:
            base, exponent = parts
            if node.exp == sympy.S.Half:
                return lambda columns: np.sqrt(base(columns))
            return lambda columns: np.power(base(columns), exponent(columns))
        if node.func in ufuncs and len(parts) == 1:
            ufunc, (argument,) = ufuncs[node.func], parts
            return lambda columns: ufunc(argument(columns))
        raise ValueError(f"cannot evaluate {node} (a {node.func.__name__}) with numpy")

    compiled = compile_node(expr)
    return lambda *columns: compiled(columns)


def _fold(ufunc, parts, columns) -> np.ndarray:
    total = parts[0](columns)
    for part in parts[1:]:
        total = ufunc(total, part(columns))
    return total
