"""The wheel `make wheel` builds: installed outside the source tree, its compiled _C runs a CPU op."""

import os
import subprocess
import sys
import textwrap
import venv
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


def _wheel() -> Path:
    wheels = sorted(ROOT.glob("dist/metakan-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        if os.environ.get("CI"):
            pytest.fail("dist/ holds no metakan wheel; `make test` builds it with `make wheel`")
        pytest.skip("dist/ holds no metakan wheel; build it with `make wheel`")
    return wheels[-1]


def test_wheel_runs_a_cpu_op_outside_the_source_tree(tmp_path):
    wheel = _wheel()
    env = tmp_path / "env"
    venv.create(env, with_pip=False)
    site = next(env.glob("lib/python*/site-packages"))
    # torch comes from this test's environment; the editable install there is not seen (its .pth
    # files are only read in a site directory, and that one is merely on the path here).
    (site / "torch-from-tests.pth").write_text(str(Path(torch.__file__).resolve().parents[1]) + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index", "--target",
                    str(site), str(wheel)], check=True)
    script = textwrap.dedent(f"""
        import sys, torch
        import metakan_kernels as mk
        from metakan_kernels import native, reference
        site = {str(site)!r}
        assert mk.__file__.startswith(site) and native._C.__file__.startswith(site), (mk.__file__, native._C.__file__)
        assert {{{str(ROOT)!r}, {str(ROOT / "python")!r}}}.isdisjoint(sys.path), sys.path
        x, coef, base_weight = torch.randn(7, 3), torch.randn(4, 3, 8), torch.randn(4, 3)
        y = mk.kan_linear(x, coef, base_weight, backend="cpu")
        want = reference.kan_linear_ref(x, coef, base_weight, reference.uniform_knots(3, 5, 3), 3)
        torch.testing.assert_close(y, want)
        print("ran", mk.resolve_backend("auto", "cpu"))
    """)
    clean_env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    out = subprocess.run([str(env / "bin" / "python"), "-c", script], cwd=tmp_path, capture_output=True, text=True,
                         env={**clean_env, "TRITON_INTERPRET": "0"}, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.strip() == "ran cpu"
