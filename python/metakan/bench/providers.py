"""The providers a benchmark compares (MLP, references, fused backends, torch.compile) and why one cannot run."""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional

import torch

import metakan_kernels as mk
from metakan_kernels.backends import CallSizes, get_backend

from .models import build_model
from .workloads import Workload

# Backends that run on a device type only in a mode unfit for timing.
NOT_BENCHMARKED = {
    ("triton", "cpu"): "Triton runs CPU tensors only in its interpreter (TRITON_INTERPRET=1), "
    "which is for tests, not benchmarks",
}


@dataclass(frozen=True)
class Provider:
    """One implementation to measure: a model ``family`` whose KAN layers run on ``backend``
    (None for the MLP baseline), optionally wrapped in ``torch.compile``."""

    name: str
    family: str
    backend: Optional[str] = None
    compiled: bool = False
    description: str = ""

    def unavailable(self, device: torch.device) -> Optional[str]:
        """Why this provider cannot run on ``device`` at all (None when it can)."""
        if self.compiled:
            from torch._dynamo import is_dynamo_supported

            if not is_dynamo_supported():
                return "torch.compile is not supported by this Python / PyTorch"
        if self.backend is None:
            return None
        reason = NOT_BENCHMARKED.get((self.backend, device.type))
        if reason is not None:
            return reason
        try:
            backend = get_backend(self.backend)
        except mk.BackendUnavailable as err:
            return str(err)
        if device.type not in backend.device_types and self.backend != "reference":
            return f"backend {self.backend!r} runs on {'/'.join(backend.device_types)} tensors, not {device.type}"
        return None

    def unsupported(self, workload: Workload, device: torch.device, dtype: torch.dtype) -> Optional[str]:
        """Why this provider cannot run ``workload`` on ``device`` in ``dtype`` (None when it can)."""
        reason = self.unavailable(device)
        if reason is not None or self.family == "mlp":
            return reason
        backend = get_backend(self.backend)
        spec = mk.make_spec(workload.grid_size, workload.spline_order, (-1.0, 1.0))
        meta = (workload.embedding_dim, workload.hidden_dim) if self.family == "metakan" else (0, 0)
        for fan_in, fan_out in _linear_layers(workload):
            sizes = CallSizes(workload.batch, fan_in, fan_out, *meta)
            reason = backend.unsupported(device, dtype, spec, sizes)
            if reason is not None:
                return f"backend {self.backend!r}: {reason}"
        return None

    def build(self, workload: Workload) -> torch.nn.Module:
        """This provider's model of ``workload`` (on the CPU, in float32; move it afterwards)."""
        model = build_model(self.family, workload, self.backend)
        if self.compiled:
            # A fresh cache per model: each benchmarked shape compiles anew instead of hitting
            # the recompile limit and silently falling back to eager.
            torch._dynamo.reset()
            model = torch.compile(model)
        return model


def _linear_layers(workload: Workload):
    """(in, out) of the fully connected layers whose sizes a backend can check up front."""
    if workload.kind == "conv":
        return []
    return list(zip(workload.widths, workload.widths[1:]))


_TITLES = {"kan": "KAN", "metakan": "MetaKAN"}


def all_providers() -> List[Provider]:
    """Every provider this installation knows, available here or not, in table order."""
    providers = [
        Provider("mlp", "mlp", description="nn.Linear + SiLU of the same sizes (nn.Conv2d + SiLU in the conv model)"),
        Provider("kan-ref", "kan", "reference", description="efficient-kan-style KAN, materializing bases"),
        Provider(
            "metakan-ref", "metakan", "reference",
            description="the MetaKAN paper's materializing layer: bases, meta hidden layer and generated weights "
            "kept for backward",
        ),
    ]
    for backend in mk.known_backends():
        if backend != "reference":
            providers += [
                Provider(f"{family}-{backend}", family, backend,
                         description=f"{_TITLES[family]} on the fused {backend!r} backend")
                for family in ("kan", "metakan")
            ]
    providers += [
        Provider(f"{family}-ref-compile", family, "reference", compiled=True,
                 description=f"torch.compile of {family}-ref")
        for family in ("kan", "metakan")
    ]
    return providers


def get_provider(name: str) -> Provider:
    """The provider called ``name``, or a ValueError that lists the known ones."""
    providers = {p.name: p for p in all_providers()}
    if name not in providers:
        raise ValueError(f"unknown provider {name!r}; the providers are: {', '.join(providers)}")
    return providers[name]

