"""Train an MLP, a KAN and a MetaKAN side by side on scikit-learn's digits (CPU, no download) and
compare parameters, accuracy, time per epoch and the activation memory each keeps for backward."""

from __future__ import annotations

import argparse
import time

import torch

from ..datasets import digits
from ..memory import saved_bytes
from ..networks import KAN, MetaKAN, param_groups

HELP = "train MLP, KAN and MetaKAN side by side on the digits data set"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--hidden", type=int, default=32, help="hidden width of the [64, hidden, 10] models")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--backend", default="auto", help="kernel backend for the KAN layers")


def _build(name: str, hidden: int, backend: str) -> torch.nn.Module:
    if name == "mlp":
        return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.SiLU(), torch.nn.Linear(hidden, 10))
    if name == "kan":
        return KAN([64, hidden, 10], backend=backend)
    return MetaKAN([64, hidden, 10], embedding_dim=1, hidden_dim=16, backend=backend)


def _optimizer(name: str, model: torch.nn.Module) -> torch.optim.Optimizer:
    if name == "metakan":
        return torch.optim.Adam(param_groups(model, lr_embedding=1e-2, lr_meta=1e-3))
    return torch.optim.Adam(model.parameters(), lr=1e-2 if name == "mlp" else 3e-3)


def _train(name, model, data, epochs, batch_size, generator) -> dict:
    x_train, y_train, x_test, y_test = data
    optimizer = _optimizer(name, model)
    loss_fn = torch.nn.CrossEntropyLoss()
    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            optimizer.zero_grad(set_to_none=True)
            loss_fn(model(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
    seconds = (time.perf_counter() - start) / epochs
    with torch.no_grad():
        accuracy = (model(x_test).argmax(-1) == y_test).float().mean().item()
    probe = x_train[:batch_size]
    kept = saved_bytes(lambda: model(probe), exclude=[probe, *model.parameters()])
    backends = {getattr(m, "last_backend", None) for m in model.modules()} - {None}
    return {
        "model": name,
        "params": sum(p.numel() for p in model.parameters()),
        "backend": ",".join(sorted(backends)) or "-",
        "test accuracy": f"{100 * accuracy:.1f}%",
        "s/epoch": f"{seconds:.3f}",
        "kept for backward / batch": f"{kept / 1024:.0f} KiB",
    }


def run(args: argparse.Namespace) -> int:
    data = digits(seed=args.seed)
    print(
        f"metakan demo: scikit-learn digits, {len(data[0])} train / {len(data[2])} test images of 64 pixels, "
        f"models [64, {args.hidden}, 10], {args.epochs} epochs, batch {args.batch_size}, "
        f"{torch.get_num_threads()} CPU threads"
    )
    rows = []
    for name in ("mlp", "kan", "metakan"):
        torch.manual_seed(args.seed)
        model = _build(name, args.hidden, args.backend)
        generator = torch.Generator().manual_seed(args.seed)
        rows.append(_train(name, model, data, args.epochs, args.batch_size, generator))
    widths = {key: max(len(key), *(len(str(row[key])) for row in rows)) for key in rows[0]}
    print("  ".join(key.ljust(widths[key]) for key in widths))
    for row in rows:
        print("  ".join(str(row[key]).ljust(widths[key]) for key in widths))
    return 0
