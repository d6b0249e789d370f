"""Timing a closure: median and 20th/80th percentiles in ms, by perf_counter on CPU and CUDA events on GPU."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import torch

from .presets import TimerSettings

QUANTILES = (0.5, 0.2, 0.8)


@dataclass(frozen=True)
class Timing:
    """Milliseconds per call: median and 20th / 80th percentiles over ``repeats`` timed calls
    (``repeats`` is None where triton.testing.do_bench chose the count)."""

    median_ms: float
    p20_ms: float
    p80_ms: float
    repeats: Optional[int]


def summarize(seconds: Sequence[float]) -> Timing:
    """The :class:`Timing` of per-call durations in seconds."""
    if not seconds:
        raise ValueError("summarize needs at least one duration")
    ms = torch.tensor(seconds, dtype=torch.float64) * 1e3
    median, p20, p80 = ms.quantile(torch.tensor(QUANTILES, dtype=torch.float64)).tolist()
    return Timing(median, p20, p80, len(seconds))


def _clear_grads(tensors: Sequence[torch.Tensor]) -> None:
    for t in tensors:
        t.grad = None


def _prepare(setup: Optional[Callable[[], object]], grad_to_none: Sequence[torch.Tensor]) -> tuple:
    """The untimed part of one call: clear gradients, run ``setup`` for ``fn``'s argument."""
    _clear_grads(grad_to_none)
    return () if setup is None else (setup(),)


def time_cpu(
    fn: Callable[..., object], settings: TimerSettings, grad_to_none: Sequence[torch.Tensor] = (),
    setup: Optional[Callable[[], object]] = None,
) -> Timing:
    """Time ``fn`` with ``time.perf_counter``. Before each call, untimed, the ``.grad`` of
    ``grad_to_none`` is cleared and ``setup()`` (if given) makes ``fn``'s one argument: e.g. a
    fresh loss, so that a timed backward frees its graph as in training."""
    for _ in range(settings.warmup):
        fn(*_prepare(setup, grad_to_none))
    seconds, spent = [], 0.0
    while len(seconds) < settings.max_repeats and (
        len(seconds) < settings.min_repeats or spent < settings.min_seconds
    ):
        args = _prepare(setup, grad_to_none)
        start = time.perf_counter()
        fn(*args)
        seconds.append(time.perf_counter() - start)
        spent += seconds[-1]
    return summarize(seconds)


def time_cuda(
    fn: Callable[..., object], settings: TimerSettings, grad_to_none: Sequence[torch.Tensor] = (),
    setup: Optional[Callable[[], object]] = None,
) -> Timing:
    """Time ``fn`` on the current CUDA device, arguments as :func:`time_cpu`'s: with
    ``triton.testing.do_bench`` (L2 flushed between calls) when there is no ``setup`` and Triton is
    installed, else with CUDA events recorded around ``fn`` alone (``setup``'s kernels run before
    the start event in stream order, so they are not counted)."""
    try:
        from triton.testing import do_bench
    except ImportError:
        do_bench = None
    if do_bench is not None and setup is None:
        median, p20, p80 = do_bench(
            fn, warmup=settings.gpu_warmup_ms, rep=settings.gpu_rep_ms, grad_to_none=list(grad_to_none) or None,
            quantiles=list(QUANTILES),
        )
        return Timing(median, p20, p80, None)
    for _ in range(max(settings.warmup, 1)):
        fn(*_prepare(setup, grad_to_none))
    torch.cuda.synchronize()
    pairs = []
    deadline = time.perf_counter() + settings.gpu_rep_ms / 1e3
    while len(pairs) < settings.max_repeats and (len(pairs) < settings.min_repeats or time.perf_counter() < deadline):
        args = _prepare(setup, grad_to_none)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn(*args)
        end.record()
        pairs.append((start, end))
    torch.cuda.synchronize()
    return summarize([start.elapsed_time(end) / 1e3 for start, end in pairs])


def time_call(
    fn: Callable[..., object], device: torch.device, settings: TimerSettings,
    grad_to_none: Sequence[torch.Tensor] = (), setup: Optional[Callable[[], object]] = None,
) -> Timing:
    """:func:`time_cuda` for a CUDA device, else :func:`time_cpu`."""
    if device.type == "cuda":
        return time_cuda(fn, settings, grad_to_none, setup)
    return time_cpu(fn, settings, grad_to_none, setup)
