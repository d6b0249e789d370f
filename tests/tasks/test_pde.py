"""PDE solving: the exact solution's Laplacian, the autograd Laplacian, the tiny PINN's double backward on
every available backend, the pde command, and DDP against a single process."""

import json

import pytest
import torch

from metakan import available_backends
from metakan.cli import main
from metakan.tasks.models import ModelSpec
from metakan.tasks.pde import BallProblem, laplacian, sample_ball

from helpers import assert_close

TINY = ["--hidden", "3", "--dim", "3", "--epochs", "3", "--collocation", "10", "--n-test", "50", "--hidden-dim", "4",
        "--no-progress"]


def autograd_laplacian(fn, x):
    x = x.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(fn(x).sum(), x, create_graph=True)
    return sum(torch.autograd.grad(grad[:, i].sum(), x, retain_graph=True)[0][:, i] for i in range(x.shape[1]))


@pytest.mark.parametrize("equation", ["poisson", "allen-cahn"])
@pytest.mark.parametrize("dim", [2, 5])
def test_exact_laplacian_closed_form_matches_autograd(equation, dim):
    ball = BallProblem(equation, dim, seed=1)
    x = sample_ball(64, dim, torch.Generator().manual_seed(0))
    torch.testing.assert_close(ball.exact_laplacian(x), autograd_laplacian(ball.exact, x))
    u = ball.exact(x)
    # the exact solution has residual zero, and vanishes on the sphere
    torch.testing.assert_close(ball.residual(u, ball.exact_laplacian(x), ball.source(x)), torch.zeros_like(u))
    sphere = x / x.norm(dim=1, keepdim=True)
    torch.testing.assert_close(ball.exact(sphere), torch.zeros(64, dtype=torch.float64), atol=1e-12, rtol=0)


def test_sample_ball_and_bad_problems():
    x = sample_ball(500, 4, torch.Generator().manual_seed(0))
    assert x.shape == (500, 4) and x.norm(dim=1).max() < 1
    with pytest.raises(ValueError, match="dim must be >= 2"):
        BallProblem("poisson", 1, 0)
    with pytest.raises(ValueError, match="equation must be one of"):
        BallProblem("heat", 3, 0)


def test_laplacian_full_and_sampled_dimensions():
    weights = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)
    model = lambda x: (weights * x.pow(3)).sum(1, keepdim=True)  # noqa: E731  Δ = Σ 6 w_i x_i
    x = torch.tensor([[0.1, -0.2, 0.3], [0.5, 0.4, -0.6]], dtype=torch.float64)
    u, full = laplacian(model, x)
    torch.testing.assert_close(full, (6 * weights * x).sum(1))
    torch.testing.assert_close(u, model(x).squeeze(1))
    _, one = laplacian(model, x, [1])
    torch.testing.assert_close(one, 3 * 6 * weights[1] * x[:, 1])
    mean_of_singles = sum(laplacian(model, x, [i])[1] for i in range(3)) / 3
    torch.testing.assert_close(mean_of_singles, full)  # the sampled estimate is unbiased


def tiny_pinn(kind, backend, dtype):
    torch.manual_seed(0)
    spec = ModelSpec(kind, [2, 3, 1], grid_size=3, hidden_dim=4, hard_boundary=True, backend=backend)
    model = spec.build().to(dtype)
    ball = BallProblem("allen-cahn", 2, seed=0)
    x = sample_ball(5, 2, torch.Generator().manual_seed(1))
    u, lap = laplacian(model, x.to(dtype))
    loss = ball.residual(u, lap, ball.source(x).to(dtype)).pow(2).mean()
    names, params = zip(*model.named_parameters())
    return model, loss, dict(zip(names, torch.autograd.grad(loss, params)))


@pytest.mark.parametrize("backend", available_backends())
@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_tiny_pinn_double_backward_matches_reference(kind, backend):
    model, loss, grads = tiny_pinn(kind, backend, torch.float32)
    assert {m.last_backend for m in model.modules() if hasattr(m, "last_backend")} == {backend}
    _, ref_loss, ref_grads = tiny_pinn(kind, "reference", torch.float32)
    assert_close(loss, ref_loss, "PINN loss")
    for name, grad in grads.items():
        assert_close(grad, ref_grads[name], f"d loss / d {name}")


@pytest.mark.parametrize("kind", ["kan", "metakan"])
def test_reference_pinn_gradients_match_finite_differences(kind):
    model, loss, grads = tiny_pinn(kind, "reference", torch.float64)
    assert loss > 0
    for name, param in model.named_parameters():
        flat = param.data.view(-1)
        for index in range(0, flat.numel(), max(1, flat.numel() // 4)):
            old = flat[index].item()
            values = []
            for step in (1e-6, -1e-6):
                flat[index] = old + step
                values.append(tiny_pinn_loss_at(model))
            flat[index] = old
            numeric = (values[0] - values[1]) / 2e-6
            assert grads[name].view(-1)[index].item() == pytest.approx(numeric, rel=1e-4, abs=1e-7), (name, index)


def tiny_pinn_loss_at(model):
    ball = BallProblem("allen-cahn", 2, seed=0)
    x = sample_ball(5, 2, torch.Generator().manual_seed(1))
    u, lap = laplacian(model, x)
    return ball.residual(u, lap, ball.source(x)).pow(2).mean().item()


@pytest.mark.parametrize("model", ["kan", "metakan", "mlp"])
def test_train_pde_writes_relative_error(tmp_path, capsys, model):
    out = tmp_path / "pde.json"
    extra = ["--equation", "allen-cahn", "--laplacian-dims", "2"] if model == "metakan" else []
    assert main(["train", "pde", "--model", model, "--output", str(out), *TINY, *extra]) == 0
    result = json.loads(out.read_text())
    assert result["metrics"]["relative_l2"] > 0 and result["spec"]["hard_boundary"]
    assert "relative l2" in capsys.readouterr().out
    assert main(["train", "pde", "--laplacian-dims", "4", *TINY]) == 2


def test_ddp_two_processes_match_one_process(tmp_path):
    saved = {}
    for processes in (1, 2):
        path = tmp_path / f"model{processes}.pt"
        args = ["train", "pde", "--model", "metakan", "--laplacian-dims", "2", "--optimizer", "adam", "--lr-embed",
                "0.02", "--save-model", str(path), "--output", str(tmp_path / f"r{processes}.json"), "--ddp",
                str(processes), *TINY]
        assert main(args) == 0
        saved[processes] = torch.load(path, weights_only=True)["state_dict"]
    assert json.loads((tmp_path / "r2.json").read_text())["environment"]["processes"] == 2
    torch.manual_seed(0)  # the runs' --seed
    initial = ModelSpec("metakan", [3, 3, 1], hidden_dim=4, hard_boundary=True).build().state_dict()
    for name, value in saved[1].items():
        assert not torch.equal(value, initial[name]), f"{name} did not train"
        torch.testing.assert_close(saved[2][name], value, atol=1e-6, rtol=1e-5, msg=lambda m: f"{name}: {m}")
