"""Formula recovery over Feynman equations: `metakan train symbolic --prune --symbolic` per equation, model
and hidden width, run in parallel; writes each run's JSON and a markdown table (RESULTS.md's).

    python bench/symbolic_recovery.py --out bench/results/recovery [--workers 2] [--seed 0]

A row reports, per model, the run of its VARIANTS (hidden widths; MetaKAN embeddings of size 4) whose
formula is exact (or else has the lowest test RMSE), with its time (training and interpretation):
"recovered" when the sympy-simplified difference from the truth is zero on the equation's domain or the
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
# Per model, the runs of an equation: name in the file names -> options. A MetaKAN's embeddings have 4
# entries: with 1, every edge's function lies on one curve through function space (the meta-learner's
# image of a line), and a [2, 2, 1] MetaKAN then cannot make both the x and the x² edges of a product
# (I.12.1: test RMSE 7.5e-2 at d = 1, 4.7e-3 at d = 4, seed 0).
VARIANTS = {
    "kan": {"h1": ("--hidden", "1"), "h2": ("--hidden", "2")},
    "metakan": {"h1-d4": ("--hidden", "1", "--embedding-dim", "4"), "h2-d4": ("--hidden", "2", "--embedding-dim", "4")},
}
OPTIONS = ("--reg", "1e-3", "--prune", "--symbolic", "--digits", "8")


def command(metakan: str, equation: str, model: str, variant: str, seed: int, output: Path) -> list:
    return [metakan, "train", "symbolic", "--equation", equation, "--model", model, *VARIANTS[model][variant],
            *OPTIONS, "--seed", str(seed), "--no-progress", "--output", str(output)]


def result_path(out: Path, model: str, equation: str, variant: str, seed: int) -> Path:
    return out / f"{model}-{equation}-{variant}-s{seed}.json"


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
    eq = FEYNMAN[run["data"].split(":")[0]]
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
    ran = sum(any(result_path(out, m, eq, v, seed).exists() for m in MODELS for v in VARIANTS[m]) for eq in EQUATIONS)
    for eq in EQUATIONS:
        cells = []
        for model in MODELS:
            runs = []
            for variant in VARIANTS[model]:
                path = result_path(out, model, eq, variant, seed)
                if path.exists():
                    run = json.loads(path.read_text())
                    run["variant"] = variant
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
            cells.append(f"{'yes' if ok else 'no'} ({best['variant']}) | {it.get('pruned_widths')} | "
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
    jobs = []
    for eq in EQUATIONS:
        for model in MODELS:
            for variant in VARIANTS[model]:
                path = result_path(args.out, model, eq, variant, args.seed)
                jobs.append((command(metakan, eq, model, variant, args.seed, path), path, path.with_suffix(".log")))
    with ThreadPoolExecutor(max(1, args.workers)) as pool:
        list(pool.map(_run, jobs))
    text = table(args.out, args.seed)
    (args.out / "TABLE.md").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
