"""What the op tests share: the backends to run (each on its devices), case inputs and the comparison
with the reference. Imports metakan_kernels only, never the layer package."""

from typing import NamedTuple, Tuple

import pytest
import torch

import metakan_kernels as mk

from helpers import TOLERANCES, assert_close, assert_close_low_precision

KAN_NAMES = ("x", "coef", "base_weight")
SCALED_KAN_NAMES = ("x", "coef", "coef_scale", "base_weight")
METAKAN_NAMES = ("x", "embedding", "w1", "b1", "w2", "b2")
# The dtypes each backend's kernels take (cpu widens float16/bfloat16 to float32: tested on its own).
DTYPES = {
    "reference": (torch.float64, torch.float32, torch.float16, torch.bfloat16),
    "cpu": (torch.float64, torch.float32),
    "triton": (torch.float64, torch.float32, torch.float16, torch.bfloat16),
    "cuda": (torch.float32, torch.float16, torch.bfloat16),
}


class Target(NamedTuple):
    """A backend and the device type of the tensors it gets."""

    backend: str
    device: str

    @property
    def id(self) -> str:
        return self.backend if self.device == "cpu" or self.backend == "cuda" else f"{self.backend}-{self.device}"


def _why_not(target: Target):
    """Why ``target`` cannot run in this process (None when it can)."""
    try:
        mk.resolve_backend(target.backend, target.device, torch.float32)
    except (ValueError, mk.BackendUnavailable) as err:
        return str(err).split("\n")[0]
    return None


def _all_targets():
    """Every known backend on every device type it runs on: CUDA tensors carry the gpu mark; the
    triton backend runs on CPU tensors under Triton's interpreter (TRITON_INTERPRET=1)."""
    devices = {"reference": ("cpu", "cuda"), "cpu": ("cpu",), "triton": ("cpu", "cuda"), "cuda": ("cuda",)}
    return [Target(name, device) for name in mk.known_backends() for device in devices[name]]


def target_params(*, reference: bool = True, backends=None, cases=None):
    """pytest params over the targets: (target,) or, given ``cases`` (backend name -> list), (target, case)
    for each case of the target's backend. Targets that cannot run here are skipped with the reason;
    CUDA targets are marked gpu. ``reference=False`` leaves out the oracle itself."""
    params = []
    for target in _all_targets():
        if (not reference and target.backend == "reference") or (backends and target.backend not in backends):
            continue
        marks = [pytest.mark.gpu] if target.device == "cuda" else []
        if target.device == "cpu" or torch.cuda.is_available():
            reason = _why_not(target)
            if reason is not None:
                marks.append(pytest.mark.skip(reason=reason))
        if cases is None:
            params.append(pytest.param(target, id=target.id, marks=marks))
            continue
        for case in cases.get(target.backend, ()):
            params.append(pytest.param(target, case, id=f"{target.id}-{case_id(case)}", marks=marks))
    return params


class Case(NamedTuple):
    """One call of an op: sizes, spline settings, layout and dtype."""

    batch: Tuple[int, ...]  # leading dims of x
    i: int
    o: int
    g: int = 5
    k: int = 3
    knots: bool = False  # per-feature (non-uniform) knots instead of the uniform grid
    layout: str = "contiguous"  # or "strided": x a non-contiguous view
    dtype: torch.dtype = torch.float64
    d: int = 1  # metakan_linear: embedding_dim
    h: int = 4  # metakan_linear: hidden_dim
    act: str = "relu"
    base: bool = True  # kan_linear with a base_weight
    scale: bool = False  # kan_linear with a coef_scale
    draw: str = "spread"  # "spread": spread_inputs; "normal": normal_inputs


def normal_cases(cases):
    """``cases`` drawn by normal_inputs."""
    return [case._replace(draw="normal") for case in cases]


def case_id(case: Case) -> str:
    shape = "x".join(map(str, case.batch))
    dtype = str(case.dtype).replace("torch.", "")
    return (f"{dtype}-B{shape}-I{case.i}-O{case.o}-G{case.g}k{case.k}-d{case.d}H{case.h}-{case.act}"
            f"{'-knots' if case.knots else ''}{'-' + case.layout if case.layout != 'contiguous' else ''}"
            f"{'' if case.base else '-nobase'}{'-scale' if case.scale else ''}")


def inputs_outside(shape, dtype=torch.float64, device="cpu"):
    """Values in [-2.5, 2.5): about a third of them outside the default grid's support."""
    return (torch.rand(shape, dtype=torch.float64) * 5 - 2.5).to(device, dtype).requires_grad_()


def nonuniform_knots(in_features, grid_size, spline_order, dtype=torch.float64, device="cpu"):
    """Per-feature knots around [-1, 1]: strictly increasing, gaps between 0.3 and 1.7 steps."""
    step = 2.0 / grid_size
    gaps = (0.3 + 1.4 * torch.rand(in_features, grid_size + 2 * spline_order, dtype=torch.float64)) * step
    first = torch.full((in_features, 1), -1.0 - spline_order * step, dtype=torch.float64)
    return torch.cat([first, first + gaps.cumsum(1)], 1).to(device, dtype)


def _leaves(tensors, dtype, device):
    return [(t.to(device, dtype) if t.dtype != dtype or t.device != torch.device(device) else t).requires_grad_()
            for t in tensors]


def kan_params(out_features, in_features, num_bases, base=True, dtype=torch.float64, device="cpu"):
    """coef and base_weight (None without a base term) of a KAN layer (see also coef_scale)."""
    coef = torch.randn(out_features, in_features, num_bases, dtype=torch.float64)
    base_weight = torch.randn(out_features, in_features, dtype=torch.float64)
    leaves = _leaves([coef, base_weight], dtype, device)
    return leaves[0], (leaves[1] if base else None)


def coef_scale(out_features, in_features, dtype=torch.float64, device="cpu"):
    """A per-edge coefficient scale (efficient-kan's spline_scaler), of both signs."""
    return _leaves([torch.randn(out_features, in_features, dtype=torch.float64)], dtype, device)[0]


def meta_params(out_features, in_features, num_bases, embedding_dim, hidden, dtype=torch.float64, device="cpu"):
    """embedding, w1, b1, w2, b2 of a MetaKAN layer, scaled so that the outputs stay O(1)."""
    shapes = [(out_features, in_features, embedding_dim), (hidden, embedding_dim), (hidden,),
              (num_bases + 1, hidden), (num_bases + 1,)]
    scales = [1.0, 1.0, 0.5, hidden**-0.5, 0.5]
    return _leaves([torch.randn(s, dtype=torch.float64) * c for s, c in zip(shapes, scales)], dtype, device)


def kept_for_backward(fn, inputs):
    """Elements of each tensor ``fn()`` keeps for backward, leaving out ``inputs`` (and any view of them)."""
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
        fn()
    known = {t.untyped_storage().data_ptr() for t in inputs if t is not None}
    return [t.numel() for t in saved if t.untyped_storage().data_ptr() not in known]


def _outputs_and_grads(fn, tensors, backend, dy):
    y = fn(*tensors, backend=backend)
    wanted = [t for t in tensors if t is not None]
    found = iter(torch.autograd.grad(y, wanted, dy.to(y.dtype)))
    return [y] + [next(found) if t is not None else None for t in tensors]


def check_against_reference(fn, tensors, names, backend):
    """fn(*tensors, backend=...) and its gradients with respect to every tensor, on `backend` against
    the reference. float64: within TOLERANCES of the float64 reference. Lower precisions, for the
    compiled backends (cpu, cuda): flash-attention's rule on the error's Euclidean norm, the error
    against a float64 reference at most twice that of the reference run in the same dtype, plus the
    dtype's atol per element (the norm, not the largest element: the largest of the 64 elements of a
    [32, 2] dW1, each a sum over thousands of edges, is too noisy a statistic for a factor of 2; the
    kernel's error there ranges from 0.2x to 2.4x the reference's over seeds). For triton: float32
    within TOLERANCES of the float32 reference; float16/bfloat16 by helpers.assert_close_low_precision."""
    dtype = tensors[0].dtype
    with torch.no_grad():
        dy = torch.randn_like(fn(*tensors, backend="reference"), dtype=torch.float64)
    got = _outputs_and_grads(fn, tensors, backend, dy)
    plain = _outputs_and_grads(fn, tensors, "reference", dy)
    labels = ["y"] + [f"d{name}" for name in names]
    if dtype == torch.float64 or (backend == "triton" and dtype == torch.float32):
        for g, p, label in zip(got, plain, labels):
            if g is not None:
                assert_close(g, p, label)
        return
    exact_inputs = [t.detach().double().requires_grad_() if t is not None else None for t in tensors]
    exact = _outputs_and_grads(fn, exact_inputs, "reference", dy)
    atol = TOLERANCES[dtype][0]
    for g, p, e, label in zip(got, plain, exact, labels):
        if g is None:
            continue
        if backend == "triton":
            assert_close_low_precision(g, e.float(), p, label)
            continue
        kernel_error = (g.double() - e).norm().item()
        plain_error = (p.double() - e).norm().item()
        slack = atol * e.numel() ** 0.5
        assert kernel_error <= 2 * plain_error + slack, f"{label}: error {kernel_error} > 2 x {plain_error} + {slack}"


def kan_fn(case: Case, grid):
    """kan_linear(x, coef, [coef_scale,] base_weight, backend=...) with the case's spline settings."""
    options = dict(grid_size=case.g, spline_order=case.k, grid=grid)
    if case.scale:
        return lambda x, c, s, w, backend: mk.kan_linear(x, c, w, coef_scale=s, backend=backend, **options)
    return lambda x, c, w, backend: mk.kan_linear(x, c, w, backend=backend, **options)


def metakan_fn(case: Case, grid):
    """metakan_linear(x, embedding, w1, b1, w2, b2, backend=...) with the case's settings."""
    return lambda *t, backend: mk.metakan_linear(*t, grid_size=case.g, spline_order=case.k, grid=grid,
                                                 meta_activation=case.act, backend=backend)


def spread_inputs(case: Case, op: str, device="cpu"):
    """x (inputs_outside, a strided view where the case says so), the parameters (kan: coef,
    base_weight or None, coef_scale or None; scaled by meta_params for metakan) and the knots
    (nonuniform_knots, float64 for float64 inputs, float32 otherwise; None for the uniform grid)."""
    if case.layout == "strided":
        x = inputs_outside((*case.batch, 2 * case.i), case.dtype, device).detach()[..., ::2].requires_grad_()
    else:
        x = inputs_outside((*case.batch, case.i), case.dtype, device)
    num_bases = case.g + case.k
    if op == "kan":
        coef, base_weight = kan_params(case.o, case.i, num_bases, case.base, case.dtype, device)
        params = [coef, base_weight, coef_scale(case.o, case.i, case.dtype, device) if case.scale else None]
    else:
        params = meta_params(case.o, case.i, num_bases, case.d, case.h, case.dtype, device)
    knots = None
    if case.knots:
        knots = nonuniform_knots(case.i, case.g, case.k, torch.float64 if case.dtype == torch.float64 else torch.float32,
                                 device)
    return x, params, knots


def normal_inputs(case: Case, op: str, device="cpu"):
    """As spread_inputs, drawn otherwise: x ~ 2 N(0, 1) (about a third outside the grid), the
    parameters ~ N(0, 1) / 2, the uniform knots each moved right by less than half a step."""
    x = torch.randn(*case.batch, case.i, dtype=torch.float64) * 2.0
    if case.layout == "strided":
        x = torch.stack([x, -x], dim=-1)[..., 0]  # same values, stride 2 in the last dim
    num_bases = case.g + case.k
    if op == "kan":
        shapes = [(case.o, case.i, num_bases)] + [(case.o, case.i)] * (int(case.base) + int(case.scale))
    else:
        shapes = [(case.o, case.i, case.d), (case.h, case.d), (case.h,), (num_bases + 1, case.h), (num_bases + 1,)]
    drawn = [torch.randn(*s, dtype=torch.float64) * 0.5 for s in shapes]
    if op == "kan":
        drawn = [drawn[0], drawn[1] if case.base else None, drawn[-1] if case.scale else None]
    params = [t.to(device, case.dtype).requires_grad_() if t is not None else None for t in drawn]
    knots = None
    if case.knots:
        knots = mk.uniform_knots(case.i, case.g, case.k, dtype=torch.float64).clone()
        knots = knots + torch.rand_like(knots) * 0.45 * (2.0 / case.g)
        knots = knots.to(device, torch.float64 if case.dtype == torch.float64 else torch.float32)
    return x.to(device, case.dtype).requires_grad_(), params, knots


def _inputs(case: Case, op: str, device):
    return (normal_inputs if case.draw == "normal" else spread_inputs)(case, op, device)


def check_kan_case(case: Case, target: Target):
    """kan_linear of ``case`` on ``target`` against the reference: output and every gradient."""
    x, (coef, base_weight, scale), knots = _inputs(case, "kan", target.device)
    if case.scale:
        tensors, names = [x, coef, scale, base_weight], SCALED_KAN_NAMES
    else:
        tensors, names = [x, coef, base_weight], KAN_NAMES
    check_against_reference(kan_fn(case, knots), tensors, names, target.backend)


def check_metakan_case(case: Case, target: Target):
    """metakan_linear of ``case`` on ``target`` against the reference: output and every gradient."""
    x, params, knots = _inputs(case, "metakan", target.device)
    check_against_reference(metakan_fn(case, knots), [x, *params], METAKAN_NAMES, target.backend)
