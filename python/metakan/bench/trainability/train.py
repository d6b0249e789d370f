"""One trainability run: seed, build, train with the library's training loop, evaluate."""

from __future__ import annotations

import argparse
import time
from typing import Dict

import torch

from ...tasks.training import Problem, batches_per_epoch, fit, shuffled_batches
from ..case import backends_ran
from .matrix import EMBEDDING_DIM, GRID_SIZE, HIDDEN_DIM, SPLINE_ORDER, Config
from .models import build_model, build_optimizer, widths
from .problems import Data, at_chance


def config_columns(config: Config) -> Dict[str, object]:
    """The columns that name a run (with the commit, device and dtype: what makes it the same run again)."""
    task = config.task
    return {
        "task": task.name,
        "model": config.model,
        "init": config.init,
        "depth": config.depth,
        "width": config.width,
        "optimizer": config.optimizer,
        "seed": config.seed,
        "epochs": task.epochs,
        "batch_size": task.batch_size,
        "grid_size": GRID_SIZE,
        "spline_order": SPLINE_ORDER,
        "embedding_dim": EMBEDDING_DIM if config.family == "metakan" else "",
        "hidden_dim": HIDDEN_DIM if config.family == "metakan" else "",
    }


def train(config: Config, data: Data, device: torch.device, progress: bool = False) -> Dict[str, object]:
    """Train ``config``'s model on ``data`` (already on ``device``) with its optimizer at a constant
    rate; the row's measured columns: parameters, the test metric, the last epoch's mean training
    loss, whether the metric is at chance, and the seconds spent training and evaluating."""
    task = config.task
    torch.manual_seed(config.seed)
    model = build_model(config, data.in_features, data.out_features).to(device=device, dtype=data.x_train.dtype)
    optimizer = build_optimizer(config.optimizer, model)
    train_set = (data.x_train, data.y_train)
    problem = Problem(lambda epoch: shuffled_batches(train_set, task.batch_size, config.seed, epoch), data.losses)
    settings = argparse.Namespace(epochs=task.epochs, schedule="constant", optimizer="adam",
                                  no_progress=not progress)
    start = time.perf_counter()
    log = fit(model, problem, settings, device, batches_per_epoch(len(data.y_train), task.batch_size),
              description=f"{task.name} {config.model} {config.depth}x{config.width} seed {config.seed}",
              optimizer=optimizer)
    metric = data.metric(model)
    seconds = time.perf_counter() - start
    return {
        "widths": "-".join(map(str, widths(config, data.in_features, data.out_features))),
        "params": sum(p.numel() for p in model.parameters()),
        "metric_name": task.metric,
        "metric": metric,
        "final_train_loss": log.losses[-1],
        "chance_level": data.chance,
        "at_chance": at_chance(task, metric, data.chance),
        "seconds": round(seconds, 3),
        "backend_ran": backends_ran(model),
    }
