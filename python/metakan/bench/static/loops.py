"""The loops of each kernel's source with their trip counts, matched to the loops found in its SASS."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from .sass import Loop


@dataclass(frozen=True)
class SourceLoop:
    """A loop of the source: ``trip`` iterations per run of its parent (an average for a persistent
    grid); ``constant`` when the compiler knows the trip count and may unroll it away."""

    name: str
    trip: float
    constant: bool = False
    children: Tuple["SourceLoop", ...] = ()


@dataclass
class Matched:
    """A SASS loop with the source loop it is, and how often its body runs per program."""

    loop: Loop
    source: SourceLoop
    runs: float
    children: List["Matched"] = field(default_factory=list)


class LoopMismatch(ValueError):
    """The SASS loops do not have the source's loop structure (the compiler restructured them)."""


def _unrolled(loop: SourceLoop) -> List[SourceLoop]:
    """What a fully unrolled constant loop leaves: its child loops, once per iteration."""
    return [child for _ in range(int(loop.trip)) for child in loop.children]


def _match(sources: List[SourceLoop], found: List[Loop], runs: float) -> Optional[List[Matched]]:
    if not sources:
        return [] if not found else None
    first, rest = sources[0], sources[1:]
    if found:
        inner = _match(list(first.children), found[0].children, runs * first.trip)
        if inner is not None:
            tail = _match(rest, found[1:], runs)
            if tail is not None:
                return [Matched(found[0], first, runs * first.trip, inner)] + tail
    if first.constant and float(first.trip).is_integer():
        return _match(_unrolled(first) + rest, found, runs)
    return None


def match(sources: Tuple[SourceLoop, ...], found: List[Loop]) -> List[Matched]:
    """Pair each SASS loop with its source loop, in order and by nesting; a constant-trip source loop
    may be missing (unrolled: its body is then counted inside its parent's). Raises LoopMismatch."""
    matched = _match(list(sources), found, 1.0)
    if matched is None:
        raise LoopMismatch(f"SASS has loops {_shape(found)}, the source {_source_shape(sources)}")
    return matched


def flatten(matched: List[Matched]) -> List[Matched]:
    out = []
    for m in matched:
        out.append(m)
        out.extend(flatten(m.children))
    return out


def _shape(found: List[Loop]) -> str:
    return "[" + ", ".join(f"{l.start:#x}-{l.end:#x}{_shape(l.children) if l.children else ''}" for l in found) + "]"


def _source_shape(sources) -> str:
    return "[" + ", ".join(f"{s.name} x{s.trip:g}{_source_shape(s.children) if s.children else ''}"
                           for s in sources) + "]"
