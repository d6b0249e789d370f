"""Plots of one benchmark run from its CSV: step time, peak memory and bytes kept for backward
against each swept setting, one line per provider, log axes.

    python -m metakan.bench.plots bench/results/cpu.csv [--run RUN_ID] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional, Sequence

from .providers import all_providers
from .report import Row, group_by, to_number, sweep_heading, read_csv

PANELS = (
    ("step_ms", "training step, ms (median, 20-80%)"),
    ("peak_mem_bytes", "peak memory of a step, MiB"),
    ("saved_bytes", "kept for backward, MiB"),
)
_AXIS_NAMES = {"batch": "batch size B", "width": "width I = O", "grid_size": "grid size G",
               "hidden_dim": "meta hidden width H"}


def select_run(rows: Sequence[Row], run_id: Optional[str] = None) -> List[Row]:
    """The rows of run ``run_id`` (default: the latest run in ``rows``)."""
    runs = sorted({str(r["run_id"]) for r in rows})
    if not runs:
        raise ValueError("no benchmark rows to plot")
    chosen = runs[-1] if run_id is None else run_id
    if chosen not in runs:
        raise ValueError(f"run {chosen!r} is not in the CSV; its runs are {', '.join(runs)}")
    return [r for r in rows if str(r["run_id"]) == chosen]


def _series(rows: Sequence[Row], column: str):
    points = []
    for row in rows:
        x, y = to_number(row["sweep_value"]), to_number(row.get(column))
        if row["status"] == "ok" and x is not None and y is not None and y > 0:
            if column == "step_ms":
                low, high = to_number(row.get("step_ms_p20")), to_number(row.get("step_ms_p80"))
                points.append((x, y, y - (low if low is not None else y), (high if high is not None else y) - y))
            else:
                points.append((x, y / 2**20, 0.0, 0.0))
    return sorted(points)


_FAMILY_STYLES = {"mlp": ("o", ":"), "kan": ("s", "-"), "metakan": ("^", "--")}


def _style(provider) -> dict:
    """Colour by implementation (backend, compiled or not), marker and line by model family."""
    if provider is None:
        return dict(color="gray", marker="x", linestyle="-.")
    implementations = ["mlp", "reference", "reference-compile"] + [
        p.backend for p in all_providers() if p.backend not in (None, "reference")
    ]
    implementation = provider.backend or "mlp"
    if provider.compiled:
        implementation += "-compile"
    index = list(dict.fromkeys(implementations)).index(implementation)
    marker, line = _FAMILY_STYLES[provider.family]
    return dict(color=f"C{index % 10}", marker=marker, linestyle=line)


def plot_sweep(rows: Sequence[Row], path) -> Optional[Path]:
    """One figure for the rows of one sweep of one run; None when fewer than two settings were measured."""
    try:
        from matplotlib.figure import Figure
        from matplotlib.ticker import FuncFormatter, NullFormatter
    except ImportError:
        raise ImportError("benchmark plots need matplotlib: pip install 'metakan[tasks]'") from None

    values = {r["sweep_value"] for r in rows if r["status"] == "ok"}
    if not rows[0]["sweep_field"] or len(values) < 2:
        return None
    known = {p.name: p for p in all_providers()}
    figure = Figure(figsize=(15, 4.6), layout="constrained")
    axes = figure.subplots(1, len(PANELS))
    providers = group_by(rows, lambda r: r["provider"])
    ticks = sorted({to_number(r["sweep_value"]) for r in rows if r["status"] == "ok"})
    for (column, title), ax in zip(PANELS, axes):
        for name, group in providers.items():
            points = _series(group, column)
            if not points:
                continue
            xs, ys, below, above = zip(*points)
            ax.errorbar(xs, ys, yerr=(below, above), label=name, capsize=3, **_style(known.get(name)))
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.set_yscale("log")
        plain = FuncFormatter(lambda value, _: f"{value:g}")
        low, high = ax.get_ylim()
        ax.yaxis.set_major_formatter(plain)
        # label the minor ticks only where the axis spans less than a decade (else they crowd)
        ax.yaxis.set_minor_formatter(plain if high < 10 * low else NullFormatter())
        ax.set_title(title)
        ax.set_xlabel(_AXIS_NAMES.get(str(rows[0]["sweep_field"]), str(rows[0]["sweep_field"])))
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    first = rows[0]
    figure.suptitle(
        f"{sweep_heading(list(rows))}\n{first['device_name']}, {first['threads']} threads, {first['dtype']}, "
        f"torch {first['torch_version']}, commit {first['git_commit']}", fontsize="medium",
    )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    return path


def plot_run(rows: Sequence[Row], out_dir, tag: Optional[str] = None) -> List[Path]:
    """A PNG per sweep of one run's rows, ``{out_dir}/{tag}-{sweep}.png``; tag defaults to
    ``{device}-{preset}``. Returns the paths written."""
    if not rows:
        return []
    tag = tag or f"{rows[0]['device']}-{rows[0]['preset']}"
    written = []
    for sweep, group in group_by(rows, lambda r: r["sweep"]).items():
        path = plot_sweep(group, Path(out_dir) / f"{tag}-{sweep}.png")
        if path is not None:
            written.append(path)
    return written


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m metakan.bench.plots", description=__doc__.splitlines()[0])
    parser.add_argument("csv", help="a CSV written by metakan bench, e.g. bench/results/cpu.csv")
    parser.add_argument("--run", help="run_id to plot (default: the latest run in the CSV)")
    parser.add_argument("--out", help="directory for the PNGs (default: plots/ next to the CSV)")
    parser.add_argument("--tag", help="file name prefix (default: {device}-{preset})")
    args = parser.parse_args(argv)
    rows = select_run(read_csv(args.csv), args.run)
    out = args.out or Path(args.csv).parent / "plots"
    for path in plot_run(rows, out, args.tag):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
