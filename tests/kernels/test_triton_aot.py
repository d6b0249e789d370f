"""Every Triton kernel configuration the GPU path launches compiles for sm_80 and sm_90, without spills (no GPU needed).

The interpreter accepts code the real compiler rejects, so this compiles for real, in a
subprocess: TRITON_INTERPRET=1 (set for the other tests) turns kernels into interpreted ones at import.
"""

import os
import subprocess
import sys

import pytest

KERNELS = ("kan_fwd", "kan_bwd_dx", "kan_bwd_params", "metakan_fwd", "metakan_bwd_dx", "metakan_bwd_params",
           *(f"{op}_edge_l1{p}" for op in ("kan", "metakan") for p in ("", "_bwd_dx", "_bwd_params")))
DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp64")


@pytest.mark.timeout(1800)
def test_all_configurations_compile_without_spills(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_CACHE_DIR"] = str(tmp_path / "cache")  # compile for real, not from an earlier run's cache
    result = subprocess.run([sys.executable, "-m", "metakan_kernels.triton.aot", "--jobs", str(os.cpu_count() or 1)],
                            env=env, capture_output=True, text=True)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report[-6000:]
    rows = [line.split(" | ") for line in result.stdout.splitlines() if line.count(" | ") >= 8]
    default = {(r[1], r[2], r[4]) for r in rows if r[0] == "G5k3d1H32-relu"}
    for kernel in KERNELS:
        for dtype in DTYPES:
            for arch in ("sm_80", "sm_90"):
                assert (dtype, kernel, arch) in default, f"{kernel} {dtype} {arch} was not compiled"
