"""The trainability matrix: tasks, models, depths, widths, optimizers and seeds, and the subsets chosen."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Dict, Iterator, Optional, Tuple

# The KAN models' fixed settings: grid size G, spline order k, and MetaKAN's embedding size d and
# meta hidden width H.
GRID_SIZE, SPLINE_ORDER, EMBEDDING_DIM, HIDDEN_DIM = 5, 3, 1, 16
LR = 1e-3


@dataclass(frozen=True)
class Task:
    """A training problem: ``kind`` "classification" (metric test accuracy, higher is better) or
    "regression" (test RMSE, lower is better), trained ``epochs`` epochs in batches of ``batch_size``."""

    name: str
    kind: str
    epochs: int
    batch_size: int
    description: str

    @property
    def metric(self) -> str:
        return "test_accuracy" if self.kind == "classification" else "test_rmse"


# The regression task's equation: three variables, smooth, a ratio of a Gaussian and its width.
EQUATION = "I.6.20b"
TASKS: Dict[str, Task] = {
    "digits": Task("digits", "classification", 10, 64,
                   "scikit-learn digits, 8x8 images scaled to [-1, 1], 80/20 stratified split"),
    "feynman": Task("feynman", "regression", 30, 64,
                    f"Feynman {EQUATION}, 1000 train / 1000 test points uniform in its ranges"),
}

# name -> (family, MetaKAN init); the report's column order.
MODELS: Dict[str, Tuple[str, str]] = {
    "mlp": ("mlp", ""),
    "kan": ("kan", ""),
    "metakan-default": ("metakan", "default"),
    "metakan-paper": ("metakan", "paper"),
}
# "adam": Adam(model.parameters(), lr=1e-3); "param-groups": Adam(metakan.param_groups(model)).
OPTIMIZERS = ("adam", "param-groups")
DEPTHS = (1, 2, 3, 5)
WIDTHS = (16, 128, 512)
SEEDS = (0, 1, 2)


@dataclass(frozen=True)
class Selection:
    """The part of the matrix to run: every combination of these values."""

    tasks: Tuple[str, ...] = tuple(TASKS)
    models: Tuple[str, ...] = tuple(MODELS)
    depths: Tuple[int, ...] = DEPTHS
    widths: Tuple[int, ...] = WIDTHS
    optimizers: Tuple[str, ...] = OPTIMIZERS
    seeds: Tuple[int, ...] = SEEDS
    epochs: Optional[int] = None  # None: each task's own

    def __post_init__(self):
        for name, known in (("tasks", TASKS), ("models", MODELS), ("optimizers", OPTIMIZERS)):
            unknown = [v for v in getattr(self, name) if v not in known]
            if unknown:
                raise ValueError(f"unknown {name} {unknown}; choose from {list(known)}")
        for name, least in (("depths", 1), ("widths", 1), ("seeds", 0)):
            values = getattr(self, name)
            if any(isinstance(v, bool) or not isinstance(v, int) or v < least for v in values):
                raise ValueError(f"{name} must be integers >= {least}, got {list(values)}")
        if self.epochs is not None and (isinstance(self.epochs, bool) or not isinstance(self.epochs, int)
                                        or self.epochs < 1):
            raise ValueError(f"epochs must be a positive integer, got {self.epochs!r}")
        for name in ("tasks", "models", "depths", "widths", "optimizers", "seeds"):
            if not getattr(self, name):
                raise ValueError(f"choose at least one of {name}")

    def task(self, name: str) -> Task:
        """The task ``name`` with this selection's epochs."""
        task = TASKS[name]
        return task if self.epochs is None else replace(task, epochs=self.epochs)

    def configs(self) -> Iterator["Config"]:
        """Every run of the selection, widest and deepest last within each task."""
        for task in self.tasks:
            for depth in self.depths:
                for width in self.widths:
                    for model in self.models:
                        for optimizer in self.optimizers:
                            for seed in self.seeds:
                                yield Config(self.task(task), model, depth, width, optimizer, seed)


# A CI-sized subset (digits at its full 10 epochs, narrow networks, one seed): seconds on 2 cores.
QUICK = Selection(tasks=("digits",), depths=(1, 3), widths=(16,), seeds=(0,))


@dataclass(frozen=True)
class Config:
    """One training run: ``model`` with ``depth`` hidden layers of ``width`` on ``task``."""

    task: Task
    model: str
    depth: int
    width: int
    optimizer: str
    seed: int

    @property
    def family(self) -> str:
        return MODELS[self.model][0]

    @property
    def init(self) -> str:
        return MODELS[self.model][1]
