"""Benchmark MLP, KAN and MetaKAN providers side by side: forward, backward, forward + backward and
training-step time, peak memory, bytes kept for backward and parameters, over sweeps of batch size,
width, grid size and meta hidden width, plus the [784, 32, 10] FC and a small conv model, or on one
named layer configuration (presets step and gpu-check). Prints a markdown table and writes CSV rows,
a markdown report and plots. The trainability preset trains the models instead, over depth x width x
optimizer, and reports whether each learns."""

from __future__ import annotations

import argparse
import os
import sys
import time

import torch

from . import trainability

HELP = "benchmark time and memory of MLP, KAN and MetaKAN providers side by side"

DTYPES = ("float32", "float64", "bfloat16", "float16")


def _names(text: str):
    return [name.strip() for name in text.split(",") if name.strip()]


def _pair(text: str):
    parts = [p.strip() for p in text.split("/")]
    if len(parts) != 2 or not all(parts):
        raise argparse.ArgumentTypeError(f"a ratio is NUMERATOR/BASELINE, e.g. metakan-cpu/metakan-ref; got {text!r}")
    return tuple(parts)


def _threads(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"--threads must be >= 1, got {value}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..bench import PRESET_NAMES

    parser.add_argument("--quick", action="store_true",
                        help="the quick preset (default; under 2 minutes on 2 CPU cores), or with "
                        "--preset trainability its CI-sized subset")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--full", dest="preset", action="store_const", const="full",
                       help="the full preset (more points, torch.compile included)")
    which.add_argument("--preset", choices=PRESET_NAMES + (trainability.PRESET,),
                       help="a preset by name: the sweeps quick, full, smoke; or one layer: step "
                       "(B=8192, I=O=256, H=32), gpu-check (B=65536, I=O=1024, H=32; cuda only); or "
                       "trainability: does each model learn, over depth x width x optimizer (see below)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (default cpu)")
    parser.add_argument("--dtype", default="float32", choices=DTYPES)
    parser.add_argument("--providers", type=_names, help="comma-separated providers (default: all; see --list)")
    parser.add_argument("--sweeps", type=_names, help="comma-separated sweeps of the preset (default: all)")
    parser.add_argument("--ratio", type=_pair, action="append", dest="ratios", metavar="A/B",
                        help="a ratio to report, e.g. metakan-cpu/metakan-ref (repeatable; default: a standard set)")
    parser.add_argument("--threads", type=_threads, help="torch CPU threads (default: torch's choice)")
    parser.add_argument("--out", default="bench/results", help="directory for CSV, markdown and plots")
    parser.add_argument("--tag", help="name of the markdown and plot files (default: DEVICE-PRESET)")
    parser.add_argument("--no-memory", dest="memory", action="store_false",
                        help="skip peak memory (on CPU it costs a fresh process per case)")
    parser.add_argument("--no-plots", dest="plots", action="store_false", help="do not write plots")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    parser.add_argument("--list", action="store_true", help="list the providers and the preset, then exit")
    trainability.add_arguments(parser)
    static = parser.add_argument_group("static model (no GPU needed)")
    static.add_argument("--static", action="store_true",
                        help="instead of timing: compile every kernel configuration at the gpu-check layer for each "
                        "--arch, read its SASS and write the static performance model to --out (static-smXX.md/.csv)")
    static.add_argument("--arch", type=int, action="append", choices=(80, 90),
                        help="compute capability of --static (repeatable; default 90 and 80)")
    static.add_argument("--jobs", type=_threads, default=1, help="compile processes of --static (default 1)")


def _list(preset, device: torch.device) -> None:
    from ..bench import all_providers

    print(f"providers on {device.type}:")
    for provider in all_providers():
        reason = provider.unavailable(device) or preset.left_out.get(provider.name)
        state = "available" if reason is None else f"skipped: {reason}"
        print(f"  {provider.name:20s} {provider.description} ({state})")
    print(f"preset {preset.name!r} on {device.type}: {preset.description}")
    for sweep in preset.sweeps:
        values = f" {sweep.field} in {list(sweep.values)}" if sweep.field else ""
        print(f"  {sweep.name:8s} {sweep.base.describe(sweep.families)}{values} ({', '.join(sweep.families)})")


def _device(text: str) -> torch.device:
    try:
        device = torch.device(text)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be cpu or cuda[:N], got {text!r}")
    return device


def _warn_if_busy(threads: int) -> None:
    # With as many threads as cores, every OpenMP region waits for a thread that another process
    # holds: timings then grow by scheduler ticks (milliseconds) instead of by work.
    if not hasattr(os, "getloadavg"):
        return
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load + threads > cores + 0.5:
        advice = "try --threads 1, or a quieter machine" if threads > 1 else "a quieter machine gives steadier ones"
        print(f"metakan bench: warning: load average {load:.1f} on {cores} cores with {threads} thread"
              f"{'' if threads == 1 else 's'}; "
              f"timings will be noisy ({advice})", file=sys.stderr)


def _static(args: argparse.Namespace) -> int:
    from ..bench.static.layer import Layer
    from ..bench.static.run import model_arch, write

    start = time.perf_counter()
    for arch in args.arch or (90, 80):
        try:
            result = model_arch(arch, Layer.of(), args.jobs)
        except RuntimeError as err:
            print(f"metakan bench: {err}", file=sys.stderr)
            return 2
        paths = write(result, args.out)
        print(f"metakan bench --static: sm_{arch} in {time.perf_counter() - start:.0f} s; wrote "
              + ", ".join(map(str, paths)))
    return 0


def _beside_model(rows, device: torch.device, args: argparse.Namespace) -> None:
    """On a GPU the model's report of its architecture, where there is one in --out, gets the measured times beside it."""
    from ..bench.static.run import beside_measured

    major, minor = torch.cuda.get_device_capability(device)
    joined = beside_measured(rows, args.out, 10 * major + minor, args.tag or f"{device.type}-{args.preset}")
    if joined is not None:
        print(f"metakan bench: measured beside the static model in {joined}")


def _resolve_preset(args: argparse.Namespace) -> None:
    """No preset named: the quick one. --quick alone names it; with --preset trainability it takes
    that preset's quick subset; with any other preset it is an error."""
    if args.preset is None:
        args.preset = "quick"
    elif args.quick and args.preset not in ("quick", trainability.PRESET):
        raise ValueError(f"--quick is the quick preset, or with --preset {trainability.PRESET} its quick subset; "
                         f"it does not go with the {args.preset} preset")


def run(args: argparse.Namespace) -> int:
    from ..bench import get_preset, get_provider, run_preset, write_outputs

    if args.static:
        return _static(args)

    try:
        _resolve_preset(args)
        trainability.check_options(args)
        device = _device(args.device)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"--device {args.device} needs a CUDA GPU, and none is visible")
        if args.preset != trainability.PRESET:
            preset = get_preset(args.preset, device.type)
            for name in (args.providers or []) + [n for pair in args.ratios or [] for n in pair]:
                get_provider(name)
    except (RuntimeError, ValueError) as err:
        print(f"metakan bench: {err}", file=sys.stderr)
        return 2
    if args.preset == trainability.PRESET:
        if args.threads:
            torch.set_num_threads(args.threads)
        return trainability.run(args, device)
    if args.list:
        _list(preset, device)
        return 0
    if args.threads:
        torch.set_num_threads(args.threads)
    if device.type == "cpu":
        _warn_if_busy(torch.get_num_threads())
    start = time.perf_counter()
    try:
        rows = run_preset(preset, device, getattr(torch, args.dtype), args.providers, args.sweeps, args.memory,
                          args.progress)
    except ValueError as err:
        print(f"metakan bench: {err}", file=sys.stderr)
        return 2
    written = write_outputs(rows, args.out, args.tag, args.ratios, args.plots)
    if device.type == "cuda":
        _beside_model(rows, device, args)
    print(written["markdown"][0].read_text())
    seconds = time.perf_counter() - start
    files = [p for paths in written.values() for p in paths]
    print(f"metakan bench: {len(rows)} rows in {seconds:.0f} s; wrote " + ", ".join(map(str, files)))
    return 0
