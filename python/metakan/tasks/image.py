"""Image classification: fully connected or the 4-layer conv network on digits, MNIST-format files or CIFAR-10."""

from __future__ import annotations

import argparse
from typing import Optional

import torch
import torch.nn.functional as F

from ..datasets import DATASETS, load_images
from .models import ARCHITECTURES, CONV4_CHANNELS
from .options import add_common, fraction, int_list, model_spec
from .recipes import add_recipe_option, apply_recipe
from .runner import TaskRun, train_and_record
from .training import Problem, batches_per_epoch, shuffled_batches

HELP = "image classification, fully connected or convolutional (accuracy)"
TABLE_METRICS = {"train_accuracy": ".4f", "test_accuracy": ".4f"}
EVAL_CHUNK = 1024

# The MetaKAN paper's fully connected image classification, as its code (image_classification/train_meta.py,
# models/metakan.py) ran it for the KMNIST and Fashion-MNIST results it records (results.csv: 25,778
# parameters): MetaKAN [784, 32, 10], d=1, H=16, one meta-learner per layer, G=5, k=3, the code's
# initialisation, an affine meta-learner; AdamW for the meta-learners (lr 1e-3, weight decay 1e-4) and for
# the embeddings (lr 1e-2, weight decay 5e-4); cosine schedule, batch 1024, 10 epochs.
PAPER = {
    "model": "metakan", "arch": "fc", "hidden": [32], "grid_size": 5, "spline_order": 3, "embedding_dim": 1,
    "hidden_dim": 16, "share": "layer", "meta_activation": "identity", "init": "paper", "optimizer": "adamw",
    "lr_meta": 1e-3, "weight_decay_meta": 1e-4, "lr_embed": 1e-2, "weight_decay_embed": 5e-4,
    "schedule": "cosine", "batch_size": 1024, "epochs": 10,
}
RECIPES = {"paper": PAPER}
RECIPE_HELP = (
    "paper: the MetaKAN paper's image-classification setting (its code's KMNIST and Fashion-MNIST runs): "
    "MetaKAN [pixels, 32, classes], embedding dim 1, meta-learner hidden width 16 (one per layer), "
    "--meta-activation identity (the paper's affine meta-learner), --init paper; AdamW with meta-learners at "
    "lr 1e-3, weight decay 1e-4 and embeddings at lr 1e-2, weight decay 5e-4; cosine schedule over the "
    "run (the paper code's own cosine, T_max=-1, alternates the meta-learners' rate between 1e-3 and 0 each "
    "epoch: README); batch 1024; 10 epochs. Options given on the command line override the recipe's values"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    task = parser.add_argument_group("image classification")
    task.add_argument("--dataset", choices=sorted(DATASETS), default="digits",
                      help="digits is embedded; the others are read from --data-root")
    task.add_argument("--data-root", default=None,
                      help="directory with the data set's files (MNIST-format IDX files, or cifar-10-batches-py)")
    task.add_argument("--download", action="store_true", help="download the data set into --data-root (torchvision)")
    task.add_argument("--test-fraction", type=fraction, default=0.2,
                      help="share of each class held out when --data-root has only one split")
    task.add_argument("--arch", choices=ARCHITECTURES, default="fc",
                      help="fc: [pixels, hidden..., classes]; conv4: the paper's 4-layer conv network")
    task.add_argument("--hidden", type=int_list, default=[32], help="fc hidden widths, e.g. 32")
    task.add_argument("--channels", type=int_list, default=list(CONV4_CHANNELS), help="conv4 channels")
    add_common(parser, epochs=10, batch_size=64, lr=1e-3, schedule="cosine")
    add_recipe_option(task, RECIPES, RECIPE_HELP)


def cross_entropies(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, flatten: bool) -> torch.Tensor:
    logits = model(x.flatten(1) if flatten else x)
    return F.cross_entropy(logits, y, reduction="none")


def run(args: argparse.Namespace, rank: int = 0, world: int = 1) -> Optional[TaskRun]:
    apply_recipe(args, RECIPES)
    data = load_images(args.dataset, args.data_root, args.test_fraction, args.seed, args.download)
    flatten = args.arch == "fc"
    if flatten:
        spec = model_spec(args, [data.x_train[0].numel(), *args.hidden, data.num_classes])
    else:
        spec = model_spec(args, args.channels, arch="conv4", in_channels=data.x_train.shape[1],
                          num_classes=data.num_classes)
    train = (data.x_train, data.y_train)
    problem = Problem(lambda epoch: shuffled_batches(train, args.batch_size, args.seed, epoch),
                      lambda model, x, y: cross_entropies(model, x, y, flatten))

    @torch.no_grad()
    def evaluate(model, device):
        def accuracy(x, y):
            correct = 0
            for first in range(0, len(x), EVAL_CHUNK):
                xb = x[first : first + EVAL_CHUNK].to(device)
                logits = model(xb.flatten(1) if flatten else xb)
                correct += (logits.argmax(-1).cpu() == y[first : first + EVAL_CHUNK]).sum().item()
            return correct / len(x)

        return {"train_accuracy": accuracy(data.x_train, data.y_train),
                "test_accuracy": accuracy(data.x_test, data.y_test)}

    probe = tuple(t[: args.batch_size or len(t)] for t in train)
    description = f"{data.description}; {len(data.y_train)} train / {len(data.y_test)} test images"
    return train_and_record("image", args, spec, problem, batches_per_epoch(len(data.y_train), args.batch_size),
                            probe, evaluate, description, rank, world)
