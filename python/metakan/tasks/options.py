"""Command-line options every training task shares: model, meta-learner sharing, optimiser, run settings."""

from __future__ import annotations

import argparse
import math
from typing import List, Optional, Union

from metakan_kernels import META_ACTIVATIONS

from ..meta_learner import INITS
from .models import MODEL_KINDS, ModelSpec

OPTIMIZERS = ("adam", "adamw", "lbfgs")
SCHEDULES = ("constant", "cosine", "linear")
MAX_SEED = 2**32 - 1


def share_option(text: str) -> Union[str, int]:
    """``--share``: "layer", "all", or a positive number of meta-learner groups."""
    if text in ("layer", "all"):
        return text
    try:
        groups = int(text)
    except ValueError:
        groups = 0
    if groups < 1:
        raise argparse.ArgumentTypeError(f"expected 'layer', 'all' or a positive integer, got {text!r}")
    return groups


def int_list(text: str) -> List[int]:
    """A comma-separated list of positive integers, e.g. "32" or "16,16"."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        values = []
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected positive integers separated by commas, got {text!r}")
    return values


def bounded_int(text: str, least: int, most: Optional[int] = None) -> int:
    """``text`` as an integer in [least, most] (no upper bound when ``most`` is None)."""
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or value < least or (most is not None and value > most):
        wanted = f"an integer >= {least}" if most is None else f"an integer in [{least}, {most}]"
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def positive_int(text: str) -> int:
    return bounded_int(text, 1)


def non_negative_int(text: str) -> int:
    return bounded_int(text, 0)


def random_seed(text: str) -> int:
    """A random seed in [0, 2**32 - 1] (numpy refuses negative seeds)."""
    return bounded_int(text, 0, MAX_SEED)


def _number(text: str) -> float:
    """``text`` as a float; NaN (which every range check refuses) when it is not a number."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def positive_float(text: str) -> float:
    """A finite number > 0, e.g. a learning rate."""
    value = _number(text)
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0, e.g. a weight decay."""
    value = _number(text)
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return value


def fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = _number(text)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(f"expected a number between 0 and 1 (exclusive), got {text!r}")
    return value


def add_common(parser: argparse.ArgumentParser, **defaults) -> None:
    """Add the shared options; ``defaults`` sets each task's own default values."""
    model = parser.add_argument_group("model")
    model.add_argument("--model", choices=MODEL_KINDS, default="metakan")
    model.add_argument("--grid-size", type=positive_int, default=5, help="B-spline grid intervals G")
    model.add_argument("--spline-order", type=non_negative_int, default=3, help="B-spline order k")
    model.add_argument("--embedding-dim", type=positive_int, default=1, help="MetaKAN: per-edge embedding size d")
    model.add_argument("--hidden-dim", type=positive_int, default=16, help="MetaKAN: meta-learner hidden width H")
    model.add_argument("--share", type=share_option, default="layer",
                       help="MetaKAN meta-learners: 'layer' (one per layer), 'all' (one) or N (k-means groups)")
    model.add_argument("--meta-activation", choices=sorted(META_ACTIVATIONS), default="relu",
                       help="MetaKAN meta-learners' hidden activation (identity: the paper's affine image learner)")
    model.add_argument("--init", choices=INITS, default="default",
                       help="MetaKAN initialisation: default (efficient-kan's statistics, see docs/init.md) or "
                            "paper (the MetaKAN paper's code)")
    model.add_argument("--backend", default="auto", help="kernel backend of the KAN layers ('auto' picks)")
    train = parser.add_argument_group("optimisation")
    train.add_argument("--optimizer", choices=OPTIMIZERS, default="adam",
                       help="adam (weight decay as an L2 term), adamw (decoupled weight decay) or lbfgs")
    train.add_argument("--epochs", type=positive_int, default=10,
                       help="passes over the training data (pde: steps, each on fresh collocation points)")
    train.add_argument("--batch-size", type=non_negative_int, default=64,
                       help="global batch size (0: the whole training set)")
    train.add_argument("--lr", type=positive_float, default=1e-3,
                       help="learning rate (MLP, KAN, and MetaKAN's other parameters)")
    train.add_argument("--lr-embed", type=positive_float, default=None,
                       help="MetaKAN embeddings' learning rate (default %(default)s; None: --lr)")
    train.add_argument("--lr-meta", type=positive_float, default=None,
                       help="MetaKAN meta-learners' learning rate (default %(default)s; None: --lr)")
    train.add_argument("--weight-decay", type=non_negative_float, default=0.0,
                       help="weight decay (MLP, KAN, and MetaKAN's other parameters)")
    train.add_argument("--weight-decay-embed", type=non_negative_float, default=None,
                       help="MetaKAN embeddings' weight decay (default %(default)s; None: --weight-decay)")
    train.add_argument("--weight-decay-meta", type=non_negative_float, default=None,
                       help="MetaKAN meta-learners' weight decay (default %(default)s; None: --weight-decay)")
    train.add_argument("--schedule", choices=SCHEDULES, default="constant",
                       help="learning-rate schedule over the steps")
    run = parser.add_argument_group("run")
    run.add_argument("--seed", type=random_seed, default=0, help="random seed in [0, 2**32 - 1]")
    run.add_argument("--device", default="auto", help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    run.add_argument("--ddp", type=positive_int, default=1, metavar="N",
                     help="train with DistributedDataParallel over N processes on this machine")
    run.add_argument("--output", default=None, help="results JSON (default: metakan-results/<task>-<model>.json)")
    run.add_argument("--save-model", default=None, metavar="PATH", help="save the trained model (for metakan plot)")
    run.add_argument("--checkpoint-every", type=non_negative_int, default=0, metavar="N",
                     help="write a checkpoint every N epochs (0: never); a killed run continues with --resume")
    run.add_argument("--checkpoint", default=None, metavar="PATH",
                     help="where checkpoints go (default: the --output path with the suffix .ckpt); "
                          "each replaces the last atomically")
    run.add_argument("--resume", default=None, metavar="PATH",
                     help="continue the run saved in this checkpoint; the options must be those it was "
                          "written with (placement and output options aside); the final losses and metrics "
                          "are those of an uninterrupted run")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(**defaults)


def model_spec(args: argparse.Namespace, widths: List[int], **overrides) -> ModelSpec:
    """The :class:`ModelSpec` the shared options describe."""
    return ModelSpec(
        kind=args.model, widths=widths, grid_size=args.grid_size, spline_order=args.spline_order,
        embedding_dim=args.embedding_dim, hidden_dim=args.hidden_dim, share=args.share,
        meta_activation=args.meta_activation, init=args.init, backend=args.backend, **overrides,
    )
