"""Running sweeps: every provider on every workload, measured or listed as skipped with the reason."""

from __future__ import annotations

import gc
from typing import Dict, List, Optional, Sequence

import torch

from .case import build_case
from .environment import run_environment
from .peak import CpuMemoryProbe, StepMemory, step_memory_cuda
from .presets import Preset, TimerSettings
from .providers import Provider, all_providers, get_provider
from .timing import Timing, time_call
from .workloads import Sweep, Workload

Row = Dict[str, object]
_REASON_CHARS = 300


def _workload_columns(sweep: Sweep, workload: Workload) -> Row:
    return {
        "sweep": sweep.name,
        "sweep_field": sweep.field or "",
        "sweep_value": workload.value_of(sweep.field) if sweep.field else "",
        "kind": workload.kind,
        "batch": workload.batch,
        "widths": "-".join(map(str, workload.widths)),
        "grid_size": workload.grid_size,
        "spline_order": workload.spline_order,
        "embedding_dim": workload.embedding_dim,
        "hidden_dim": workload.hidden_dim,
    }


def _provider_columns(provider: Provider) -> Row:
    return {
        "provider": provider.name,
        "family": provider.family,
        "backend": provider.backend or "",
        "compiled": provider.compiled,
    }


def _timing_columns(prefix: str, timing: Timing) -> Row:
    return {
        f"{prefix}_ms": round(timing.median_ms, 6),
        f"{prefix}_ms_p20": round(timing.p20_ms, 6),
        f"{prefix}_ms_p80": round(timing.p80_ms, 6),
        f"{prefix}_repeats": "" if timing.repeats is None else timing.repeats,
    }


def first_line(err: BaseException) -> str:
    """An error as one short line for a row's reason column."""
    text = f"{type(err).__name__}: {err}".strip().splitlines()[0]
    return text[:_REASON_CHARS]


class Runner:
    """Measures (provider, workload) cases on one device: parameters, bytes kept for backward,
    forward / backward / forward + backward / training-step times, and the step's peak memory.

    ``memory=False`` skips the peak-memory measurement (on CPU it costs a process per case).
    ``seed`` fixes every model, input and target.
    """

    def __init__(self, device="cpu", dtype: torch.dtype = torch.float32, timer: TimerSettings = TimerSettings(),
                 memory: bool = True, seed: int = 0):
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {device!r} needs a CUDA GPU, and none is visible")
        if self.device.type not in ("cpu", "cuda"):
            raise ValueError(f"device must be 'cpu' or 'cuda', got {device!r}")
        if self.device.type == "cuda" and self.device.index is not None:
            torch.cuda.set_device(self.device)  # do_bench and the CUDA events time the current device
        self.dtype = dtype
        self.timer = timer
        self.seed = seed
        self.memory_note = ""
        self.probe: Optional[CpuMemoryProbe] = None
        if not memory:
            self.memory_note = "not measured (memory off)"
        elif self.device.type == "cpu":
            self.memory_note = CpuMemoryProbe.unsupported() or ""
            if not self.memory_note:
                self.probe = CpuMemoryProbe()

    def _step_memory(self, provider: Provider, workload: Workload, case) -> StepMemory:
        if self.memory_note:
            return StepMemory(None, "", self.memory_note)
        if self.device.type == "cuda":
            return step_memory_cuda(case)
        return self.probe.measure(
            provider.name, workload, str(self.dtype).replace("torch.", ""), self.seed, torch.get_num_threads()
        )

    def measure(self, provider: Provider, workload: Workload) -> Row:
        """The measured columns of one case (raises what the case raises)."""
        case = build_case(provider.name, workload, str(self.device), str(self.dtype).replace("torch.", ""), self.seed)
        case.step()  # compiles (torch.compile: forward and backward) and creates the optimizer state
        row: Row = {"params": case.num_params(), "saved_bytes": case.saved_bytes()}
        row.update(_timing_columns("fwd", time_call(case.forward, self.device, self.timer)))
        backward = time_call(lambda loss: loss.backward(), self.device, self.timer, case.grad_holders(), case.loss)
        row.update(_timing_columns("bwd", backward))
        forward_backward = time_call(lambda: case.loss().backward(), self.device, self.timer, case.grad_holders())
        row.update(_timing_columns("fwdbwd", forward_backward))
        row.update(_timing_columns("step", time_call(case.step, self.device, self.timer)))
        resident = case.resident_bytes()
        memory = self._step_memory(provider, workload, case)
        row.update({
            "resident_bytes": resident,
            "step_extra_bytes": "" if memory.extra is None else memory.extra,
            "peak_mem_bytes": "" if memory.extra is None else resident + memory.extra,
            "memory_method": memory.method,
            "memory_note": memory.note,
            "backend_ran": case.backends_ran(),
        })
        return row

    def close(self) -> None:
        """Stop the CPU memory probe's server, if one was started."""
        if self.probe is not None:
            self.probe.close()

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def measure_or_explain(self, provider: Provider, workload: Workload) -> Row:
        """:meth:`measure`, or a row whose status says why the case was not measured."""
        reason = provider.unsupported(workload, self.device, self.dtype)
        if reason is not None:
            return {"status": "skipped", "reason": reason}
        try:
            return {"status": "ok", "reason": "", **self.measure(provider, workload)}
        except Exception as err:  # one failing case (out of memory, a compile error) must not end the run
            return {"status": "error", "reason": first_line(err)}
        finally:
            gc.collect()
            if self.device.type == "cuda":
                torch.cuda.empty_cache()


def select_providers(names: Optional[Sequence[str]]) -> List[Provider]:
    """The providers called ``names`` (all known ones for None), in table order."""
    if names is None:
        return all_providers()
    chosen = {get_provider(name).name for name in names}
    return [p for p in all_providers() if p.name in chosen]


def progress_bar(jobs: list, unit: str = "case"):
    """A tqdm bar over ``jobs`` on stderr."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("the benchmark progress bar needs tqdm: pip install 'metakan[tasks]'") from None
    return tqdm(jobs, desc="metakan bench", unit=unit)


def run_sweeps(
    sweeps: Sequence[Sweep],
    runner: Runner,
    providers: Optional[Sequence[str]] = None,
    left_out: Optional[Dict[str, str]] = None,
    preset: str = "custom",
    progress: bool = True,
) -> List[Row]:
    """One row per (sweep, workload, provider), in that order: measured, or skipped / failed with
    the reason. ``left_out`` maps provider names to a reason for not running them. A case that
    appears in several sweeps is measured once and reported in each."""
    chosen = select_providers(providers)
    left_out = left_out or {}
    environment = {"preset": preset, **run_environment(runner.device, runner.dtype)}
    jobs = [
        (sweep, workload, provider)
        for sweep in sweeps
        for workload in sweep.workloads()
        for provider in chosen
        if provider.family in sweep.families
    ]
    measured: Dict[tuple, Row] = {}
    rows = []
    for sweep, workload, provider in progress_bar(jobs) if progress else jobs:
        key = (workload, provider.name)
        if key not in measured:
            if provider.name in left_out:
                measured[key] = {"status": "skipped", "reason": left_out[provider.name]}
            else:
                measured[key] = runner.measure_or_explain(provider, workload)
        rows.append({**environment, **_workload_columns(sweep, workload), **_provider_columns(provider),
                     **measured[key]})
    return rows


def run_preset(
    preset: Preset,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    providers: Optional[Sequence[str]] = None,
    sweeps: Optional[Sequence[str]] = None,
    memory: bool = True,
    progress: bool = True,
) -> List[Row]:
    """Run ``preset`` (optionally only the named ``providers`` and ``sweeps``); see :func:`run_sweeps`."""
    chosen = preset.sweeps
    if sweeps is not None:
        unknown = set(sweeps) - set(preset.sweep_names())
        if unknown:
            raise ValueError(f"unknown sweep(s) {sorted(unknown)}; preset {preset.name!r} has {preset.sweep_names()}")
        chosen = tuple(s for s in preset.sweeps if s.name in sweeps)
    left_out = preset.left_out if providers is None else {}
    with Runner(device, dtype, preset.timer, memory) as runner:
        return run_sweeps(chosen, runner, providers, left_out, preset.name, progress)
