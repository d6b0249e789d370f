"""Draw the learned edge functions φ_{o,i}(x) of a model saved by ``metakan train ... --save-model``
as a PNG grid (a block of rows per KAN layer, a row per output, a column per input)."""

from __future__ import annotations

import argparse
import json
import sys

from ..plotting import plot_edges
from ..tasks.checkpoint import load_model
from ..tasks.options import bounded_int, positive_int

HELP = "plot the learned edge functions of a saved model (PNG)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="a file written by 'metakan train <task> --save-model PATH'")
    parser.add_argument("--output", default="edges.png", help="the PNG to write")
    parser.add_argument("--max-inputs", type=positive_int, default=8, help="inputs drawn per layer")
    parser.add_argument("--max-outputs", type=positive_int, default=8, help="outputs drawn per layer")
    parser.add_argument("--points", type=_points, default=101, help="points per curve (at least 2)")
    parser.add_argument("--interpretation", default=None, metavar="RESULTS",
                        help="the JSON of 'metakan train symbolic ... --prune --symbolic --save-model MODEL': pruned "
                             "edges drawn grey, each fitted edge's function, R^2 and symbolic curve (dashed)")


def _points(text: str) -> int:
    return bounded_int(text, 2)


def _interpretation(path):
    if path is None:
        return None
    try:
        results = json.loads(open(path).read())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a results JSON ({type(err).__name__}: {err})") from None
    if not isinstance(results, dict) or not isinstance(results.get("interpretation"), dict):
        raise ValueError(f"{path} has no interpretation section (train with --prune and/or --symbolic)")
    return results["interpretation"]


def run(args: argparse.Namespace) -> int:
    try:
        model, spec, task = load_model(args.model)
        path = plot_edges(model, args.output, args.max_inputs, args.max_outputs, args.points,
                          _interpretation(args.interpretation))
    except (ValueError, OSError) as err:  # OSError: the PNG cannot be written
        print(f"metakan plot: error: {err}", file=sys.stderr)
        return 2
    print(f"{task} {spec.kind} {spec.widths}: edge functions written to {path}")
    return 0
