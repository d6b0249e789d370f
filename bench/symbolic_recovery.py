"""Formula recovery over Feynman equations: `metakan train symbolic --prune --symbolic` per equation, model
and hidden width, run in parallel; writes each run's JSON and a markdown table (RESULTS.md's).

    python bench/symbolic_recovery.py --out bench/results/recovery [--workers 2] [--seed 0]

A row reports, per model, the run of the listed hidden widths whose formula is exact (or else has the
lowest test RMSE), with its time (training and interpretation): "recovered" when the sympy-simplified difference from the truth is zero or the
formula's test RMSE is at most 1e-6 of the target's standard deviation.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from metakan import interpret
from metakan.tasks.feynman import FEYNMAN
from metakan.tasks.formula import read_formula
from metakan.tasks.symbolic import sample

EQUATIONS = ("I.6.20a", "I.12.1", "I.12.5", "I.14.4", "I.25.13", "I.29.4", "I.39.10", "II.3.24", "I.6.20",
             "I.26.2", "I.14.3", "I.12.4", "I.10.7", "I.47.23", "I.30.5", "I.27.6", "I.16.6", "I.18.4", "I.13.4")
MODELS = ("kan", "metakan")
HIDDEN = ("1", "2")
OPTIONS = ("--reg", "1e-3", "--prune", "--symbolic", "--digits", "8")


def command(metakan: str, equation: str, model: str, hidden: str, seed: int, output: Path) -> list:
    return [metakan, "train", "symbolic", "--equation", equation, "--model", model, "--hidden", hidden, *OPTIONS,
            "--seed", str(seed), "--no-progress", "--output", str(output)]


def recovered(interpretation: dict) -> bool:
    rmse, scale = interpretation.get("formula_test_rmse"), interpretation.get("target_std")
    close = rmse is not None and scale is not None and rmse == rmse and rmse <= 1e-6 * scale
    return bool(interpretation.get("formula_equals_truth")) or close


def _run(job) -> None:
    cmd, output, log = job
    if output.exists():
        return
    env = dict(os.environ, OMP_NUM_THREADS="1")
    with open(log, "w") as f:
        subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, check=False)


def reinterpret(path: Path, digits: int) -> None:
    """Read a run's formula again from its JSON (functions and refitted constants of every edge, at full
    precision) with this version's formula reading, without training again; rewrites the JSON."""
    run = json.loads(path.read_text())
    it = run["interpretation"]
    eq = FEYNMAN[path.name.split("-")[1]]  # MODEL-EQUATION-hH-sS.json
    widths = it.get("pruned_widths") or run["spec"]["widths"]
    data = sample(eq, 1000, 1000, run["settings"]["seed"])
    it.update(read_formula(interpret.symbolic_from_edges(it["edges"], widths), eq, data, digits))
    path.write_text(json.dumps(run, indent=2))


def _best(runs: list) -> dict:
    """The recovered run with the smallest network, else the one whose formula is closest."""
    def key(run):
        it = run["interpretation"]
        rmse = it.get("formula_test_rmse")
        return (not recovered(it), rmse if rmse == rmse and rmse is not None else float("inf"))

    return min(runs, key=key)


def table(out: Path, seed: int) -> str:
    lines = ["| equation | vars | truth | " + " | ".join(f"{m} recovered | {m} pruned | {m} formula | {m} seconds"
                                                        for m in MODELS) + " |",
             "|---|---|---|" + "---|---|---|---|" * len(MODELS)]
    counts = dict.fromkeys(MODELS, 0)
    ran = sum(any((out / f"{m}-{eq}-h{h}-s{seed}.json").exists() for m in MODELS for h in HIDDEN) for eq in EQUATIONS)
    for eq in EQUATIONS:
        cells = []
        for model in MODELS:
            runs = []
            for hidden in HIDDEN:
                path = out / f"{model}-{eq}-h{hidden}-s{seed}.json"
                if path.exists():
                    run = json.loads(path.read_text())
                    run["hidden"] = hidden
                    runs.append(run)
            if not runs:
                cells.append("not run | | |")
                continue
            best = _best(runs)
            it = best["interpretation"]
            ok = recovered(it)
            counts[model] += ok
            seconds = best["train_seconds"] + it["seconds"]
            formula = it.get("formula", "").replace("|", "\\|")
            cells.append(f"{'yes' if ok else 'no'} (hidden {best['hidden']}) | {it.get('pruned_widths')} | "
                         f"`{formula}` | {seconds:.0f}")
        lines.append(f"| {eq} | {FEYNMAN[eq].num_vars} | `{FEYNMAN[eq].expression}` | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Recovered: " + ", ".join(f"{m} {counts[m]}" for m in MODELS) + f" of the {ran} equations run.")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench/results/recovery"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reinterpret", action="store_true",
                        help="read every finished run's formula again from its JSON (no training), then the table")
    args = parser.parse_args(argv)
    if args.reinterpret:
        for path in sorted(args.out.glob(f"*-s{args.seed}.json")):
            reinterpret(path, int(OPTIONS[OPTIONS.index("--digits") + 1]))
        text = table(args.out, args.seed)
        (args.out / "TABLE.md").write_text(text + "\n")
        print(text)
        return 0
    metakan = shutil.which("metakan") or str(Path(sys.executable).with_name("metakan"))
    args.out.mkdir(parents=True, exist_ok=True)
    jobs = [(command(metakan, eq, model, hidden, args.seed, args.out / f"{model}-{eq}-h{hidden}-s{args.seed}.json"),
             args.out / f"{model}-{eq}-h{hidden}-s{args.seed}.json", args.out / f"{model}-{eq}-h{hidden}-s{args.seed}.log")
            for eq in EQUATIONS for model in MODELS for hidden in HIDDEN]
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        list(pool.map(_run, jobs))
    text = table(args.out, args.seed)
    (args.out / "TABLE.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
