"""CPU micro-benchmarks (pytest-benchmark): forward and training step of one layer and of the
[784, 32, 10] network, per provider. ``pytest bench --benchmark-only`` times them; CI collects
them with ``--benchmark-disable`` (each runs once, untimed) so that they cannot rot.

torch.compile providers are left to ``metakan bench --full``: a compile per test would dominate.
"""

import pytest
import torch

from metakan.bench import Workload, all_providers
from metakan.bench.case import build_case

CPU = torch.device("cpu")
PROVIDERS = [p for p in all_providers() if not p.compiled]
WORKLOADS = {
    "layer-B256-I64-O64": Workload("layer", 256, (64, 64)),
    "fc-B64-784-32-10": Workload("fc", 64, (784, 32, 10)),
}


def _case(provider, workload):
    reason = provider.unsupported(workload, CPU, torch.float32)
    if reason is not None:
        pytest.skip(reason)
    return build_case(provider.name, workload, "cpu", "float32")


@pytest.mark.parametrize("workload", WORKLOADS, ids=str)
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_forward(benchmark, provider, workload):
    case = _case(provider, WORKLOADS[workload])
    benchmark.group = f"forward {workload}"
    y = benchmark(case.forward)
    assert y.shape == (case.workload.batch, case.workload.widths[-1])


@pytest.mark.parametrize("workload", WORKLOADS, ids=str)
@pytest.mark.parametrize("provider", PROVIDERS, ids=lambda p: p.name)
def test_training_step(benchmark, provider, workload):
    case = _case(provider, WORKLOADS[workload])
    before = [p.detach().clone() for p in case.params]
    benchmark.group = f"training step {workload}"
    benchmark(case.step)
    assert any(not torch.equal(b, p) for b, p in zip(before, case.params)), "AdamW changed no parameter"
