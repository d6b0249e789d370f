"""The compiled extension's ops called directly (torch.ops.metakan.native_*): strided rows and empty
sizes at the op itself, below the autograd wiring that the op tests go through."""

import pytest
import torch

import metakan_kernels as mk

from op_cases import inputs_outside, kan_params

pytestmark = pytest.mark.skipif("cpu" not in mk.available_backends(), reason="the compiled extension is not built")


def test_strided_rows_at_the_op():
    """The op reads x and dy through their row strides (unit stride within a row)."""
    x = inputs_outside((10, 3)).detach()
    coef, base_weight = (t.detach() for t in kan_params(4, 3, 8))
    args = (coef, base_weight, None, 5, 3, -1.0, 1.0)
    y = torch.ops.metakan.native_kan_fwd(x[::2], coef, None, *args[1:])
    torch.testing.assert_close(y, torch.ops.metakan.native_kan_fwd(x[::2].contiguous(), coef, None, *args[1:]))
    dy = torch.randn(10, 4, dtype=torch.float64)
    strided = torch.ops.metakan.native_kan_bwd(dy[::2], x[::2], *args, True, True)
    dense = torch.ops.metakan.native_kan_bwd(dy[::2].contiguous(), x[::2].contiguous(), *args, True, True)
    for a, b in zip(strided, dense):
        torch.testing.assert_close(a, b)


def test_empty_inputs_give_empty_or_zero_results():
    ops = torch.ops.metakan
    coef, base_weight = (t.detach() for t in kan_params(2, 3, 8))
    no_rows = ops.native_kan_fwd(torch.zeros(0, 3, dtype=torch.float64), coef, None, base_weight, None, 5, 3, -1.0, 1.0)
    assert no_rows.shape == (0, 2)
    no_inputs = ops.native_kan_fwd(torch.zeros(4, 0, dtype=torch.float64), coef[:, :0], None, base_weight[:, :0], None,
                                   5, 3, -1.0, 1.0)
    assert torch.equal(no_inputs, torch.zeros(4, 2, dtype=torch.float64))
    grads = ops.native_kan_bwd(torch.zeros(0, 2, dtype=torch.float64), torch.zeros(0, 3, dtype=torch.float64), coef,
                               base_weight, None, 5, 3, -1.0, 1.0, True, True)
    assert grads[0].shape == (0, 3) and torch.equal(grads[1], torch.zeros_like(coef))
