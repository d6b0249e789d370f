"""Argument checks of the public ops: every error names the argument, what was expected and what came."""

from __future__ import annotations

import weakref
from typing import Dict, Optional, Tuple

import torch

from .reference import META_ACTIVATIONS
from .schema import DIMENSIONS, POSITIVE, OpSchema
from .spec import SplineSpec

FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _shape(t: torch.Tensor) -> tuple:
    return tuple(t.shape)


def check_tensor(name: str, t, dim: Optional[int] = None) -> None:
    """A floating-point tensor, of ``dim`` dimensions when given."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if t.dtype not in FLOAT_DTYPES:
        raise TypeError(
            f"{name} must be a floating-point tensor (float16, bfloat16, float32 or float64), "
            f"got {t.dtype}"
        )
    if dim is not None and t.dim() != dim:
        raise ValueError(f"{name} must have {dim} dimensions, got shape {_shape(t)}")


def check_shape(name: str, t: torch.Tensor, expected: tuple, meaning: str) -> None:
    if _shape(t) != expected:
        raise ValueError(f"{name} must have shape {meaning} = {expected}, got {_shape(t)}")


def check_same(x: torch.Tensor, **tensors: Optional[torch.Tensor]) -> None:
    """Every tensor on x's device and of x's dtype."""
    for name, t in tensors.items():
        if t is None:
            continue
        if t.device != x.device:
            raise ValueError(
                f"{name} is on {t.device} but x is on {x.device}; move all inputs to one device"
            )
        if t.dtype != x.dtype:
            raise TypeError(
                f"{name} is {t.dtype} but x is {x.dtype}; cast the inputs to one dtype "
                "(or run under torch.autocast)"
            )


def check_input(x, in_features: int) -> None:
    check_tensor("x", x)
    if x.dim() < 1 or x.shape[-1] != in_features:
        raise ValueError(
            f"x must have shape (..., in_features) with in_features = {in_features}, "
            f"got {_shape(x)}"
        )


def check_grid(grid, x: torch.Tensor, spec: SplineSpec) -> None:
    """Per-feature knots: (I, G + 2k + 1), on x's device, strictly increasing along each row."""
    if grid is None:
        return
    check_tensor("grid", grid, dim=2)
    in_features = x.shape[-1]
    check_shape("grid", grid, (in_features, spec.num_knots), "(in_features, grid_size + 2*spline_order + 1)")
    if grid.device != x.device:
        raise ValueError(f"grid is on {grid.device} but x is on {x.device}; move it to x's device")
    if not torch.compiler.is_compiling():
        check_knots(grid)


# id(grid) -> (a weak reference to it, its ._version when it last passed)
_knots_passed: Dict[int, Tuple[weakref.ref, int]] = {}


def validate_knots(grid: torch.Tensor) -> None:
    """Every row of ``grid`` (I, n) strictly increasing and free of NaN; reads the result back to the host."""
    if grid.numel() and not bool((grid[:, 1:] > grid[:, :-1]).all()):
        raise ValueError("grid must be strictly increasing along its last dimension (and free of NaN)")


def check_knots(grid: torch.Tensor) -> None:
    """:func:`validate_knots`, once per tensor and in-place version: repeated calls with knots that have
    not changed since they passed cost no device-to-host sync (an in-place change bumps ``._version``)."""
    if grid.is_inference():  # no version counter to tell a changed tensor from an unchanged one
        validate_knots(grid)
        return
    key, version = id(grid), grid._version
    passed = _knots_passed.get(key)
    if passed is not None and passed[0]() is grid and passed[1] == version:
        return
    validate_knots(grid)
    _knots_passed[key] = (weakref.ref(grid, lambda _, key=key: _knots_passed.pop(key, None)), version)


def _meaning(shape: Tuple[str, ...]) -> str:
    names = [DIMENSIONS[symbol] for symbol in shape]
    return f"({names[0]},)" if len(names) == 1 else f"({', '.join(names)})"


def check_op_args(op: OpSchema, spec: SplineSpec, grid, **tensors: Optional[torch.Tensor]) -> None:
    """The tensors of ``op`` (by name) against its schema's shapes, and the knots: a type, then the number
    of dimensions, then x against the sizes the weights set, then every shape, device and dtype."""
    sizes = {"K": spec.num_bases, "K+1": spec.num_bases + 1}
    weights = list(zip(op.tensors[1:], op.shapes[1:]))
    for declared, shape in weights:
        name, t = declared.rstrip("?"), tensors[declared.rstrip("?")]
        if t is None and declared.endswith("?"):
            continue
        check_tensor(name, t, dim=len(shape))
        for symbol, size in zip(shape, t.shape):
            if symbol in POSITIVE and size < 1:
                raise ValueError(f"{name} must have {DIMENSIONS[symbol]} >= 1, got shape {_shape(t)}")
            sizes.setdefault(symbol, size)
    x = tensors["x"]
    check_input(x, sizes["I"])
    for declared, shape in weights:
        name, t = declared.rstrip("?"), tensors[declared.rstrip("?")]
        if t is not None:
            check_shape(name, t, tuple(sizes[symbol] for symbol in shape), _meaning(shape))
    check_same(x, **{name: t for name, t in tensors.items() if name != "x"})
    check_grid(grid, x, spec)


def check_meta_activation(meta_activation) -> None:
    if meta_activation not in META_ACTIVATIONS:
        raise ValueError(
            f"meta_activation must be one of {sorted(META_ACTIVATIONS)}, got {meta_activation!r}"
        )
