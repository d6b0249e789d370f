"""Snapping every edge of a trained network to a library function, refitting the result, and reading its formula."""

from __future__ import annotations

import copy
import itertools
import math
import signal
import threading
import time
from typing import List, Optional, Sequence

import sympy
import torch
from torch.func import functional_call, jacfwd

from .edges import layer_inputs, network_layers
from .fit import EdgeFit, ranked_fits
from .library import DEFAULT_LIBRARY, LIBRARY, check_library

# Samples of each input at which an edge is fitted: quantiles of the inputs the edge saw.
FIT_POINTS = 256
# SymbolicKAN.search: the least R² of an edge's fit for the function to be one of the edge's candidates;
# the factor by which a change must lower the formula's error, to functions no more complex in all
# (SIMPLER_GAIN) or more complex (COMPLEX_GAIN); the relative error at which the formula counts as exact.
CANDIDATE_R2 = 0.9
SIMPLER_GAIN = 0.5
COMPLEX_GAIN = 0.1
EXACT = 1e-12
# Up to this many combinations of the edges' candidates, search tries them all.
EXHAUSTIVE = 81
# SymbolicKAN.refit's Levenberg-Marquardt polish: at most this many iterations (SEARCH_POLISH for each
# trial of SymbolicKAN.search: near a formula of the right form it converges in a few), for networks of at most
# this many constants (its normal equations are a square matrix of that size); the rows of the
# Jacobian formed at once (its memory); the damping it starts with and the one at which it gives up.
POLISH_ITERATIONS = 100
SEARCH_POLISH = 20
POLISH_MAX_CONSTANTS = 2048
POLISH_ROWS = 1 << 22
DAMPING_START, DAMPING_MAX = 1e-3, 1e10


class SymbolicLayer(torch.nn.Module):
    """``y[n, o] = Σ_i c[o,i] f_oi(a[o,i] x[n, i] + b[o,i]) + d[o,i]``, each f_oi a library function.

    ``names[o][i]`` is edge (o, i)'s function and ``r2[o][i]`` the R² of its fit to the edge it replaced.
    """

    def __init__(self, fits: List[List[EdgeFit]]):
        super().__init__()
        self.names = [[fit.name for fit in row] for row in fits]
        self.r2 = [[fit.r2 for fit in row] for row in fits]
        params = torch.tensor([[fit[1:5] for fit in row] for row in fits], dtype=torch.float64)
        self.a, self.b, self.c, self.d = (torch.nn.Parameter(params[..., j].clone()) for j in range(4))
        self.in_features, self.out_features = len(fits[0]), len(fits)
        self._update_masks()

    def _update_masks(self) -> None:
        self._masks = {name: torch.tensor([[n == name for n in row] for row in self.names])
                       for name in {n for row in self.names for n in row}}

    @torch.no_grad()
    def set_edge(self, o: int, i: int, fit: EdgeFit) -> None:
        """Make edge (o, i) the function and constants of ``fit``."""
        self.names[o][i], self.r2[o][i] = fit.name, fit.r2
        for param, value in zip((self.a, self.b, self.c, self.d), fit[1:5]):
            param[o, i] = value
        self._update_masks()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        inner = self.a * x.unsqueeze(1) + self.b  # (N, O, I)
        values = torch.zeros_like(inner)
        for name, mask in self._masks.items():
            values = torch.where(mask, LIBRARY[name].torch(torch.where(mask, inner, torch.ones_like(inner))), values)
        return (self.c * values + self.d).sum(-1)

    def formulas(self, inputs: Sequence) -> List:
        """The layer's outputs as sympy expressions of ``inputs`` (one expression per input)."""
        a, b, c, d = (p.detach().tolist() for p in (self.a, self.b, self.c, self.d))
        outputs = []
        for o in range(self.out_features):
            total = sympy.Integer(0)
            for i, u in enumerate(inputs):
                name = self.names[o][i]
                if name == "0":
                    total += sympy.Float(d[o][i])
                    continue
                inner = sympy.Float(a[o][i]) * u + sympy.Float(b[o][i])  # refit trains a, b of affine edges too
                total += sympy.Float(c[o][i]) * LIBRARY[name].sympy(inner) + sympy.Float(d[o][i])
            outputs.append(total)
        return outputs


class SymbolicKAN(torch.nn.Module):
    """A network of :class:`SymbolicLayer` with the widths of the network it was fitted to (float64).

    ``candidates[l][o][i]`` lists the fits :meth:`search` may try for edge (o, i) of layer l, the
    chosen one first.
    """

    def __init__(self, layers: List[SymbolicLayer], candidates: Optional[List[List[List[EdgeFit]]]] = None):
        super().__init__()
        self.layers = torch.nn.ModuleList(layers)
        self.candidates = candidates or [[[[] for _ in range(layer.in_features)] for _ in range(layer.out_features)]
                                         for layer in layers]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        for layer in self.layers:
            x = layer(x)
        return x

    def edges(self) -> List[dict]:
        """Every edge's chosen function, R² and constants: [{"layer", "output", "input", "function", "r2",
        "constants": [a, b, c, d]}, ...], the edge being ``c · f(a · x + b) + d``."""
        return [
            {"layer": l, "output": o, "input": i, "function": layer.names[o][i], "r2": layer.r2[o][i],
             "constants": [float(p.detach()[o, i]) for p in (layer.a, layer.b, layer.c, layer.d)]}
            for l, layer in enumerate(self.layers)
            for o in range(layer.out_features)
            for i in range(layer.in_features)
        ]

    def refit(self, x: torch.Tensor, y: torch.Tensor, steps: int = 50, polish: int = POLISH_ITERATIONS) -> float:
        """Train every edge's a, b, c, d on (x (N, in), y (N, out)) in float64, as pykan does after
        snapping, so that a formula of the right form gets exact constants: ``steps`` LBFGS steps, then
        up to ``polish`` Levenberg-Marquardt iterations (:meth:`polish`). Keeps the best state seen (a step
        can leave a function's domain); returns its mean squared error (inf where none is finite)."""
        x, y = x.double(), y.double().reshape(len(x), -1)
        optimizer = torch.optim.LBFGS(self.parameters(), lr=1.0, max_iter=20, history_size=20,
                                      line_search_fn="strong_wolfe", tolerance_grad=1e-32, tolerance_change=1e-32)

        def closure():
            optimizer.zero_grad(set_to_none=True)
            loss = (self(x) - y).pow(2).mean()
            loss.backward()
            return loss

        best = float((self(x) - y).pow(2).mean().detach())
        state = {k: v.clone() for k, v in self.state_dict().items()}
        for _ in range(steps):
            optimizer.step(closure)
            loss = float((self(x) - y).pow(2).mean().detach())
            if not math.isfinite(loss):
                break
            if loss < best:
                best, state = loss, {k: v.clone() for k, v in self.state_dict().items()}
        self.load_state_dict(state)
        if polish and math.isfinite(best):
            best = self.polish(x, y, polish)
        return best if math.isfinite(best) else float("inf")

    @torch.no_grad()
    def polish(self, x: torch.Tensor, y: torch.Tensor, iterations: int = POLISH_ITERATIONS) -> float:
        """Levenberg-Marquardt (Marquardt's diagonal scaling) on every constant from the current state,
        on (x (N, in), y (N, out)) in float64; returns the mean squared error it ends at, never above
        the one it started from. LBFGS creeps along the flat valleys that the constants' trade-offs
        make (c · f(a · x + b) + d can scale and shift through its neighbours), and stops at a relative
        error of about 1e-7 from a formula of exactly the right form; these Gauss-Newton steps converge
        to its exact constants (to float64 rounding of the data). A network of more than
        POLISH_MAX_CONSTANTS constants is left as it is."""
        x, y = x.double(), y.double().reshape(len(x), -1)
        params = dict(self.named_parameters())
        sizes = [p.numel() for p in params.values()]
        if sum(sizes) > POLISH_MAX_CONSTANTS or not len(x):
            return float((self(x) - y).pow(2).mean())

        def residuals(flat, rows, targets):
            values = dict(zip(params, (v.view_as(p) for v, p in zip(torch.split(flat, sizes), params.values()))))
            return (functional_call(self, values, (rows,)) - targets).reshape(-1)

        chunk = max(1, POLISH_ROWS // (sum(sizes) * y.shape[1]))

        def with_residuals(flat, rows, targets):
            r = residuals(flat, rows, targets)
            return r, r

        def normal_equations(flat):
            """J^T J and J^T r over the rows, a chunk of rows at a time (J is N·out x constants)."""
            jtj = flat.new_zeros(len(flat), len(flat))
            jtr = flat.new_zeros(len(flat))
            for start in range(0, len(x), chunk):
                # forward mode (constants are far fewer than rows), the residuals coming along
                jac, r = jacfwd(with_residuals, has_aux=True)(flat, x[start:start + chunk], y[start:start + chunk])
                jtj += jac.T @ jac
                jtr += jac.T @ r
            return jtj, jtr

        flat = torch.cat([p.detach().reshape(-1) for p in params.values()])
        loss = float(residuals(flat, x, y).pow(2).mean())
        damping = DAMPING_START
        for _ in range(iterations if math.isfinite(loss) else 0):
            jtj, jtr = normal_equations(flat)
            if not (torch.isfinite(jtj).all() and torch.isfinite(jtr).all()):
                break
            scale = torch.diagonal(jtj) + 1e-12 * float(torch.diagonal(jtj).max()) + 1e-300
            while damping <= DAMPING_MAX:
                step = torch.linalg.lstsq(jtj + damping * torch.diag(scale), -jtr.unsqueeze(1)).solution.squeeze(1)
                trial = flat + step
                trial_loss = float(residuals(trial, x, y).pow(2).mean())
                if math.isfinite(trial_loss) and trial_loss < loss:
                    break
                damping *= 4
            else:
                break  # no step lowers the error: at a minimum to rounding
            gain = (loss - trial_loss) / loss
            flat, loss, damping = trial, trial_loss, max(damping / 3, 1e-12)
            if gain < 1e-12:
                break
        for p, v in zip(params.values(), torch.split(flat, sizes)):
            p.copy_(v.view_as(p))
        return loss

    def search(self, x: torch.Tensor, y: torch.Tensor, steps: int = 20) -> float:
        """Refit, then try other candidate functions, refitting the whole formula for each trial, and
        keep a change that more than halves its error: every combination of the edges' candidates,
        simplest first, when there are at most EXHAUSTIVE; otherwise each edge's candidates one edge at
        a time, then, per layer, one function for every edge that has it among its candidates (a product as
        ((u + v)² - (u - v)²) / 4 needs both squares at once). An edge's own fit cannot tell x² from a
        sine that mimics it on the range the edge saw; the refit of the formula on the data can. A change
        to more complex functions must cut the error tenfold; the search stops once the formula is exact
        to rounding (error below EXACT times the mean y²). Changes the network in place; returns its mean
        squared error."""
        best = self.refit(x, y, steps, SEARCH_POLISH)
        exact = EXACT * float(y.double().pow(2).mean())

        def attempt(changes) -> None:
            nonlocal best
            if best <= exact:
                return
            trial = copy.deepcopy(self)
            added = 0
            for l, o, i, fit in changes:
                added += LIBRARY[fit.name].complexity - LIBRARY[trial.layers[l].names[o][i]].complexity
                trial.layers[l].set_edge(o, i, fit)
            loss = trial.refit(x, y, steps, SEARCH_POLISH)
            if loss < (SIMPLER_GAIN if added <= 0 else COMPLEX_GAIN) * best:
                best, self.layers = loss, trial.layers

        edges = [(l, o, i, fits) for l, rows in enumerate(self.candidates) for o, row in enumerate(rows)
                 for i, fits in enumerate(row)]
        if math.prod(len(fits) for *_, fits in edges) <= EXHAUSTIVE:
            # few combinations: every one, simplest first (a change across layers, such as x then a
            # gaussian for sin then exp, is then tried as well)
            combinations = sorted(itertools.product(*(fits for *_, fits in edges)),
                                  key=lambda chosen: sum(LIBRARY[f.name].complexity for f in chosen))
            for chosen in combinations:
                attempt([(l, o, i, fit) for (l, o, i, _), fit in zip(edges, chosen)
                         if fit.name != self.layers[l].names[o][i]])
            return best
        for l, o, i, fits in edges:
            for fit in fits[1:]:
                attempt([(l, o, i, fit)])
        for l in range(len(self.layers)):
            names = dict.fromkeys(f.name for el, _, _, fits in edges if el == l for f in fits[1:])
            for name in names:
                attempt([(el, o, i, f) for el, o, i, fits in edges if el == l for f in fits if f.name == name])
        return best


def symbolic_from_edges(edges: Sequence[dict], widths: Sequence[int]) -> SymbolicKAN:
    """The :class:`SymbolicKAN` that :meth:`SymbolicKAN.edges` described, for a network of ``widths``
    (e.g. a results JSON's ``edges`` and ``pruned_widths``), with the same functions and constants."""
    fits = {(e["layer"], e["output"], e["input"]): EdgeFit(e["function"], *e["constants"], e["r2"]) for e in edges}
    if len(fits) != sum(a * b for a, b in zip(widths, widths[1:])) or any(
            e["function"] not in LIBRARY for e in edges):
        raise ValueError(f"{len(edges)} edges do not describe a network of widths {list(widths)} and known functions")
    return SymbolicKAN([SymbolicLayer([[fits[(l, o, i)] for i in range(widths[l])] for o in range(widths[l + 1])])
                        for l in range(len(widths) - 1)])


def _fit_points(inputs: torch.Tensor) -> torch.Tensor:
    """FIT_POINTS quantiles of every feature's samples: (P, I), so that fits weigh where the data is."""
    q = torch.linspace(0, 1, FIT_POINTS, dtype=inputs.dtype, device=inputs.device)
    return torch.quantile(inputs, q, dim=0)


@torch.no_grad()
def auto_symbolic(model: torch.nn.Module, x: torch.Tensor, library: Sequence[str] = DEFAULT_LIBRARY,
                  scores: Optional[List[torch.Tensor]] = None, threshold: float = 0.0,
                  alternatives: int = 4) -> SymbolicKAN:
    """Fit each edge of the KAN or MetaKAN network to ``c · f(a · t + b) + d`` over the functions in
    ``library`` (names of :data:`~metakan.interpret.library.LIBRARY`), on the inputs each layer sees for
    the samples x (N, in_features); keep per edge the simplest function that fits well (pykan's scoring)
    and its R². MetaKAN edges are fitted through their generated weights. Edges whose importance in
    ``scores`` (from :func:`~metakan.interpret.edge_scores`) is below ``threshold`` become the zero function.
    An edge at or above the threshold is never the zero function. Each edge also keeps up to
    ``alternatives`` candidates (the best-scoring fits with R² >= CANDIDATE_R2)
    for :meth:`SymbolicKAN.search`. Returns a :class:`SymbolicKAN`; call its ``refit`` (or ``search``) to
    tune the constants, then :func:`symbolic_formula`.
    """
    library = check_library(library)
    if x.dim() != 2 or x.shape[0] < 2:
        raise ValueError(f"x must be a (samples, in_features) batch of at least 2 samples, got {tuple(x.shape)}")
    layers = network_layers(model)
    if scores is not None and len(scores) != len(layers):
        raise ValueError(f"scores has {len(scores)} entries for a network of {len(layers)} layers")
    if isinstance(alternatives, bool) or not isinstance(alternatives, int) or alternatives < 1:
        raise ValueError(f"alternatives must be an integer >= 1, got {alternatives!r}")
    fitted, candidates = [], []
    for l, (layer, inputs) in enumerate(zip(layers, layer_inputs(model, x))):
        points = _fit_points(inputs.double())
        values = copy.deepcopy(layer).double().edge_values(points).cpu()  # a float64 copy: the model stays
        points = points.cpu()
        rows, kept = [], []
        for o in range(layer.out_features):
            row, options = [], []
            for i in range(layer.in_features):
                if scores is not None and float(scores[l][o, i]) < threshold:
                    fits = [EdgeFit("0", 1.0, 0.0, 0.0, 0.0, 1.0)]
                else:
                    # an edge that matters is not the zero function, however poorly the others fit it
                    ranked = ranked_fits(points[:, i], values[:, o, i], [f for f in library if f != "0"] or library)
                    fits = ranked[:1] + [f for f in ranked[1:] if f.r2 >= CANDIDATE_R2][: alternatives - 1]
                row.append(fits[0])
                options.append(fits)
            rows.append(row)
            kept.append(options)
        fitted.append(SymbolicLayer(rows))
        candidates.append(kept)
    return SymbolicKAN(fitted, candidates)


def round_constants(expr, digits: int):
    """``expr`` with every floating-point constant rounded to ``digits`` decimals; a constant that rounds
    to a whole number becomes an exact integer (so that ``1.0*x`` reads ``x``)."""
    if isinstance(digits, bool) or not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be an integer >= 0, got {digits!r}")

    def rounded(value: float):
        value = round(value, digits)
        return sympy.Integer(int(value)) if value == int(value) else sympy.Float(value)

    return expr.xreplace({f: rounded(float(f)) for f in expr.atoms(sympy.Float)})


# tidy: a constant within SNAP (relative, at least absolute) of a fraction n/q with q <= SNAP_DENOMINATOR,
# or of such a fraction times one of SNAP_FACTORS (the constants physics formulas are made of: 1/(4 pi),
# 1/sqrt(2 pi)) within SNAP_FACTOR_TOLERANCE, becomes that exact number; only numbers up to SNAP_LARGEST
# in magnitude, and factors only with numerators up to SNAP_DENOMINATOR (the tolerance is relative, so
# every large number is near some n/q: 17741328.3 must not become an integer or a multiple of pi^3 in a
# formula whose terms cancel). A refit that ends in Levenberg-Marquardt gets an exact formula's constants
# to about 1e-8, far inside both tolerances; a number picked at random snaps with probability ~1e-3.
SNAP = 1e-6
SNAP_FACTOR_TOLERANCE = 1e-7
SNAP_DENOMINATOR = 12
SNAP_LARGEST = 100.0
SNAP_FACTORS = tuple(f ** p for f in (sympy.pi, sympy.sqrt(2), sympy.sqrt(sympy.pi), sympy.sqrt(2 * sympy.pi))
                     for p in (1, -1))
# tidy simplifies with sympy only expressions of at most this many operations once expanded (simplify's
# time grows steeply with size; a formula that large is not the readable one anyway), and gives each
# simplification at most SIMPLIFY_SECONDS (sympy can take minutes on a small formula of sines and
# reciprocal squares; the formula is then left unsimplified).
TIDY_MAX_OPS = 400
SIMPLIFY_SECONDS = 20.0


class _OutOfTime(Exception):
    pass


def bounded_simplify(expr, seconds: float = SIMPLIFY_SECONDS):
    """``sympy.simplify(expr)``, or ``expr`` itself if that takes more than ``seconds``. The limit is a
    SIGALRM timer, so it holds in the main thread (elsewhere simplify runs unbounded); a timer the
    process had set keeps its time and fires as it would have."""
    if not (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()):
        return sympy.simplify(expr)

    def out_of_time(signum, frame):
        raise _OutOfTime

    start = time.monotonic()
    remaining, interval = signal.getitimer(signal.ITIMER_REAL)
    previous = signal.signal(signal.SIGALRM, out_of_time)
    try:
        # where the process's timer comes first, stop there
        signal.setitimer(signal.ITIMER_REAL, min(seconds, remaining) if remaining > 0 else seconds)
        return sympy.simplify(expr)
    except _OutOfTime:
        return expr
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if remaining > 0:  # re-arm the process's timer with what is left of it (at once if it is due)
            signal.setitimer(signal.ITIMER_REAL, max(remaining - (time.monotonic() - start), 1e-6), interval)


def _snap(expr, tolerance: float = SNAP):
    """``expr`` with every constant within ``tolerance`` of a simple number made that exact number: a
    fraction n/q (q <= SNAP_DENOMINATOR, the smallest q that fits), else such a fraction times a factor
    of SNAP_FACTORS, for numbers up to SNAP_LARGEST. An exponent 0.999999997 becomes 1, an offset 1e-9
    becomes 0, a coefficient 0.49999999 becomes 1/2, 0.0795774718 becomes 1/(4 pi)."""
    def fraction(value: float, tolerance: float, largest: float):
        if abs(value) > largest:
            return None
        for q in range(1, SNAP_DENOMINATOR + 1):
            n = round(value * q)
            if abs(value - n / q) <= tolerance * max(1.0, abs(value)):
                return sympy.Rational(n, q)
        return None

    def simple(value: float):
        found = fraction(value, tolerance, SNAP_LARGEST)
        for factor in SNAP_FACTORS if found is None and abs(value) > tolerance else ():
            ratio = fraction(value / float(factor), min(tolerance, SNAP_FACTOR_TOLERANCE), SNAP_DENOMINATOR)
            if ratio is not None and ratio != 0:
                return ratio * factor
        return found

    found = {f: simple(float(f)) for f in expr.atoms(sympy.Float)}
    return expr.xreplace({f: r for f, r in found.items() if r is not None})


def tidy(expr, digits: int):
    """``expr`` simplified with its constants rounded to ``digits`` decimals, in the order that keeps a
    formula exact when its constants are exact up to the fit: constants within SNAP of a simple
    number become that number (:func:`_snap`), sympy simplifies at full precision, which folds the
    remaining constants together (0.223 * 20.88 / 4.656 into 1.0000000), and only that result is
    snapped again, rounded and simplified (rounding first would compound the errors). An expression of
    more than TIDY_MAX_OPS operations once expanded, or one sympy cannot simplify within
    SIMPLIFY_SECONDS (:func:`bounded_simplify`), is snapped and rounded but not simplified."""
    def simplified(e):
        return bounded_simplify(e) if sympy.count_ops(e) <= TIDY_MAX_OPS else e

    expr = simplified(sympy.expand(_snap(expr)))
    return simplified(_snap(round_constants(sympy.expand(_snap(expr)), digits)))


def symbolic_formula(symbolic: SymbolicKAN, names: Optional[Sequence[str]] = None, digits: Optional[int] = 4,
                     simplify: bool = True) -> List:
    """The network's outputs as sympy expressions of its inputs, ``names`` (default x_1, x_2, ...).

    ``digits`` rounds the constants (None keeps them all; see :func:`tidy`); ``simplify`` runs sympy's
    simplification after expanding. Returns one expression per output. To read the formula in other
    variables (e.g. before a normalization of the inputs), take it with ``digits=None``, substitute,
    then :func:`tidy` it: rounding first would compound through the substitution.
    """
    width = symbolic.layers[0].in_features
    names = [f"x_{i + 1}" for i in range(width)] if names is None else list(names)
    if len(names) != width:
        raise ValueError(f"{len(names)} names for a network of {width} inputs")
    values = [sympy.Symbol(name) for name in names]
    for layer in symbolic.layers:
        values = layer.formulas(values)
    if digits is not None:
        return [tidy(v, digits) if simplify else round_constants(sympy.expand(v), digits) for v in values]
    return [bounded_simplify(v) for v in values] if simplify else values
