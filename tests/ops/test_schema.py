"""The ops every fused backend registers have the schemas of metakan_kernels.schema, and the checks follow its shapes."""

import pytest
import torch

from metakan_kernels import backends, kan_linear, metakan_linear
from metakan_kernels.fused import FusedBackend
from metakan_kernels.schema import DIMENSIONS, KAN, METAKAN, OPS

FUSED = [b for b in backends._usable.values() if isinstance(b, FusedBackend)]


@pytest.mark.parametrize("backend", FUSED, ids=lambda b: b.name)
def test_registered_schemas_are_the_table(backend):
    for op, fwd, bwd in backend.ops.pairs():
        for handle, direction, expected in ((fwd, "fwd", op.forward_schema()), (bwd, "bwd", op.backward_schema())):
            name = handle._schema.name  # e.g. metakan::native_kan_fwd
            assert name.startswith("metakan::") and name.endswith(f"_{op.name}_{direction}")
            # triton_op infers its schema from annotations, where a Python int becomes SymInt
            assert str(handle._schema).replace("SymInt", "int") == name + expected


def test_signatures_give_the_schemas():
    """What triton_op infers from the annotated signatures is the table's schema (up to SymInt)."""
    from torch._library.infer_schema import infer_schema

    def prototype(*args):
        pass

    for op in OPS:
        for direction, expected in (("fwd", op.forward_schema()), ("bwd", op.backward_schema())):
            prototype.__signature__ = op.signature(direction)
            assert infer_schema(prototype, mutates_args=()).replace("SymInt", "int") == expected


def test_schema_strings():
    assert KAN.forward_schema() == (
        "(Tensor x, Tensor coef, Tensor? coef_scale, Tensor? base_weight, Tensor? grid, int grid_size, "
        "int spline_order, float lo, float hi) -> Tensor"
    )
    # coef_scale is folded into coef before the backward op: it takes and returns one tensor fewer
    assert KAN.backward_schema() == (
        "(Tensor dy, Tensor x, Tensor coef, Tensor? base_weight, Tensor? grid, int grid_size, int spline_order, "
        "float lo, float hi, bool need_dx, bool need_dparams) -> (Tensor, Tensor, Tensor)"
    )
    assert METAKAN.backward_schema().endswith("-> (Tensor, Tensor, Tensor, Tensor, Tensor, Tensor)")
    for op in OPS:
        assert len(op.shapes) == len(op.tensors)
        assert all(symbol in DIMENSIONS for shape in op.shapes for symbol in shape)
        torch._C.parse_schema("metakan::t" + op.forward_schema())
        torch._C.parse_schema("metakan::t" + op.backward_schema())


def test_checks_name_the_schema_dimensions():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"coef must have shape \(out_features, in_features, grid_size \+ "
                                         r"spline_order\) = \(2, 3, 8\), got \(2, 3, 7\)"):
        kan_linear(x, torch.randn(2, 3, 7), None)
    with pytest.raises(ValueError, match=r"coef_scale must have shape \(out_features, in_features\)"):
        kan_linear(x, torch.randn(2, 3, 8), None, coef_scale=torch.randn(3, 2))
    z, w1, b1 = torch.randn(2, 3, 1), torch.randn(4, 1), torch.randn(4)
    w2, b2 = torch.randn(9, 4), torch.randn(9)
    with pytest.raises(ValueError, match=r"b2 must have shape \(grid_size \+ spline_order \+ 1,\) = \(9,\)"):
        metakan_linear(x, z, w1, b1, w2, torch.randn(8))
    with pytest.raises(ValueError, match=r"w1 must have hidden_dim >= 1"):
        metakan_linear(x, z, torch.randn(0, 1), b1[:0], w2[:, :0], b2)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., in_features\) with in_features = 3"):
        metakan_linear(torch.randn(4, 5), z, w1, b1, w2, b2)
