"""Physics-informed PDE solving on the unit ball in d dimensions: Poisson and Allen–Cahn, hard boundary."""

from __future__ import annotations

import argparse
from typing import Optional, Sequence

import torch

from .options import add_common, int_list, model_spec, non_negative_int, positive_int
from .runner import TaskRun, train_and_record
from .training import Problem

HELP = "physics-informed Poisson / Allen-Cahn on the d-dimensional unit ball (relative L2 error)"
TABLE_METRICS = {"relative_l2": ".3e"}
EQUATIONS = ("poisson", "allen-cahn")


class BallProblem:
    """``Δu = f`` (Poisson) or ``Δu + u - u³ = f`` (Allen–Cahn) on the unit ball, ``u = 0`` on its
    sphere, with the exact solution

        u(x) = (1 - |x|²) Σ_{i<d} c_i sin(x_i + cos x_{i+1} + x_{i+1} cos x_i),   c_i ~ N(0, 1),

    and ``f`` computed from it in closed form. Points are x (N, d).
    """

    def __init__(self, equation: str, dim: int, seed: int):
        if equation not in EQUATIONS:
            raise ValueError(f"equation must be one of {EQUATIONS}, got {equation!r}")
        if dim < 2:
            raise ValueError(f"dim must be >= 2 (the solution couples neighbouring coordinates), got {dim}")
        self.equation = equation
        self.dim = dim
        self.coefficients = torch.randn(dim - 1, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)

    def _parts(self, x: torch.Tensor):
        a, b = x[:, :-1], x[:, 1:]  # x_i, x_{i+1}
        theta = a + torch.cos(b) + b * torch.cos(a)
        c = self.coefficients.to(x)
        return a, b, theta, c

    def exact(self, x: torch.Tensor) -> torch.Tensor:
        """u(x): (N,)."""
        _, _, theta, c = self._parts(x)
        return (1 - x.pow(2).sum(1)) * (c * torch.sin(theta)).sum(1)

    def exact_laplacian(self, x: torch.Tensor) -> torch.Tensor:
        """Δu(x) in closed form: (N,). With u = w g, w = 1 - |x|²: Δu = g Δw + 2 ∇w·∇g + w Δg."""
        a, b, theta, c = self._parts(x)
        sin, cos = torch.sin(theta), torch.cos(theta)
        d_a, d_b = 1 - b * torch.sin(a), -torch.sin(b) + torch.cos(a)  # ∂θ/∂x_i, ∂θ/∂x_{i+1}
        dd_a, dd_b = -b * torch.cos(a), -torch.cos(b)  # ∂²θ/∂x_i², ∂²θ/∂x_{i+1}²
        grad_g = torch.zeros_like(x)
        grad_g[:, :-1] += c * cos * d_a
        grad_g[:, 1:] += c * cos * d_b
        lap_g = (c * (-sin * (d_a.pow(2) + d_b.pow(2)) + cos * (dd_a + dd_b))).sum(1)
        g = (c * sin).sum(1)
        w = 1 - x.pow(2).sum(1)
        return -2 * self.dim * g - 4 * (x * grad_g).sum(1) + w * lap_g

    def source(self, x: torch.Tensor) -> torch.Tensor:
        """f(x): (N,)."""
        lap = self.exact_laplacian(x)
        if self.equation == "poisson":
            return lap
        u = self.exact(x)
        return lap + u - u.pow(3)

    def residual(self, u: torch.Tensor, lap_u: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The PDE residual of a candidate with values u and Laplacian lap_u: (N,)."""
        if self.equation == "poisson":
            return lap_u - f
        return lap_u + u - u.pow(3) - f


def sample_ball(n: int, dim: int, generator: torch.Generator) -> torch.Tensor:
    """n points in the unit ball: uniform directions, radius uniform in [0, 1): (n, dim) float64."""
    direction = torch.randn(n, dim, generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=1, keepdim=True)
    return direction * torch.rand(n, 1, generator=generator, dtype=torch.float64)


def laplacian(model: torch.nn.Module, x: torch.Tensor, dims: Optional[Sequence[int]] = None):
    """(u, Δu) of ``model`` at x (N, d), both (N,), as a graph that can be differentiated again.

    ``dims``: estimate Δu from these coordinates only, scaled by d / len(dims) (stochastic
    dimension sampling; unbiased when the dims are drawn uniformly); None uses all d.
    """
    x = x.detach().requires_grad_(True)
    u = model(x).squeeze(-1)
    (grad,) = torch.autograd.grad(u.sum(), x, create_graph=True)
    chosen = range(x.shape[1]) if dims is None else dims
    total = torch.zeros_like(u)
    for i in chosen:
        (second,) = torch.autograd.grad(grad[:, i].sum(), x, create_graph=True)
        total = total + second[:, i]
    return u, total * (x.shape[1] / len(chosen))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    task = parser.add_argument_group("PDE")
    task.add_argument("--equation", choices=EQUATIONS, default="poisson")
    task.add_argument("--dim", type=positive_int, default=4, help="dimension d of the ball")
    task.add_argument("--hidden", type=int_list, default=[16, 16], help="hidden widths, e.g. 16,16")
    task.add_argument("--collocation", type=positive_int, default=100,
                      help="residual points drawn afresh for every step (one step per epoch)")
    task.add_argument("--laplacian-dims", type=non_negative_int, default=0,
                      help="coordinates sampled per step for the Laplacian (0: all d)")
    task.add_argument("--n-test", type=positive_int, default=2000, help="held-out points for the relative L2 error")
    add_common(parser, epochs=1000, lr=1e-2, batch_size=0, schedule="linear")


def run(args: argparse.Namespace, rank: int = 0, world: int = 1) -> Optional[TaskRun]:
    if not 0 <= args.laplacian_dims <= args.dim:
        raise ValueError(f"--laplacian-dims must be in [0, --dim={args.dim}], got {args.laplacian_dims}")
    ball = BallProblem(args.equation, args.dim, args.seed)
    spec = model_spec(args, [args.dim, *args.hidden, 1], hard_boundary=True)
    test_x = sample_ball(args.n_test, args.dim, torch.Generator().manual_seed(args.seed + 1))
    test_u = ball.exact(test_x).float()

    drawn = {}  # the current step's Laplacian coordinates, drawn with its points

    def batches(epoch: int):
        # every process draws the same points and dims; each then takes its slice of the points
        generator = torch.Generator().manual_seed(args.seed * 100_003 + epoch + 2)
        x = sample_ball(args.collocation, args.dim, generator)
        subset = torch.randperm(args.dim, generator=generator)[: args.laplacian_dims].tolist()
        drawn["dims"] = subset if args.laplacian_dims else None
        yield x.float(), ball.source(x).float()

    def losses(model, x, f):
        u, lap_u = laplacian(model, x, drawn["dims"])
        return ball.residual(u, lap_u, f).pow(2)

    def evaluate(model, device):
        with torch.no_grad():
            error = model(test_x.float().to(device)).squeeze(-1).cpu() - test_u
        return {"relative_l2": (error.norm() / test_u.norm()).item()}

    probe = next(iter(batches(0)))
    description = (
        f"{args.equation} on the unit ball in {args.dim} dimensions, {args.collocation} collocation points per step, "
        f"Laplacian over {args.laplacian_dims or args.dim} of {args.dim} dims, {args.n_test} test points"
    )
    return train_and_record("pde", args, spec, Problem(batches, losses), 1, probe, evaluate, description, rank, world)

