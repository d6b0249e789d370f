"""``KANLinear``: efficient-kan's B-spline KAN layer (same arguments, parameters and state dict)."""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

import metakan_kernels as mk
from metakan_kernels.checks import check_knots
from metakan_kernels.reference import b_spline_bases


class KANLinear(torch.nn.Module):
    """KAN layer ``y = silu(x) @ base_weight.T + Σ_i Σ_m c[o,i,m] B_m(x_i)``, drop-in for efficient-kan.

    Parameters and buffers (names and shapes as efficient-kan's, so its state dicts load):
    ``grid`` (in_features, G + 2k + 1), ``base_weight`` (out_features, in_features),
    ``spline_weight`` (out_features, in_features, G + k), ``spline_scaler`` (out_features,
    in_features; only when ``enable_standalone_scale_spline``).

    Input (*, in_features) -> output (*, out_features). ``backend`` picks the implementation
    ("auto" for the fastest on the input's device); ``last_backend`` says which one ran.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        grid_size: int = 5,
        spline_order: int = 3,
        scale_noise: float = 0.1,
        scale_base: float = 1.0,
        scale_spline: float = 1.0,
        enable_standalone_scale_spline: bool = True,
        base_activation=torch.nn.SiLU,
        grid_eps: float = 0.02,
        grid_range: Sequence[float] = (-1, 1),
        backend: str = "auto",
    ):
        super().__init__()
        spec = mk.make_spec(grid_size, spline_order, grid_range)
        self.in_features = in_features
        self.out_features = out_features
        self.grid_size = grid_size
        self.spline_order = spline_order
        self.grid_range = (spec.lo, spec.hi)
        self.register_buffer("grid", mk.uniform_knots(in_features, grid_size, spline_order, grid_range).contiguous())
        self.base_weight = torch.nn.Parameter(torch.empty(out_features, in_features))
        self.spline_weight = torch.nn.Parameter(torch.empty(out_features, in_features, spec.num_bases))
        if enable_standalone_scale_spline:
            self.spline_scaler = torch.nn.Parameter(torch.empty(out_features, in_features))
        self.scale_noise = scale_noise
        self.scale_base = scale_base
        self.scale_spline = scale_spline
        self.enable_standalone_scale_spline = enable_standalone_scale_spline
        self.base_activation = base_activation()
        self.grid_eps = grid_eps
        self.backend = backend
        self.last_backend = None
        # The fused kernels evaluate a uniform grid in closed form; once update_grid (or a loaded
        # state dict) makes the knots non-uniform, the layer passes them to the op instead.
        self.grid_is_uniform = True
        self.register_load_state_dict_post_hook(_recheck_uniform_grid)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """efficient-kan's initialisation, drawing random numbers in the same order."""
        torch.nn.init.kaiming_uniform_(self.base_weight, a=math.sqrt(5) * self.scale_base)
        with torch.no_grad():
            noise = (
                (torch.rand(self.grid_size + 1, self.in_features, self.out_features) - 1 / 2)
                * self.scale_noise
                / self.grid_size
            )
            scale = 1.0 if self.enable_standalone_scale_spline else self.scale_spline
            k = self.spline_order  # the G + 1 knots of the grid's span (not [k:-k], empty for k = 0)
            knots = self.grid.T[k : self.grid.shape[1] - k]
            self.spline_weight.copy_(scale * self.curve2coeff(knots, noise.to(self.grid.dtype)))
            if self.enable_standalone_scale_spline:
                torch.nn.init.kaiming_uniform_(self.spline_scaler, a=math.sqrt(5) * self.scale_spline)

    def b_splines(self, x: torch.Tensor) -> torch.Tensor:
        """Bases of x: (batch, in_features) -> (batch, in_features, G + k)."""
        return b_spline_bases(x, self.grid, self.spline_order)

    def curve2coeff(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Least-squares coefficients of curves through the points (x, y).

        x: (batch, in_features); y: (batch, in_features, out_features).
        Returns: (out_features, in_features, G + k).
        """
        bases = self.b_splines(x).transpose(0, 1)  # (in, batch, K)
        solution = torch.linalg.lstsq(bases, y.transpose(0, 1)).solution  # (in, K, out)
        return solution.permute(2, 0, 1).contiguous()

    @property
    def scaled_spline_weight(self) -> torch.Tensor:
        """The coefficients the layer uses: (out_features, in_features, G + k)."""
        if self.enable_standalone_scale_spline:
            return self.spline_weight * self.spline_scaler.unsqueeze(-1)
        return self.spline_weight

    def _options(self) -> dict:
        # The scaler goes to the op as a factor, so that the fused backends never keep the product.
        return dict(
            grid_size=self.grid_size, spline_order=self.spline_order, grid_range=self.grid_range,
            grid=None if self.grid_is_uniform else self.grid, backend=self.backend,
            coef_scale=self.spline_scaler if self.enable_standalone_scale_spline else None,
        )

    def edge_values(self, t: torch.Tensor) -> torch.Tensor:
        """Every edge's function at t: ``φ_oi(t[n, i])``, (N, in_features) -> (N, out_features, in_features).

        Materializes the (N, O, I) values: for plots and fits on a few hundred points, not for training.
        """
        spline = torch.einsum("nik,oik->noi", self.b_splines(t), self.scaled_spline_weight)
        return spline + self.base_weight * self.base_activation(t).unsqueeze(1)

    def edge_l1(self, x: torch.Tensor) -> torch.Tensor:
        """Each edge's importance ``|φ_oi|_1 = mean_n |φ_oi(x[n, i])|`` on x (..., in_features):
        (out_features, in_features), differentiable. Fused (no (N, O, I) tensor) for the SiLU base;
        another base activation goes through :meth:`edge_values`."""
        if isinstance(self.base_activation, torch.nn.SiLU):
            return mk.kan_edge_l1(x, self.spline_weight, self.base_weight, **self._options())
        return self.edge_values(x.reshape(-1, self.in_features)).abs().mean(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        options = self._options()
        if isinstance(self.base_activation, torch.nn.SiLU):
            y = mk.kan_linear(x, self.spline_weight, self.base_weight, **options)
        else:  # the op computes the spline part, PyTorch the base part
            y = mk.kan_linear(x, self.spline_weight, None, **options)
            y = y + F.linear(self.base_activation(x), self.base_weight)
        self.last_backend = mk.resolve_backend(
            self.backend, x.device, x.dtype, grid_size=self.grid_size, spline_order=self.spline_order,
            grid_range=self.grid_range, sizes=mk.CallSizes(math.prod(x.shape[:-1]), self.in_features, self.out_features),
        )
        return y

    @torch.no_grad()
    def update_grid(self, x: torch.Tensor, margin: float = 0.01) -> None:
        """Move the knots to the distribution of x: (batch, in_features), keeping the function.

        As efficient-kan's, except that the refit divides by ``spline_scaler`` so that the
        layer's output on x is preserved (efficient-kan applies the scaler twice).
        """
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"x must have shape (batch, {self.in_features}), got {tuple(x.shape)}")
        batch = x.shape[0]
        coef = self.scaled_spline_weight.permute(1, 2, 0)  # (in, K, out)
        per_edge = torch.bmm(self.b_splines(x).permute(1, 0, 2), coef).permute(1, 0, 2)  # (batch, in, out)

        x_sorted = torch.sort(x, dim=0)[0]
        index = torch.linspace(0, batch - 1, self.grid_size + 1, dtype=torch.int64, device=x.device)
        grid_adaptive = x_sorted[index]
        step = (x_sorted[-1] - x_sorted[0] + 2 * margin) / self.grid_size
        grid_uniform = (
            torch.arange(self.grid_size + 1, dtype=x.dtype, device=x.device).unsqueeze(1) * step
            + x_sorted[0]
            - margin
        )
        grid = self.grid_eps * grid_uniform + (1 - self.grid_eps) * grid_adaptive
        ramp = torch.arange(1, self.spline_order + 1, device=x.device).unsqueeze(1)
        grid = torch.cat([grid[:1] - step * ramp.flip(0), grid, grid[-1:] + step * ramp], dim=0)

        self.grid.copy_(grid.T)
        self.grid_is_uniform = False
        check_knots(self.grid)
        fitted = self.curve2coeff(x, per_edge)
        if self.enable_standalone_scale_spline:
            scaler = self.spline_scaler.unsqueeze(-1)
            fitted = torch.where(scaler != 0, fitted / scaler, torch.zeros_like(fitted))
        self.spline_weight.copy_(fitted)

    def refine(self, new_grid_size: int) -> "KANLinear":
        """A new layer on ``new_grid_size`` intervals that computes this layer's function on the grid's
        range: exactly (to rounding) when ``new_grid_size`` is a multiple of ``grid_size``, else the
        least-squares spline on the new grid. Uniform knots stay uniform, per-feature knots (after
        :meth:`update_grid`) are subdivided. The new layer's ``refine_error`` is the largest change of
        any edge's function at the sample points. This layer is left as it is. See docs/refine.md."""
        from .refine import refine_kan_layer

        return refine_kan_layer(self, new_grid_size)

    def regularization_loss(self, regularize_activation: float = 1.0, regularize_entropy: float = 1.0):
        """efficient-kan's L1 + entropy regularisation of the spline weights (a scalar)."""
        l1_fake = self.spline_weight.abs().mean(-1)
        activation = l1_fake.sum()
        p = l1_fake / activation
        entropy = -torch.sum(p * p.log())
        return regularize_activation * activation + regularize_entropy * entropy

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"grid_size={self.grid_size}, spline_order={self.spline_order}, backend={self.backend!r}"
        )


def _recheck_uniform_grid(module: KANLinear, incompatible_keys) -> None:
    uniform = mk.uniform_knots(
        module.in_features, module.grid_size, module.spline_order, module.grid_range,
        dtype=module.grid.dtype, device=module.grid.device,
    )
    scale = max(abs(module.grid_range[0]), abs(module.grid_range[1]), 1.0)
    module.grid_is_uniform = bool(torch.allclose(module.grid, uniform, rtol=0.0, atol=1e-6 * scale))
    if not module.grid_is_uniform:
        check_knots(module.grid)
