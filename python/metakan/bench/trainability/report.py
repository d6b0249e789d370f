"""The trainability report: per task and optimizer a table of mean ± std per depth × width and model,
the check of MetaKAN's default init against KAN, runs at chance, and the time spent."""

from __future__ import annotations

from collections import OrderedDict
from typing import Dict, List, Sequence

from ..report import Row, github_table, group_by, to_number
from .matrix import EQUATION, TASKS
from .runner import run_key
from .summary import ACCURACY_POINTS, CHECKED, REFERENCE, RMSE_FACTOR, Cell, cells, format_metric, matches, \
    model_order, verdict

OPTIMIZER_TITLES = {
    "adam": "Adam(model.parameters(), lr=1e-3)",
    "param-groups": "Adam(metakan.param_groups(model)), param_groups' defaults",
}
METRIC_NAMES = {"classification": "test accuracy", "regression": "test RMSE"}
METRIC_TITLES = {"classification": "test accuracy, %", "regression": "test RMSE"}


def _environment(rows: Sequence[Row]) -> str:
    first = rows[0]
    threads = ", ".join(sorted({str(r["threads"]) for r in rows}))
    loads = [to_number(r["load_avg"]) for r in rows if to_number(r["load_avg"]) is not None]
    load = f"load average {min(loads):.1f}-{max(loads):.1f}" if loads else "load average ?"
    runs = len({r["run_id"] for r in rows})
    return (f"{first['device_name']}, {threads} thread(s) ({load}), {first['dtype']}; torch {first['torch_version']}, "
            f"triton {first['triton_version']}, Python {first['python_version']}; metakan {first['metakan_version']} "
            f"at commit {first['git_commit']}; {len(rows)} rows from {runs} invocation(s).")


def _setup(rows: Sequence[Row]) -> List[str]:
    lines = []
    for name, group in group_by(rows, lambda r: r["task"]).items():
        task = TASKS[name]
        seeds, depths, widths = ({int(r[c]) for r in group} for c in ("seed", "depth", "width"))
        listed = lambda values: ", ".join(map(str, sorted(values)))  # noqa: E731
        lines.append(f"- **{name}**: {task.description}; {group[0]['epochs']} epochs of Adam, batch "
                     f"{group[0]['batch_size']}, constant rate; {METRIC_NAMES[task.kind]} after the last epoch; "
                     f"depths {listed(depths)}, widths {listed(widths)}; seeds {listed(seeds)} (a seed fixes the "
                     "split or sample, the init and the batch order).")
    return lines


def task_table(table_cells: Dict[tuple, Cell], models: Sequence[str]) -> str:
    """One task × optimizer: rows depth × width, a column per model, and MetaKAN default vs KAN."""
    rows = OrderedDict()
    for (_, _, depth, width, model), cell in sorted(table_cells.items(), key=lambda kv: kv[0][2:4]):
        rows.setdefault((depth, width), {})[model] = cell
    check = CHECKED in models and REFERENCE in models
    body = []
    for (depth, width), by_model in rows.items():
        line = [f"{depth} × {width}"] + [format_metric(by_model[m]) if m in by_model else "" for m in models]
        if check:
            both = CHECKED in by_model and REFERENCE in by_model
            line.append(verdict(by_model[CHECKED], by_model[REFERENCE]) if both else "")
        body.append(line)
    headers = ["depth × width"] + list(models) + ([f"{CHECKED} vs {REFERENCE}"] if check else [])
    return github_table(body, headers)


def check_lines(all_cells: Dict[tuple, Cell]) -> List[str]:
    """Every MetaKAN-default cell that does not match KAN's, then every cell with a run at chance."""
    lines = []
    for (task, optimizer, depth, width, model), cell in all_cells.items():
        reference = all_cells.get((task, optimizer, depth, width, REFERENCE))
        if model == CHECKED and reference is not None and not matches(cell, reference):
            lines.append(f"- {task}, {optimizer}, depth {depth} × width {width}: {CHECKED} "
                         f"{format_metric(cell)}, {REFERENCE} {format_metric(reference)} "
                         f"({verdict(cell, reference)})")
    for (task, optimizer, depth, width, model), cell in all_cells.items():
        if cell.at_chance:
            lines.append(f"- at chance: {task}, {optimizer}, depth {depth} × width {width}, {model}: "
                         f"{format_metric(cell)}")
    return lines


def _shared_runs(rows: Sequence[Row]) -> List[str]:
    shared = group_by((r for r in rows if r.get("same_computation_as")), lambda r: (r["optimizer"],
                                                                                   r["same_computation_as"]))
    lines = []
    for (optimizer, same), group in shared.items():
        models = model_order({r["model"] for r in group})
        lines.append(f"- `{optimizer}` is the same computation as `{same}` for {', '.join(models)} "
                     f"(every parameter in a group with the same hyperparameters): each such run was trained once "
                     f"and is reported under both.")
    return lines


def _time_table(rows: Sequence[Row]) -> str:
    trained = [r for r in rows if r["status"] == "ok" and not r.get("same_computation_as")]
    body = []
    for (task, model), group in group_by(trained, lambda r: (r["task"], r["model"])).items():
        seconds = [to_number(r["seconds"]) or 0.0 for r in group]
        body.append([task, model, len(group), f"{sum(seconds):.1f}", f"{max(seconds):.1f}"])
    total = sum(to_number(r["seconds"]) or 0.0 for r in trained)
    body.append(["all", "", len(trained), f"{total:.1f}", ""])
    return github_table(body, ["task", "model", "runs trained", "seconds", "longest run, s"])


def markdown(rows: Sequence[Row]) -> str:
    """The report of ``rows`` (one commit, device and dtype; any number of invocations)."""
    if not rows:
        return "No trainability rows.\n"
    lines = [
        "# metakan bench: trainability preset",
        "",
        _environment(rows),
        "",
        "Does each model learn, over depth × width × optimizer? MLP (nn.Linear + SiLU), KAN (metakan.KAN) and "
        "MetaKAN (metakan.MetaKAN, one meta-learner per layer) with `init=\"default\"` and `init=\"paper\"`; "
        f"G=5, k=3, MetaKAN d=1, H=16. `depth × width`: hidden layers × their width. Regression: Feynman "
        f"{EQUATION}.",
        "",
        *_setup(rows),
    ]
    all_cells = cells(rows)
    models = model_order({key[4] for key in all_cells})
    for (task, optimizer), _ in group_by(all_cells, lambda key: key[:2]).items():
        table_cells = {key: cell for key, cell in all_cells.items() if key[:2] == (task, optimizer)}
        lines += ["", f"## {task}, {OPTIMIZER_TITLES[optimizer]}: {METRIC_TITLES[TASKS[task].kind]}, mean ± std", "",
                  task_table(table_cells, models)]
    lines += ["", "## Check", "",
              f"MetaKAN with the default init should match KAN: within {ACCURACY_POINTS:g} accuracy points of "
              f"its mean (digits), within a factor {RMSE_FACTOR:g} of its mean RMSE (regression). Cells that do "
              "not, and every cell with a run at chance (digits: accuracy at most 15%; regression: RMSE above 0.9 "
              "of predicting the training mean):", ""]
    lines += check_lines(all_cells) or ["- none"]
    shared = _shared_runs(rows)
    if shared:
        lines += ["", "## Optimizers", "", *shared]
    finished = {run_key(r) for r in rows if r["status"] == "ok"}
    failed = [r for r in rows if r["status"] != "ok" and run_key(r) not in finished]
    if failed:
        lines += ["", "## Failed runs (not finished since)", "", github_table(
            [[r["task"], r["model"], f"{r['depth']} × {r['width']}", r["optimizer"], r["seed"], r["reason"]]
             for r in failed], ["task", "model", "depth × width", "optimizer", "seed", "reason"])]
    lines += ["", "## Time", "", "Seconds of training and evaluation per run, summed (runs reported under a second "
              "optimizer counted once).", "", _time_table(rows)]
    return "\n".join(lines) + "\n"
