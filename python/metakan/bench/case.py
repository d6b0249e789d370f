"""One provider's model on one workload, ready to measure: input, loss, AdamW, and the timed closures."""

from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F

from ..memory import saved_bytes
from .providers import get_provider
from .workloads import CONV_IMAGE, NUM_CLASSES, Workload


class Case:
    """``model`` on ``workload``'s input, trained by AdamW.

    A layer workload gets x: (batch, in_features) in [-1, 1) with ``requires_grad`` (a hidden
    layer's backward computes dx too) and the loss ``(y * dy).sum()`` for a fixed random dy:
    (batch, out_features). Networks get x without grad (784 features, or 1 x 28 x 28 images)
    and cross-entropy against fixed random labels.
    """

    def __init__(self, model: torch.nn.Module, workload: Workload, device: torch.device, dtype: torch.dtype):
        self.model = model.to(device=device, dtype=dtype)
        self.workload = workload
        b = workload.batch
        options = dict(device=device, dtype=dtype)
        if workload.kind == "layer":
            self.x = (torch.rand(b, workload.widths[0], **options) * 2 - 1).requires_grad_(True)
            self.target = torch.randn(b, workload.widths[1], **options)
        else:
            shape = (b, workload.widths[0]) if workload.kind == "fc" else (b, *CONV_IMAGE)
            self.x = torch.rand(*shape, **options) * 2 - 1
            self.target = torch.randint(0, NUM_CLASSES, (b,), device=device)
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(self.params, lr=1e-3)

    def forward(self) -> torch.Tensor:
        return self.model(self.x)

    def loss(self) -> torch.Tensor:
        y = self.forward()
        if self.workload.kind == "layer":
            return (y * self.target).sum()
        return F.cross_entropy(y, self.target)

    def clear_grads(self) -> None:
        """Drop the last step's gradients, as a step does first (memory measured from here on
        counts the gradients a step makes, not the ones it frees)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.x.grad = None

    def step(self) -> None:
        """One training step: forward, backward, AdamW update."""
        self.clear_grads()
        self.loss().backward()
        self.optimizer.step()

    def grad_holders(self) -> List[torch.Tensor]:
        """The tensors whose ``.grad`` a backward fills (reset between timed backward calls)."""
        return ([self.x] if self.x.requires_grad else []) + self.params

    def num_params(self) -> int:
        return sum(p.numel() for p in self.params)

    def saved_bytes(self) -> int:
        """Bytes a forward keeps for backward, beyond the input and the parameters."""
        return saved_bytes(self.forward, exclude=[self.x, *self.params])

    def resident_bytes(self) -> int:
        """Bytes that live across steps: parameters, optimizer state, input and target."""
        tensors = [*self.params, self.x, self.target]
        for state in self.optimizer.state.values():
            tensors += [t for t in state.values() if isinstance(t, torch.Tensor)]
        storages = {}
        for t in tensors:
            storage = t.untyped_storage()
            storages[(t.device.type, storage.data_ptr())] = storage.nbytes()
        return sum(storages.values())

    def backends_ran(self) -> str:
        """The kernel backends the model's KAN layers last ran on, e.g. ``"reference"``."""
        return backends_ran(self.model)


def backends_ran(model: torch.nn.Module) -> str:
    """The kernel backends ``model``'s KAN layers last ran on, comma-separated (e.g. ``"cpu"``;
    empty for a model without them)."""
    ran = {getattr(m, "last_backend", None) for m in model.modules()} - {None}
    return ",".join(sorted(ran))


def build_case(provider: str, workload: Workload, device: str, dtype: str, seed: int = 0) -> Case:
    """The case of ``provider`` (a name) on ``workload``; the same seed gives the same case in any
    process (the CPU memory probe rebuilds it in a fresh one)."""
    torch.manual_seed(seed)
    model = get_provider(provider).build(workload)
    return Case(model, workload, torch.device(device), getattr(torch, dtype))
