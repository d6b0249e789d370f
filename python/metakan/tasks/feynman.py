"""Equations for symbolic regression: Feynman equations by their standard names, or an arithmetic expression."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Tuple

import numpy as np

from .expression import check_variable_name, numpy_function, parse

TWO_PI = 2 * math.pi


@dataclass(frozen=True)
class Equation:
    """``expression`` in the variables ``names``, each sampled uniformly in its ``ranges`` entry."""

    name: str
    expression: str
    names: Tuple[str, ...]
    ranges: Tuple[Tuple[float, float], ...]

    def __post_init__(self):
        if len(self.names) != len(self.ranges):
            raise ValueError(f"{self.name}: {len(self.names)} variables but {len(self.ranges)} ranges")
        for var, (lo, hi) in zip(self.names, self.ranges):
            if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
                raise ValueError(f"{self.name}: the range of {var} must be finite with lo < hi, got ({lo}, {hi})")

    @property
    def num_vars(self) -> int:
        return len(self.names)

    def sympy(self):
        """The expression as a sympy object, every variable a plain symbol (see :mod:`.expression`)."""
        return parse(self.expression)

    def function(self) -> Callable[[np.ndarray], np.ndarray]:
        """f: x (N, num_vars) float64 -> (N,), evaluated with numpy."""
        compiled = numpy_function(self.sympy(), self.names)

        def evaluate(x: np.ndarray) -> np.ndarray:
            with np.errstate(all="ignore"):
                values = compiled(*(x[:, i] for i in range(self.num_vars)))
            return np.broadcast_to(np.asarray(values, dtype=np.float64), (x.shape[0],)).copy()

        return evaluate


def _eq(name: str, expression: str, **ranges: Tuple[float, float]) -> Equation:
    return Equation(name, expression, tuple(ranges), tuple(ranges.values()))


# Variable ranges as in the KAN paper's Feynman benchmark (Liu et al., 2024).
FEYNMAN: Dict[str, Equation] = {eq.name: eq for eq in [
    _eq("I.6.20a", "exp(-theta**2/2)/sqrt(2*pi)", theta=(-3, 3)),
    _eq("I.6.20", "exp(-theta**2/(2*sigma**2))/sqrt(2*pi*sigma**2)", theta=(-1, 1), sigma=(0.5, 2)),
    _eq("I.6.20b", "exp(-(theta-theta1)**2/(2*sigma**2))/sqrt(2*pi*sigma**2)",
        theta=(-1.5, 1.5), theta1=(-1.5, 1.5), sigma=(0.5, 2)),
    _eq("I.8.4", "sqrt((x2-x1)**2+(y2-y1)**2)", x1=(-1, 1), x2=(-1, 1), y1=(-1, 1), y2=(-1, 1)),
    _eq("I.9.18", "G*m1*m2/((x2-x1)**2+(y2-y1)**2+(z2-z1)**2)", G=(-1, 1), m1=(-1, 1), m2=(-1, 1),
        x1=(-1, -0.5), x2=(0.5, 1), y1=(-1, -0.5), y2=(0.5, 1), z1=(-1, -0.5), z2=(0.5, 1)),
    _eq("I.10.7", "m0/sqrt(1-v**2/c**2)", m0=(0, 1), v=(0, 1), c=(1, 2)),
    _eq("I.11.19", "x1*y1+x2*y2+x3*y3", x1=(-1, 1), y1=(-1, 1), x2=(-1, 1), y2=(-1, 1), x3=(-1, 1), y3=(-1, 1)),
    _eq("I.12.1", "mu*Nn", mu=(-1, 1), Nn=(-1, 1)),
    _eq("I.12.2", "q1*q2/(4*pi*epsilon*r**2)", q1=(-1, 1), q2=(-1, 1), epsilon=(0.5, 2), r=(0.5, 2)),
    _eq("I.12.4", "q1/(4*pi*epsilon*r**2)", q1=(-1, 1), epsilon=(0.5, 2), r=(0.5, 2)),
    _eq("I.12.5", "q2*Ef", q2=(-1, 1), Ef=(-1, 1)),
    _eq("I.12.11", "q*(Ef+B*v*sin(theta))", q=(-1, 1), Ef=(-1, 1), B=(-1, 1), v=(-1, 1), theta=(0, TWO_PI)),
    _eq("I.13.4", "m*(v**2+u**2+w**2)/2", m=(-1, 1), v=(-1, 1), u=(-1, 1), w=(-1, 1)),
    _eq("I.13.12", "G*m1*m2*(1/r2-1/r1)", G=(0, 1), m1=(0, 1), m2=(0, 1), r1=(0.5, 2), r2=(0.5, 2)),
    _eq("I.14.3", "m*g*z", m=(0, 1), g=(0, 1), z=(-1, 1)),
    _eq("I.14.4", "k_spring*x**2/2", k_spring=(0, 1), x=(-1, 1)),
    _eq("I.15.3x", "(x-u*t)/sqrt(1-u**2/c**2)", x=(-1, 1), u=(-1, 1), t=(-1, 1), c=(1, 2)),
    _eq("I.15.3t", "(t-u*x/c**2)/sqrt(1-u**2/c**2)", t=(-1, 1), u=(-1, 1), x=(-1, 1), c=(1, 2)),
    _eq("I.15.10", "m0*v/sqrt(1-v**2/c**2)", m0=(-1, 1), v=(-0.9, 0.9), c=(1.1, 2)),
    _eq("I.16.6", "(u+v)/(1+u*v/c**2)", u=(-0.8, 0.8), v=(-0.8, 0.8), c=(1, 2)),
    _eq("I.18.4", "(m1*r1+m2*r2)/(m1+m2)", m1=(0.5, 1), r1=(-1, 1), m2=(0.5, 1), r2=(-1, 1)),
    _eq("I.18.16", "m*r*v*sin(theta)", m=(-1, 1), r=(-1, 1), v=(-1, 1), theta=(0, TWO_PI)),
    _eq("I.24.6", "m*(omega**2+omega0**2)*x**2/4", m=(0, 1), omega=(-1, 1), omega0=(-1, 1), x=(-1, 1)),
    _eq("I.25.13", "q/C", q=(-1, 1), C=(0.5, 2)),
    _eq("I.26.2", "asin(n*sin(theta2))", n=(0, 0.99), theta2=(0, TWO_PI)),
    _eq("I.27.6", "1/(1/d1+n/d2)", d1=(0.5, 2), d2=(1, 2), n=(0.5, 2)),
    _eq("I.29.4", "omega/c", omega=(0, 1), c=(0.5, 2)),
    _eq("I.29.16", "sqrt(x1**2+x2**2-2*x1*x2*cos(theta1-theta2))", x1=(-1, 1), x2=(-1, 1),
        theta1=(0, TWO_PI), theta2=(0, TWO_PI)),
    _eq("I.30.3", "I0*sin(n*theta/2)**2/sin(theta/2)**2", I0=(0, 1), n=(0, 4), theta=(0.4 * math.pi, 1.6 * math.pi)),
    _eq("I.30.5", "asin(lam/(n*d))", lam=(-1, 1), n=(1, 1.5), d=(1, 1.5)),
    _eq("I.37.4", "I1+I2+2*sqrt(I1*I2)*cos(delta)", I1=(0.1, 1), I2=(0.1, 1), delta=(0, TWO_PI)),
    _eq("I.39.10", "3*pF*V/2", pF=(0, 1), V=(0, 1)),
    _eq("I.47.23", "sqrt(gamma*p/rho)", gamma=(0.1, 1), p=(0.1, 1), rho=(0.5, 2)),
    _eq("II.2.42", "kappa*(T2-T1)*A/d", kappa=(0, 1), T1=(0, 1), T2=(0, 1), A=(0, 1), d=(0.5, 2)),
    _eq("II.3.24", "P/(4*pi*r**2)", P=(0, 1), r=(0.5, 2)),
]}


def parse_ranges(
    text: Optional[str], names: Sequence[str], defaults: Optional[Sequence[Tuple[float, float]]] = None
) -> Dict[str, Tuple[float, float]]:
    """``"lo:hi"`` for every variable, or ``"x=lo:hi,y=lo:hi"``; variables not named keep their
    ``defaults`` entry ([-1, 1] without defaults)."""
    ranges = dict(zip(names, defaults or [(-1.0, 1.0)] * len(names)))
    if not text:
        return ranges

    def bounds(part: str) -> Tuple[float, float]:
        try:
            lo, hi = (float(v) for v in part.split(":"))
        except ValueError:
            raise ValueError(f"ranges: expected 'lo:hi', got {part!r}") from None
        return lo, hi

    if "=" not in text:
        return {name: bounds(text) for name in names}
    for item in text.split(","):
        name, _, part = item.partition("=")
        name = name.strip()
        if name not in ranges:
            raise ValueError(f"ranges: {name!r} is not a variable of the equation; its variables are {list(names)}")
        ranges[name] = bounds(part)
    return ranges


def equation(text: str, variables: Optional[str] = None, ranges: Optional[str] = None) -> Equation:
    """A registered Feynman equation by name (its ranges unless ``ranges`` overrides them), or an
    expression such as ``"x*sin(y)"`` in ``variables`` (comma-separated; default: its free symbols,
    sorted by name)."""
    if text in FEYNMAN:
        known = FEYNMAN[text]
        chosen = parse_ranges(ranges, known.names, known.ranges)
        return Equation(known.name, known.expression, known.names, tuple(chosen.values()))
    names = tuple(v.strip() for v in variables.split(",") if v.strip()) if variables else None
    for name in names or ():
        check_variable_name(name)
    if names is not None and len(set(names)) != len(names):
        raise ValueError(f"--variables names a variable twice: {list(names)}")
    try:
        parsed = parse(text)
    except ValueError as err:
        raise ValueError(f"equation must be a Feynman name (e.g. I.6.20a) or an expression; {text!r}: {err}") from None
    used = sorted(str(s) for s in parsed.free_symbols)
    if names is None:
        names = tuple(used)
    elif set(used) - set(names):
        raise ValueError(f"expression {text!r} uses {sorted(set(used) - set(names))}, not in --variables {list(names)}")
    if not names:
        raise ValueError(f"expression {text!r} has no variables")
    chosen = parse_ranges(ranges, names)
    return Equation(text, text, names, tuple(chosen[name] for name in names))

