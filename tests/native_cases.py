"""Inputs and the comparison with the reference shared by the tests of the extension's CPU and CUDA backends."""

import torch

import metakan_kernels as mk

from helpers import TOLERANCES, assert_close

KAN_NAMES = ("x", "coef", "base_weight")
SCALED_KAN_NAMES = ("x", "coef", "coef_scale", "base_weight")
METAKAN_NAMES = ("x", "embedding", "w1", "b1", "w2", "b2")


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


def _outputs_and_grads(fn, tensors, backend, dy):
    y = fn(*tensors, backend=backend)
    wanted = [t for t in tensors if t is not None]
    found = iter(torch.autograd.grad(y, wanted, dy.to(y.dtype)))
    return [y] + [next(found) if t is not None else None for t in tensors]


def check_against_reference(fn, tensors, names, backend):
    """fn(*tensors, backend=...) and its gradients with respect to every tensor, on `backend` against
    the reference. float64 is compared directly; lower precisions by flash-attention's rule: the
    error against a float64 reference at most twice that of the reference run in the same dtype,
    plus the dtype's atol."""
    dtype = tensors[0].dtype
    with torch.no_grad():
        dy = torch.randn_like(fn(*tensors, backend="reference"), dtype=torch.float64)
    got = _outputs_and_grads(fn, tensors, backend, dy)
    plain = _outputs_and_grads(fn, tensors, "reference", dy)
    labels = ["y"] + [f"d{name}" for name in names]
    if dtype == torch.float64:
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
        kernel_error = (g.double() - e).abs().max().item()
        plain_error = (p.double() - e).abs().max().item()
        assert kernel_error <= 2 * plain_error + atol, f"{label}: error {kernel_error} > 2 x {plain_error} + {atol}"


def check_kan(x, coef, base_weight, *, backend, grid=None, grid_size, spline_order):
    """kan_linear on `backend` against the reference: output and every gradient."""
    def fn(x, coef, base_weight, backend):
        return mk.kan_linear(x, coef, base_weight, grid_size=grid_size, spline_order=spline_order, grid=grid,
                             backend=backend)

    check_against_reference(fn, [x, coef, base_weight], KAN_NAMES, backend)


def check_scaled_kan(x, coef, coef_scale, base_weight, *, backend, grid=None, grid_size, spline_order):
    """kan_linear with a per-edge coef_scale on `backend` against the reference, every gradient included."""
    def fn(x, coef, coef_scale, base_weight, backend):
        return mk.kan_linear(x, coef, base_weight, grid_size=grid_size, spline_order=spline_order, grid=grid,
                             coef_scale=coef_scale, backend=backend)

    check_against_reference(fn, [x, coef, coef_scale, base_weight], SCALED_KAN_NAMES, backend)


def check_metakan(x, params, *, backend, grid=None, grid_size, spline_order, meta_activation="relu"):
    """metakan_linear on `backend` against the reference: output and every gradient."""
    def fn(*tensors, backend):
        return mk.metakan_linear(*tensors, grid_size=grid_size, spline_order=spline_order, grid=grid,
                                 meta_activation=meta_activation, backend=backend)

    check_against_reference(fn, [x, *params], METAKAN_NAMES, backend)
