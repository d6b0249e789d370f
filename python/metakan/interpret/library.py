"""The functions an edge can be snapped to: each as torch and sympy, with a complexity that ranks the simpler first."""

from __future__ import annotations

from typing import Callable, Dict, NamedTuple, Sequence

import sympy
import torch


class SymbolicFunction(NamedTuple):
    """``f`` of an edge ``c · f(a · x + b) + d``: its torch form (inf at a pole), its sympy
    form and its complexity (pykan's scale: 0 for the zero function, 1 for x, 2 for x², sin, exp, ...)."""

    torch: Callable[[torch.Tensor], torch.Tensor]
    sympy: Callable
    complexity: int
    # f(a x + b) = f(b) + a f'(b) x + ...: an affine f needs no inner a, b (they fold into c, d)
    affine: bool = False


LIBRARY: Dict[str, SymbolicFunction] = {
    "0": SymbolicFunction(torch.zeros_like, lambda u: sympy.Integer(0), 0, affine=True),
    "x": SymbolicFunction(lambda u: u, lambda u: u, 1, affine=True),
    "x^2": SymbolicFunction(lambda u: u**2, lambda u: u**2, 2),
    "x^3": SymbolicFunction(lambda u: u**3, lambda u: u**3, 3),
    "x^4": SymbolicFunction(lambda u: u**4, lambda u: u**4, 3),
    "1/x": SymbolicFunction(lambda u: 1 / u, lambda u: 1 / u, 2),
    "1/x^2": SymbolicFunction(lambda u: u**-2, lambda u: u**-2, 2),
    # The functions defined for u > 0 take |u|, as pykan's do: a fit or refit step that crosses 0 stays
    # finite. The sympy forms take |u| too, so that a refit that ends with u < 0 on the data still reads
    # right (log|-19.4 P| is log P + const; log(-19.4 P) would flip the formula's sign); sympy drops the
    # |.| of variables declared non-negative.
    "sqrt": SymbolicFunction(lambda u: torch.sqrt(u.abs()), lambda u: sympy.sqrt(sympy.Abs(u)), 2),
    "1/sqrt": SymbolicFunction(lambda u: torch.rsqrt(u.abs()), lambda u: 1 / sympy.sqrt(sympy.Abs(u)), 3),
    "exp": SymbolicFunction(torch.exp, sympy.exp, 2),
    "log": SymbolicFunction(lambda u: torch.log(u.abs()), lambda u: sympy.log(sympy.Abs(u)), 2),
    "sin": SymbolicFunction(torch.sin, sympy.sin, 2),
    "tanh": SymbolicFunction(torch.tanh, sympy.tanh, 3),
    "abs": SymbolicFunction(torch.abs, sympy.Abs, 3),
    "gaussian": SymbolicFunction(lambda u: torch.exp(-(u**2)), lambda u: sympy.exp(-(u**2)), 3),
    "arctan": SymbolicFunction(torch.atan, sympy.atan, 4),
}
DEFAULT_LIBRARY = tuple(LIBRARY)


def check_library(library: Sequence[str]) -> tuple:
    """``library`` as a tuple of known function names (a clear error for an unknown one)."""
    if isinstance(library, str) or not len(library):
        raise ValueError(f"library must be a non-empty list of function names from {list(LIBRARY)}, got {library!r}")
    unknown = [name for name in library if name not in LIBRARY]
    if unknown:
        raise ValueError(f"unknown symbolic function(s) {unknown}; the library has {list(LIBRARY)}")
    return tuple(dict.fromkeys(library))
