"""The fused ops' schemas, stated once: every backend defines its ops, fakes and autograd from this table."""

from __future__ import annotations

import inspect
from typing import NamedTuple, Optional, Tuple

import torch

# The knots and the uniform grid's settings, taken by every op after its differentiable tensors.
SPLINE_OPTIONS = ("Tensor? grid", "int grid_size", "int spline_order", "float lo", "float hi")
# What a backward op is asked to compute: dx, and every other gradient.
NEEDS = ("bool need_dx", "bool need_dparams")

# The dimensions of the ops' tensors, as error messages name them. "..." is any number of leading
# dimensions (x's batch dimensions); K = G + k is the number of bases.
DIMENSIONS = {
    "...": "...",
    "B": "batch",
    "O": "out_features",
    "I": "in_features",
    "K": "grid_size + spline_order",
    "K+1": "grid_size + spline_order + 1",
    "d": "embedding_dim",
    "H": "hidden_dim",
}
# Dimensions that must be at least 1 (the others may be 0: an empty layer is valid).
POSITIVE = ("d", "H")


_PYTHON_TYPES = {"Tensor": torch.Tensor, "Tensor?": Optional[torch.Tensor], "int": int, "float": float, "bool": bool}


class OpSchema(NamedTuple):
    """One layer op, as a forward op ``P_{name}_fwd`` and a backward op ``P_{name}_bwd`` of a backend ``P``.

    The forward takes ``tensors`` (``?`` marks an optional one, ``shapes`` gives each one's dimensions
    from :data:`DIMENSIONS`) then ``options`` and returns one tensor of shape ``output``: y (B, O) for
    a layer op, each edge's statistic (O, I) for an edge-statistics op.
    The backward takes dy (the gradient of that output), the tensors except ``folded`` (factors the
    autograd multiplies into another tensor before it calls the backward op, so that their product is
    never kept), the options and :data:`NEEDS`; it returns one gradient per tensor it takes, in that
    order, each empty (0,) when not asked for or when its tensor is None.
    """

    name: str
    tensors: Tuple[str, ...]
    shapes: Tuple[Tuple[str, ...], ...]
    options: Tuple[str, ...]
    folded: Tuple[str, ...] = ()
    output: Tuple[str, ...] = ("B", "O")

    @property
    def names(self) -> Tuple[str, ...]:
        """The forward's tensor arguments, without the ``?``."""
        return tuple(t.rstrip("?") for t in self.tensors)

    @property
    def backward_tensors(self) -> Tuple[str, ...]:
        return tuple(t for t in self.tensors if t.rstrip("?") not in self.folded)

    def forward_schema(self) -> str:
        args = [f"Tensor{'?' if t.endswith('?') else ''} {t.rstrip('?')}" for t in self.tensors]
        return f"({', '.join(args + list(self.options))}) -> Tensor"

    def backward_schema(self) -> str:
        tensors = [f"Tensor{'?' if t.endswith('?') else ''} {t.rstrip('?')}" for t in self.backward_tensors]
        args = ["Tensor dy", *tensors, *self.options, *NEEDS]
        outputs = ", ".join(["Tensor"] * len(self.backward_tensors))
        return f"({', '.join(args)}) -> ({outputs})"

    def signature(self, direction: str) -> inspect.Signature:
        """The schema of ``direction`` ("fwd" or "bwd") as an annotated Python signature, from which
        ``torch.library`` infers the same schema (torch 2.10 and 2.11's ``triton_op`` read only this)."""
        text = self.forward_schema() if direction == "fwd" else self.backward_schema()
        args, outputs = text[1:].split(") -> ")
        parameters = []
        for arg in args.split(", "):
            kind, name = arg.split(" ")
            parameters.append(inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                                annotation=_PYTHON_TYPES[kind]))
        count = outputs.count("Tensor")
        returns = torch.Tensor if count == 1 and not outputs.startswith("(") else Tuple[(torch.Tensor,) * count]
        return inspect.Signature(parameters, return_annotation=returns)

    def qualname(self, prefix: str, direction: str) -> str:
        """E.g. ``metakan::native_kan_fwd`` for prefix "native", direction "fwd"."""
        return f"metakan::{prefix}_{self.name}_{direction}"


KAN = OpSchema(
    "kan",
    ("x", "coef", "coef_scale?", "base_weight?"),
    (("...", "I"), ("O", "I", "K"), ("O", "I"), ("O", "I")),
    SPLINE_OPTIONS,
    folded=("coef_scale",),
)
METAKAN = OpSchema(
    "metakan",
    ("x", "embedding", "w1", "b1", "w2", "b2"),
    (("...", "I"), ("O", "I", "d"), ("H", "d"), ("H",), ("K+1", "H"), ("K+1",)),
    SPLINE_OPTIONS + ("int activation",),
)
# Each edge's batch mean |phi_oi(x_i)| (pykan's edge importance): the layer ops' arguments, an (O, I) output.
KAN_EDGE_L1 = KAN._replace(name="kan_edge_l1", output=("O", "I"))
METAKAN_EDGE_L1 = METAKAN._replace(name="metakan_edge_l1", output=("O", "I"))
LAYER_OPS = (KAN, METAKAN)
EDGE_L1_OPS = (KAN_EDGE_L1, METAKAN_EDGE_L1)
OPS = LAYER_OPS + EDGE_L1_OPS


def define(prefix: str, ops: Tuple[OpSchema, ...] = OPS) -> None:
    """Define the ops ``metakan::{prefix}_{name}_{fwd,bwd}`` of ``ops`` (their kernels are registered elsewhere)."""
    for op in ops:
        torch.library.define(op.qualname(prefix, "fwd"), op.forward_schema())
        torch.library.define(op.qualname(prefix, "bwd"), op.backward_schema())
