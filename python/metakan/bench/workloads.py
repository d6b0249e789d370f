"""What a benchmark measures: one layer, a fully connected network or a small conv net, and sweeps of them."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Optional, Tuple

KINDS = ("layer", "fc", "conv")
FAMILIES = ("mlp", "kan", "metakan")
# Settings a sweep may vary; "width" sets in_features = out_features of a layer.
SWEEP_FIELDS = ("batch", "width", "grid_size", "hidden_dim")
# The conv net classifies 1 x 28 x 28 images into this many classes.
CONV_IMAGE = (1, 28, 28)
NUM_CLASSES = 10


@dataclass(frozen=True)
class Workload:
    """One configuration to benchmark.

    kind: "layer" (widths = (in_features, out_features)), "fc" (a network of these widths, e.g.
    (784, 32, 10), trained with cross-entropy) or "conv" (two 3x3 convolutions of widths[1] and
    widths[2] channels, each followed by 2x2 max pooling, on 1 x 28 x 28 images, then a layer
    to 10 classes; widths[0] = 1 input channel).
    The spline settings apply to KAN and MetaKAN models; embedding_dim and hidden_dim to MetaKAN.
    """

    kind: str
    batch: int
    widths: Tuple[int, ...]
    grid_size: int = 5
    spline_order: int = 3
    embedding_dim: int = 1
    hidden_dim: int = 16

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        for name in ("batch", "grid_size", "embedding_dim", "hidden_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        widths = tuple(self.widths)
        if len(widths) < 2 or any(isinstance(w, bool) or not isinstance(w, int) or w < 1 for w in widths):
            raise ValueError(f"widths must be at least two positive integers, got {self.widths!r}")
        if self.kind == "layer" and len(widths) != 2:
            raise ValueError(f"a layer workload has widths (in_features, out_features), got {self.widths!r}")
        if self.kind == "conv" and (len(widths) != 3 or widths[0] != CONV_IMAGE[0]):
            raise ValueError(f"a conv workload has widths (1, channels1, channels2), got {self.widths!r}")
        object.__setattr__(self, "widths", widths)

    def describe(self, families: Tuple[str, ...] = FAMILIES) -> str:
        """A short description of the settings, e.g. ``B=256 I=O=128 G=5 k=3 d=1 H=16``."""
        if self.kind == "layer":
            i, o = self.widths
            parts = [f"B={self.batch}", f"I=O={i}" if i == o else f"I={i} O={o}"]
        elif self.kind == "fc":
            parts = [f"B={self.batch}", "[" + ", ".join(map(str, self.widths)) + "]"]
        else:
            parts = [f"B={self.batch}", "channels " + "-".join(map(str, self.widths)) + f"-{NUM_CLASSES}"]
        if families != ("mlp",):
            parts += [f"G={self.grid_size}", f"k={self.spline_order}"]
        if "metakan" in families:
            parts += [f"d={self.embedding_dim}", f"H={self.hidden_dim}"]
        return " ".join(parts)

    def value_of(self, field: str) -> int:
        """The value of a sweep field (see :data:`SWEEP_FIELDS`)."""
        if field == "width":
            return self.widths[0]
        return getattr(self, field)

    def with_value(self, field: str, value: int) -> "Workload":
        if field not in SWEEP_FIELDS:
            raise ValueError(f"a sweep varies one of {SWEEP_FIELDS}, got {field!r}")
        if field == "width":
            if self.kind != "layer":
                raise ValueError(f"only a layer workload has a width to sweep, not a {self.kind!r} one")
            return replace(self, widths=(value, value))
        return replace(self, **{field: value})


@dataclass(frozen=True)
class Sweep:
    """A named series of workloads: ``base`` with ``field`` set to each of ``values``
    (``field=None``: the base alone), run for the providers of ``families``."""

    name: str
    base: Workload
    field: Optional[str] = None
    values: Tuple[int, ...] = ()
    families: Tuple[str, ...] = FAMILIES

    def __post_init__(self):
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ValueError(f"families must be among {FAMILIES}, got {sorted(unknown)}")
        if self.field is not None and not self.values:
            raise ValueError(f"sweep {self.name!r} varies {self.field!r} but has no values")

    def workloads(self) -> Tuple[Workload, ...]:
        if self.field is None:
            return (self.base,)
        return tuple(self.base.with_value(self.field, v) for v in self.values)
