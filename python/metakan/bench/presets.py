"""Named benchmark presets for CPU and CUDA: sweeps (quick, full, smoke) or single configurations (step,
gpu-check), and how long to time each case."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Tuple

from .workloads import Sweep, Workload

COMPILE_LEFT_OUT = (
    "left out of the {preset} preset: torch.compile takes 10-30 s per shape; "
    "run the full preset or name it with --providers"
)


@dataclass(frozen=True)
class TimerSettings:
    """How long to time one closure.

    CPU (time.perf_counter): ``warmup`` untimed calls, then at least ``min_repeats`` timed calls
    and more until ``min_seconds`` have been spent, at most ``max_repeats``.
    CUDA (triton.testing.do_bench, or CUDA events): ``gpu_warmup_ms`` and ``gpu_rep_ms``.
    """

    warmup: int = 2
    min_repeats: int = 5
    max_repeats: int = 100
    min_seconds: float = 0.5
    gpu_warmup_ms: int = 25
    gpu_rep_ms: int = 100


@dataclass(frozen=True)
class Preset:
    """A named set of sweeps with its timer settings (a sweep without a field is one named
    configuration). ``left_out`` maps provider names to the reason this preset does not run them
    (they are listed as skipped with it)."""

    name: str
    description: str
    sweeps: Tuple[Sweep, ...]
    timer: TimerSettings = TimerSettings()
    left_out: Dict[str, str] = field(default_factory=dict)

    def sweep_names(self) -> Tuple[str, ...]:
        return tuple(s.name for s in self.sweeps)


def _sweeps(base: Workload, batch, width, grid, hidden, fc_batch, conv_batch) -> Tuple[Sweep, ...]:
    return (
        Sweep("batch", base, "batch", tuple(batch)),
        Sweep("width", base, "width", tuple(width)),
        Sweep("grid", base, "grid_size", tuple(grid), families=("kan", "metakan")),
        Sweep("hidden", base, "hidden_dim", tuple(hidden), families=("metakan",)),
        Sweep("fc", Workload("fc", fc_batch[0], (784, 32, 10)), "batch", tuple(fc_batch)),
        Sweep("conv", Workload("conv", conv_batch[0], (1, 8, 16)), "batch", tuple(conv_batch)),
    )


def _compile_left_out(preset: str) -> Dict[str, str]:
    reason = COMPILE_LEFT_OUT.format(preset=preset)
    return {"kan-ref-compile": reason, "metakan-ref-compile": reason}


def _cpu(name: str) -> Preset:
    base = Workload("layer", 256, (128, 128), grid_size=5, spline_order=3, embedding_dim=1, hidden_dim=16)
    if name == "quick":
        return Preset(
            "quick", "a first look in under 2 minutes on 2 CPU cores",
            _sweeps(base, (64, 256, 1024), (32, 128, 256), (3, 5, 10), (16, 64), (256,), (64,)),
            TimerSettings(warmup=1, min_repeats=5, max_repeats=50, min_seconds=0.1),
            _compile_left_out("quick"),
        )
    if name == "full":
        return Preset(
            "full", "every sweep at more points, torch.compile included",
            _sweeps(base, (32, 64, 128, 256, 512, 1024, 2048, 4096), (16, 32, 64, 128, 256, 512),
                    (3, 5, 10, 20, 40), (8, 16, 32, 64, 128), (256, 1024), (64, 256)),
            TimerSettings(warmup=3, min_repeats=7, max_repeats=200, min_seconds=0.5),
        )
    tiny = Workload("layer", 8, (5, 5), grid_size=3, spline_order=3, embedding_dim=1, hidden_dim=4)
    return Preset(
        "smoke", "tiny sizes, one timed call each: checks the pipeline, the numbers mean nothing",
        _sweeps(tiny, (4, 8), (3, 5), (3, 4), (4, 8), (4,), (2,)),
        TimerSettings(warmup=0, min_repeats=1, max_repeats=1, min_seconds=0.0, gpu_warmup_ms=1, gpu_rep_ms=1),
        _compile_left_out("smoke"),
    )


def _cuda(name: str) -> Preset:
    base = Workload("layer", 4096, (256, 256), grid_size=5, spline_order=3, embedding_dim=1, hidden_dim=16)
    if name == "quick":
        return Preset(
            "quick", "a first look in a couple of minutes on one GPU",
            _sweeps(base, (1024, 4096, 16384), (128, 256, 512), (5, 10, 20), (16, 64), (1024,), (256,)),
            TimerSettings(gpu_warmup_ms=10, gpu_rep_ms=50),
            _compile_left_out("quick"),
        )
    if name == "full":
        return Preset(
            "full", "every sweep at more points, torch.compile included",
            _sweeps(base, (256, 1024, 4096, 16384, 65536, 131072), (64, 128, 256, 512, 1024, 2048),
                    (3, 5, 10, 20, 40), (8, 16, 32, 64, 128), (1024, 16384), (256, 1024)),
            TimerSettings(gpu_warmup_ms=25, gpu_rep_ms=100),
        )
    return _cpu("smoke")


# The training step the project's CPU kernels are measured by, and the GPU check's layer (bench/gpu_check.sh).
STEP_LAYER = Workload("layer", 8192, (256, 256), grid_size=5, spline_order=3, embedding_dim=1, hidden_dim=32)
GPU_CHECK_LAYER = Workload("layer", 65536, (1024, 1024), grid_size=5, spline_order=3, embedding_dim=1, hidden_dim=32)


def _step() -> Preset:
    timer = TimerSettings(warmup=2, min_repeats=11, max_repeats=100, min_seconds=1.0)
    return Preset(
        "step", f"one layer, {STEP_LAYER.describe()}: the training step of every provider side by side",
        (Sweep("layer", STEP_LAYER),), timer, _compile_left_out("step"),
    )


def _gpu_check() -> Preset:
    return Preset(
        "gpu-check", f"one layer, {GPU_CHECK_LAYER.describe()}: the fused GPU backends against the reference",
        (Sweep("layer", GPU_CHECK_LAYER),), TimerSettings(gpu_warmup_ms=25, gpu_rep_ms=100),
        _compile_left_out("gpu-check"),
    )


PRESET_NAMES = ("quick", "full", "smoke", "step", "gpu-check")


def get_preset(name: str, device_type: str) -> Preset:
    """The preset ``name`` (one of :data:`PRESET_NAMES`) sized for a ``"cpu"`` or ``"cuda"`` device."""
    if name not in PRESET_NAMES:
        raise ValueError(f"preset must be one of {PRESET_NAMES}, got {name!r}")
    if device_type not in ("cpu", "cuda"):
        raise ValueError(f"device must be 'cpu' or 'cuda', got {device_type!r}")
    if name == "step":
        return _step()
    if name == "gpu-check":
        if device_type != "cuda":
            raise ValueError(f"preset 'gpu-check' ({GPU_CHECK_LAYER.describe()}) runs on cuda only, not on "
                             f"{device_type}; on a CPU use --preset step")
        return _gpu_check()
    return _cpu(name) if device_type == "cpu" else _cuda(name)
