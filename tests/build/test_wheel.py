"""The wheel `make wheel` builds: one abi3 wheel whose compiled _C, installed outside the source tree,
runs the cpu backend on this test's torch and on the oldest torch releases it promises (2.10, 2.11)."""

import os
import shutil
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path

import pytest
import torch
from helpers import TOLERANCES

ROOT = Path(__file__).resolve().parents[2]
# Virtual environments holding another torch, made once and kept between runs (make clean removes them).
TORCH_ENVS = ROOT / "build" / "torch-envs"
OLDER_TORCH = ["2.10.0", "2.11.0"]


def _unavailable(reason: str):
    """In CI a missing wheel or torch fails the test; elsewhere it skips it."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _wheel() -> Path:
    wheels = sorted(ROOT.glob("dist/metakan-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        _unavailable("dist/ holds no metakan wheel; `make test` builds it with `make wheel`")
    return wheels[-1]


def _torch_site(version: str) -> Path:
    """site-packages of build/torch-envs/torch-VERSION, a venv with torch==VERSION, installed on first use."""
    env = TORCH_ENVS / f"torch-{version}"
    done = env / "installed"
    if not done.exists():
        shutil.rmtree(env, ignore_errors=True)
        venv.create(env, with_pip=True)
        out = subprocess.run([str(env / "bin" / "python"), "-m", "pip", "install", "--quiet", f"torch=={version}"],
                             capture_output=True, text=True, timeout=3000)
        if out.returncode != 0:
            shutil.rmtree(env, ignore_errors=True)
            _unavailable(f"pip could not install torch=={version}: {out.stderr[-2000:]}")
        done.touch()
    return next(env.glob("lib/python*/site-packages"))


def _run_installed_wheel(tmp_path: Path, torch_site: Path, script: str) -> str:
    """Runs script in a fresh venv that holds only the wheel and sees torch (and what it needs) from torch_site."""
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    site = next(env.glob("lib/python*/site-packages"))
    # The editable install in this test's environment is not seen: .pth files are only read in a
    # site directory, and torch_site is merely on the path here.
    (site / "torch-from-tests.pth").write_text(str(torch_site) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(site), str(_wheel())], check=True)
    prelude = textwrap.dedent(f"""
        import sys, torch
        import metakan_kernels as mk
        from metakan_kernels import native, reference
        site = {str(site)!r}
        assert mk.__file__.startswith(site) and native._C.__file__.startswith(site), (mk.__file__, native._C.__file__)
        assert {{{str(ROOT)!r}, {str(ROOT / "python")!r}}}.isdisjoint(sys.path), sys.path
        assert torch.__file__.startswith({str(torch_site)!r}), torch.__file__
    """)
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([str(env / "bin" / "python"), "-c", prelude + textwrap.dedent(script)], cwd=tmp_path,
                         capture_output=True, text=True, env={**clean_env, "TRITON_INTERPRET": "0"}, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def test_wheel_is_one_abi3_wheel():
    """Tags: CPython's stable ABI from 3.10 on, so one wheel serves every Python; _C is named for it."""
    wheel = _wheel()
    assert wheel.name.endswith("-cp310-abi3-linux_x86_64.whl"), wheel.name
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    # exactly one _C: a stale build for one Python/torch would be loaded in preference to the abi3 one
    assert [n for n in names if n.startswith("metakan_kernels/_C")] == ["metakan_kernels/_C.abi3.so"], names


def test_wheel_runs_a_cpu_op_outside_the_source_tree(tmp_path):
    out = _run_installed_wheel(tmp_path, Path(torch.__file__).resolve().parents[2], """
        x, coef, base_weight = torch.randn(7, 3), torch.randn(4, 3, 8), torch.randn(4, 3)
        y = mk.kan_linear(x, coef, base_weight, backend="cpu")
        want = reference.kan_linear_ref(x, coef, base_weight, reference.uniform_knots(3, 5, 3), 3)
        torch.testing.assert_close(y, want)
        print("ran", mk.resolve_backend("auto", "cpu"))
    """)
    assert out.strip() == "ran cpu"


# Outputs and gradients of both layers, cpu backend against the reference: float64 with per-edge
# coefficient scales and per-feature knots, float32 on the uniform grid, each meta-learner activation.
AGAINST_REFERENCE = """
    torch.manual_seed(0)

    def grads(f, *tensors):
        tensors = [t.detach().requires_grad_() for t in tensors]
        y = f(*tensors)
        y.backward(torch.randn(y.shape, dtype=y.dtype, generator=torch.Generator().manual_seed(1)), inputs=tensors)
        return [y] + [t.grad for t in tensors]

    def check(got, want, name):
        for i, (a, b) in enumerate(zip(got, want)):
            atol, rtol = TOLERANCES[a.dtype]
            torch.testing.assert_close(a, b, atol=atol, rtol=rtol, msg=lambda m: f"{name}, tensor {i}: {m}")

    G, k, I, O = 5, 3, 6, 4
    for dtype in (torch.float64, torch.float32):
        x = torch.rand(9, I, dtype=dtype) * 2.2 - 1.1
        uniform = reference.uniform_knots(I, G, k, dtype=dtype)
        knots = (uniform + 0.02 * torch.rand(I, 1, dtype=dtype) * torch.arange(G + 2 * k + 1, dtype=dtype)).contiguous()
        grid = knots if dtype == torch.float64 else None
        coef, base_weight = torch.randn(O, I, G + k, dtype=dtype), torch.randn(O, I, dtype=dtype)
        scale = torch.rand(O, I, dtype=dtype) + 0.5 if dtype == torch.float64 else None
        kan = lambda x, c, w, s=None: mk.kan_linear(x, c, w, grid=grid, coef_scale=s, backend="cpu")
        kan_ref = lambda x, c, w, s=None: reference.kan_linear_ref(x, c, w, knots if grid is not None else uniform, k, s)
        tensors = (x, coef, base_weight) + ((scale,) if scale is not None else ())
        check(grads(kan, *tensors), grads(kan_ref, *tensors), f"kan_linear {dtype}")

        meta = [torch.randn(O, I, 3, dtype=dtype), torch.randn(16, 3, dtype=dtype), torch.randn(16, dtype=dtype),
                torch.randn(G + k + 1, 16, dtype=dtype) / 4, torch.randn(G + k + 1, dtype=dtype)]
        for act in ("relu", "silu", "gelu", "tanh", "identity"):
            f = lambda x, *m: mk.metakan_linear(x, *m, grid=grid, meta_activation=act, backend="cpu")
            f_ref = lambda x, *m: reference.metakan_linear_ref(x, *m, knots if grid is not None else uniform, k, act)
            check(grads(f, x, *meta), grads(f_ref, x, *meta), f"metakan_linear {dtype} {act}")
    print("torch", torch.__version__.split("+")[0], "ran", mk.resolve_backend("auto", "cpu"))
"""


@pytest.mark.timeout(3600)  # the first run installs torch (several GB)
@pytest.mark.parametrize("version", OLDER_TORCH)
def test_wheel_runs_on_older_torch(tmp_path, version):
    """The wheel built with this test's torch loads into torch==version and matches the reference there."""
    script = f"TOLERANCES = {{torch.float64: {TOLERANCES[torch.float64]}, torch.float32: {TOLERANCES[torch.float32]}}}\n"
    out = _run_installed_wheel(tmp_path, _torch_site(version), script + textwrap.dedent(AGAINST_REFERENCE))
    assert out.strip() == f"torch {version} ran cpu", out
