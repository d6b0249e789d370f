"""MetaKANLinear with the affine meta-learner against an independent float64 forward of the MetaKAN paper's image layer.

The paper's image-classification MetaKAN (repository Murphyzc/MetaKAN, image_classification/models/
metakan.py, with image_classification/train_meta.py and utils.py for its options) is re-implemented
below from its description, in float64, without metakan_kernels' bases. Details it reproduces:

* grid: every input has the same uniform knots ``t_j = lo + (j - k) h``, ``h = (hi - lo) / G``,
  ``j = 0 .. G + 2k`` (G + 2k + 1 knots, ``grid_range`` default ``[-1, 1]``, ``G = 5``, ``k = 3``);
  no grid update.
* bases: order-0 indicators of the half-open ``[t_j, t_{j+1})``, raised one order at a time by
  Cox–de Boor, G + k bases per input, all zero outside ``[t_0, t_{G+2k})`` (no clamping). The paper
  adds ``1e-8`` to every Cox–de Boor denominator; :data:`PAPER_EPS` reproduces it, and the tests run
  both with it (agreement within the bound it implies) and without it (agreement to rounding).
* base (shortcut) term: ``silu(x)``, the paper's default ``--base_activation silu`` (``nn.SiLU``).
* meta-learner: one per layer (``MetaNet``), ``Linear(d, H)`` then ``Linear(H, G + k + 1)`` with no
  activation between; default ``d = 1``, ``H = 32``.
* embeddings: one ``(O * I, d)`` matrix per layer, row ``o * I + i`` for edge (o, i); the meta-learner's
  output for that row, viewed as ``(O, I, G + k + 1)``, gives the edge's G + k spline coefficients
  (``[..., :G+k]``) and its base weight (``[..., G+k]``).
* layer output: ``Σ_i base_weight[o,i] silu(x_i) + Σ_i Σ_m c[o,i,m] B_m(x_i)``; no spline scaler, no
  normalisation, no bias. The paper evaluates the outputs in chunks of ``o_batch_size``: that bounds
  its memory and only reorders the sums, so the re-implementation does all outputs at once.
* network: layers chained, input reshaped to ``(-1, in_features)`` and back.
* parameters: ``init="paper"`` (Xavier-normal embeddings over the ``(O * I, d)`` matrix and
  meta-learner weights, zero biases, no factors), so that the layer computes ``metakan_linear`` on its
  raw parameters, which are copied into the layout above; the tests then set the biases to random
  values, as training would.

Not reproduced (differences of the paper's model, none of which the layer's formula depends on):
its knots are built in the default dtype (float32) even when the model is later cast to float64
(here they are float64, as this library builds them for float64 inputs); ``MetaNet``'s input size
is ``args.input_dim``, which its training script never sets (it has to equal ``embedding_dim``);
its other base activations (``identity``, ``zero``) have no counterpart in ``MetaKANLinear``.

With no activation, the generated weights are affine in the embedding, ``w = (W2 W1) z + (W2 b1 + b2)``:
whatever ``H``, all edges' weights lie in one ``d``-dimensional affine subspace (a line for ``d = 1``).
"""

from typing import List, Sequence

import pytest
import torch

import metakan
import metakan_kernels as mk

PAPER_EPS = 1e-8
F64 = torch.float64

# Backends that run float64 on CPU tensors (triton under its interpreter, see conftest.py).
BACKENDS = [b for b in ("reference", "cpu", "triton") if b in mk.available_backends()]

# (in, out, grid_size, spline_order, embedding_dim, hidden_dim, grid_range): the paper's defaults, then others.
SETTINGS = [
    (7, 5, 5, 3, 1, 32, (-1.0, 1.0)),
    (4, 3, 4, 2, 3, 8, (-2.0, 3.0)),
]


def paper_knots(in_features: int, grid_size: int, spline_order: int, grid_range: Sequence[float]) -> torch.Tensor:
    """(in_features, G + 2k + 1) float64: ``lo + (j - k) h`` for every input."""
    lo, hi = grid_range
    step = (hi - lo) / grid_size
    row = [lo + (j - spline_order) * step for j in range(grid_size + 2 * spline_order + 1)]
    return torch.tensor(row, dtype=F64).repeat(in_features, 1)


def paper_bases(x: torch.Tensor, knots: torch.Tensor, spline_order: int, eps: float) -> torch.Tensor:
    """(N, I) -> (N, I, G + k): half-open indicators raised order by order, ``eps`` added to each denominator."""
    t = knots.unsqueeze(0)
    xe = x.unsqueeze(-1)
    bases = ((t[..., :-1] <= xe) & (xe < t[..., 1:])).to(F64)
    for order in range(1, spline_order + 1):
        n = bases.shape[-1] - 1  # B_{j, order} for j = 0 .. n - 1
        start, end = t[..., :n], t[..., order + 1:order + 1 + n]
        rise = (xe - start) / (t[..., order:order + n] - start + eps)
        fall = (end - xe) / (end - t[..., 1:1 + n] + eps)
        bases = rise * bases[..., :n] + fall * bases[..., 1:]
    return bases


class PaperLayer:
    """One layer of the paper's image MetaKAN: its embeddings, its affine MetaNet and its knots."""

    def __init__(self, ours: metakan.MetaKANLinear):
        learner = ours.meta_learner
        self.embeddings = ours.embedding.detach().reshape(-1, ours.embedding_dim).clone()  # row o * I + i
        self.fc1 = (learner.fc1.weight.detach().clone(), learner.fc1.bias.detach().clone())
        self.fc2 = (learner.fc2.weight.detach().clone(), learner.fc2.bias.detach().clone())
        self.in_features, self.out_features = ours.in_features, ours.out_features
        self.spline_order = ours.spline_order
        self.knots = paper_knots(ours.in_features, ours.grid_size, ours.spline_order, ours.grid_range)

    def __call__(self, x: torch.Tensor, eps: float) -> torch.Tensor:
        rows = x.reshape(-1, self.in_features)
        hidden = self.embeddings @ self.fc1[0].T + self.fc1[1]  # no activation: the learner is affine
        weights = (hidden @ self.fc2[0].T + self.fc2[1]).reshape(self.out_features, self.in_features, -1)
        coef, base_weight = weights[..., :-1], weights[..., -1]
        bases = paper_bases(rows, self.knots, self.spline_order, eps)
        shortcut = rows / (1 + torch.exp(-rows))
        y = torch.einsum("nim,oim->no", bases, coef) + torch.einsum("ni,oi->no", shortcut, base_weight)
        return y.reshape(*x.shape[:-1], self.out_features)


def make_layer(setting, backend: str) -> metakan.MetaKANLinear:
    """A layer with the affine learner; biases made non-zero so that they count (the init zeroes them)."""
    fan_in, fan_out, grid_size, spline_order, d, hidden, grid_range = setting
    layer = metakan.MetaKANLinear(fan_in, fan_out, grid_size=grid_size, spline_order=spline_order, embedding_dim=d,
                                  hidden_dim=hidden, grid_range=grid_range, meta_activation="identity",
                                  init="paper", backend=backend).double()
    randomize_biases(layer.meta_learner)
    return layer


def randomize_biases(learner: torch.nn.Module) -> None:
    with torch.no_grad():
        for fc in (learner.fc1, learner.fc2):
            fc.bias.normal_(0.0, 0.3)


def inputs(in_features: int, grid_size: int, spline_order: int, grid_range: Sequence[float]) -> torch.Tensor:
    """(2, 9, in_features): every knot, both ends of the range, points between knots, and values
    below t_0 and at or above t_{G+2k} (where every basis is zero and only the SiLU term is left)."""
    lo, hi = grid_range
    step = (hi - lo) / grid_size
    first, last = lo - spline_order * step, hi + spline_order * step
    knots = paper_knots(1, grid_size, spline_order, grid_range)[0]
    special = torch.cat([knots, torch.tensor([first - 0.5, first - 1e-9, last, last + 2.0, lo, hi], dtype=F64)])
    span = torch.rand(18 * in_features - len(special), dtype=F64) * (last - first + 2.0) + first - 1.0
    values = torch.cat([special, span])
    return values[torch.randperm(len(values))].reshape(2, 9, in_features)


def epsilon_bound(paper: PaperLayer, x: torch.Tensor, step: float) -> torch.Tensor:
    """How far the paper's ``1e-8`` can move each output: every Cox–de Boor factor is divided by
    ``1 + eps / Δ`` with ``Δ >= step``, and the bases are sums of products of ``k`` non-negative
    factors, so each basis moves by at most ``k eps / step`` of itself."""
    rows = x.reshape(-1, paper.in_features)
    hidden = paper.embeddings @ paper.fc1[0].T + paper.fc1[1]
    weights = (hidden @ paper.fc2[0].T + paper.fc2[1]).reshape(paper.out_features, paper.in_features, -1)
    bases = paper_bases(rows, paper.knots, paper.spline_order, 0.0)
    scale = torch.einsum("nim,oim->no", bases, weights[..., :-1].abs())
    return (paper.spline_order * PAPER_EPS / step * scale).reshape(*x.shape[:-1], paper.out_features)


def test_independent_bases_are_a_partition_of_unity():
    """The bases above, checked on their own: they sum to 1 on [lo, hi] and vanish outside [t_0, t_{G+2k})."""
    knots = paper_knots(1, 5, 3, (-1.0, 1.0))
    x = torch.linspace(-3.0, 3.0, 601, dtype=F64).unsqueeze(-1)
    total = paper_bases(x, knots, 3, 0.0).sum(-1).squeeze(-1)
    inside, outside = (x[:, 0] >= -1.0) & (x[:, 0] <= 1.0), (x[:, 0] < knots[0, 0]) | (x[:, 0] >= knots[0, -1])
    torch.testing.assert_close(total[inside], torch.ones_like(total[inside]), atol=1e-14, rtol=0)
    assert torch.equal(total[outside], torch.zeros_like(total[outside]))


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: f"I{s[0]}O{s[1]}G{s[2]}k{s[3]}d{s[4]}H{s[5]}")
@pytest.mark.parametrize("backend", BACKENDS)
def test_layer_computes_the_papers_layer(setting, backend):
    """Same parameters, same outputs: exactly (to float64 rounding) without the paper's epsilon, and
    within the bound that epsilon implies with it."""
    layer = make_layer(setting, backend)
    paper = PaperLayer(layer)
    fan_in, _, grid_size, spline_order, _, _, grid_range = setting
    x = inputs(fan_in, grid_size, spline_order, grid_range)
    y = layer(x)
    assert layer.last_backend == backend
    torch.testing.assert_close(y, paper(x, 0.0), atol=1e-12, rtol=1e-12)
    step = (grid_range[1] - grid_range[0]) / grid_size
    gap = (y - paper(x, PAPER_EPS)).abs()
    bound = epsilon_bound(paper, x, step)
    assert torch.all(gap <= bound + 1e-13), f"largest excess {(gap - bound).max().item():.3g}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_network_computes_the_papers_network(backend):
    """metakan.MetaKAN with one affine learner per layer is the paper's MetaKAN forward, layer after layer."""
    widths = [6, 5, 3]
    model = metakan.MetaKAN(widths, meta_activation="identity", share="layer", init="paper", backend=backend).double()
    for learner in model.meta_learners:
        randomize_biases(learner)
    assert len(model.meta_learners) == len(widths) - 1
    paper: List[PaperLayer] = [PaperLayer(layer) for layer in model.layers]
    x = inputs(widths[0], 5, 3, (-1.0, 1.0))
    want = x
    for layer in paper:
        want = layer(want, 0.0)
    torch.testing.assert_close(model(x), want, atol=1e-12, rtol=1e-12)
