"""Reading a trained KAN or MetaKAN: edge importances, sparsity regularization, pruning and symbolic formulas."""

from .edges import edge_scores, forward_with_edge_l1, layer_inputs, relative_scores
from .prune import kept_nodes, prune
from .regularization import activation_regularization, regularized_forward
from .symbolic import SymbolicKAN, auto_symbolic, round_constants, symbolic_formula, symbolic_from_edges, tidy

__all__ = [
    "SymbolicKAN",
    "auto_symbolic",
    "round_constants",
    "symbolic_formula",
    "symbolic_from_edges",
    "tidy",
    "activation_regularization",
    "edge_scores",
    "forward_with_edge_l1",
    "kept_nodes",
    "layer_inputs",
    "prune",
    "regularized_forward",
    "relative_scores",
]
