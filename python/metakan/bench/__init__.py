"""Benchmarks of KAN variants side by side: time, memory and scaling of every provider (the harness
behind ``metakan bench``).

A provider is one implementation (``mlp``, ``kan-ref``, ``metakan-ref``, ``kan-<backend>`` and
``metakan-<backend>`` for each fused backend, ``kan-ref-compile``, ``metakan-ref-compile``); a
workload is a layer, an FC network or a conv network of given sizes; a sweep varies one setting.
Custom measurements::

    from metakan.bench import Runner, Sweep, Workload, run_sweeps, write_outputs
    layer = Workload("layer", batch=1024, widths=(256, 256), hidden_dim=32)
    with Runner("cpu") as runner:
        rows = run_sweeps([Sweep("batch", layer, "batch", (256, 1024, 4096))], runner,
                          providers=["metakan-ref", "metakan-cpu"], preset="training-step")
    write_outputs(rows, "bench/results")      # cpu.csv, cpu-training-step.md, LATEST.md, plots
"""

from .outputs import write_outputs
from .presets import PRESET_NAMES, Preset, TimerSettings, get_preset
from .providers import Provider, all_providers, get_provider
from .report import append_csv, default_pairs, markdown, ratio_table, ratios, read_csv
from .runner import Runner, run_preset, run_sweeps, select_providers
from .timing import Timing, time_call
from .workloads import Sweep, Workload

__all__ = [
    "PRESET_NAMES",
    "Preset",
    "Provider",
    "Runner",
    "Sweep",
    "TimerSettings",
    "Timing",
    "Workload",
    "all_providers",
    "append_csv",
    "default_pairs",
    "get_preset",
    "get_provider",
    "markdown",
    "ratio_table",
    "ratios",
    "read_csv",
    "run_preset",
    "run_sweeps",
    "select_providers",
    "time_call",
    "write_outputs",
]
