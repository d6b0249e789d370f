"""Benchmark rows as a CSV (appended), markdown tables (github format) and ratios between providers."""

from __future__ import annotations

import csv
import math
from collections import OrderedDict
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from .providers import all_providers

Row = Dict[str, object]
Pair = Tuple[str, str]

COLUMNS = (
    "run_id", "timestamp", "preset", "sweep", "sweep_field", "sweep_value", "kind", "provider", "family",
    "backend", "compiled", "status", "reason", "device", "device_name", "dtype", "threads", "load_avg",
    "batch", "widths", "grid_size", "spline_order", "embedding_dim", "hidden_dim", "params",
    "fwd_ms", "fwd_ms_p20", "fwd_ms_p80", "fwd_repeats", "bwd_ms", "bwd_ms_p20", "bwd_ms_p80", "bwd_repeats",
    "fwdbwd_ms", "fwdbwd_ms_p20", "fwdbwd_ms_p80", "fwdbwd_repeats",
    "step_ms", "step_ms_p20", "step_ms_p80", "step_repeats",
    "peak_mem_bytes", "resident_bytes", "step_extra_bytes", "saved_bytes", "memory_method", "memory_note",
    "backend_ran", "torch_version", "triton_version", "python_version", "metakan_version", "git_commit",
)


def append_csv(rows: Sequence[Row], path, first_columns: Sequence[str] = COLUMNS) -> Path:
    """Append ``rows`` to the CSV at ``path`` (created with a header if missing): ``first_columns``
    in order, then any other keys of ``rows``. A file written by a version with other columns is
    rewritten with the union of both, old rows kept."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(first_columns) + sorted({k for row in rows for k in row} - set(first_columns))
    old_rows: List[Row] = []
    if path.exists() and path.stat().st_size > 0:
        with path.open(newline="") as f:
            reader = csv.DictReader(f)
            old_columns = list(reader.fieldnames or [])
            if old_columns != columns:
                old_rows = list(reader)
                columns = old_columns + [c for c in columns if c not in old_columns]
            else:
                columns = old_columns
    rewrite = bool(old_rows) or not path.exists() or path.stat().st_size == 0
    with path.open("w" if rewrite else "a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns, restval="")
        if rewrite:
            writer.writeheader()
            writer.writerows(old_rows)
        writer.writerows(rows)
    return path


def read_csv(path) -> List[Row]:
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def github_table(body: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A markdown table (github format), cells as written."""
    try:
        from tabulate import tabulate
    except ImportError:
        raise ImportError("benchmark tables need tabulate: pip install 'metakan[tasks]'") from None
    return tabulate(body, headers=list(headers), tablefmt="github", disable_numparse=True)


def to_number(value) -> Optional[float]:
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _ms(row: Row, prefix: str) -> str:
    median = to_number(row.get(f"{prefix}_ms"))
    if median is None:
        return ""
    low, high = to_number(row.get(f"{prefix}_ms_p20")), to_number(row.get(f"{prefix}_ms_p80"))
    return f"{_fmt(median)} [{_fmt(low)}, {_fmt(high)}]"


def _fmt(value: Optional[float]) -> str:
    if value is None:
        return "?"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 0.1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def _mib(value) -> str:
    number = to_number(value)
    return "" if number is None else _fmt(number / 2**20)


def group_by(rows: Iterable[Row], key) -> "OrderedDict[object, List[Row]]":
    groups: "OrderedDict[object, List[Row]]" = OrderedDict()
    for row in rows:
        groups.setdefault(key(row), []).append(row)
    return groups


_KIND_TITLES = {"layer": "one layer", "fc": "FC network", "conv": "conv network"}
_FIXED = (("batch", "B"), ("grid_size", "G"), ("spline_order", "k"), ("embedding_dim", "d"), ("hidden_dim", "H"))


def sweep_heading(rows: List[Row]) -> str:
    """E.g. ``batch: one layer, batch swept (I=O=128, G=5, k=3, d=1, H=16)``."""
    first = rows[0]
    field = first["sweep_field"]
    widths = str(first["widths"]).split("-")
    parts = []
    if first["kind"] != "layer":
        parts.append("[" + ", ".join(widths) + "]")
    elif field != "width":
        parts.append(f"I=O={widths[0]}" if widths[0] == widths[1] else f"I={widths[0]} O={widths[1]}")
    parts += [f"{symbol}={first[name]}" for name, symbol in _FIXED if name != field]
    swept = f", {field} swept" if field else ""
    return f"{first['sweep']}: {_KIND_TITLES[first['kind']]}{swept} ({', '.join(parts)})"


MEASURED_HEADERS = (
    "provider", "params", "forward ms", "backward ms", "fwd+bwd ms", "step ms", "peak MiB", "saved MiB",
)
# What a ratio between two providers divides, in the order of its table cells.
RATIO_COLUMNS = ("fwdbwd_ms", "step_ms", "peak_mem_bytes", "saved_bytes")
RATIO_CELL = "fwd+bwd time× / step time× / peak memory× / saved×"


def measured_table(rows: Sequence[Row]) -> str:
    """The measured rows of one sweep as a github table: median [p20, p80] ms and MiB."""
    field = rows[0]["sweep_field"]
    headers = ((field,) if field else ()) + MEASURED_HEADERS
    body = []
    for row in rows:
        if row["status"] != "ok":
            continue
        body.append(((row["sweep_value"],) if field else ()) + (
            row["provider"], row["params"], _ms(row, "fwd"), _ms(row, "bwd"), _ms(row, "fwdbwd"), _ms(row, "step"),
            _mib(row["peak_mem_bytes"]), _mib(row["saved_bytes"]),
        ))
    return github_table(body, headers)


def default_pairs(rows: Sequence[Row]) -> List[Pair]:
    """Ratios worth quoting, among providers measured in ``rows``: each fused backend and each
    compiled reference against its reference, fused backends of one model against each other
    (e.g. metakan-cuda / metakan-triton), MetaKAN against KAN, KAN against the MLP."""
    measured = {row["provider"] for row in rows if row["status"] == "ok"}
    pairs = [("kan-ref", "mlp"), ("metakan-ref", "kan-ref")]
    fused = []
    for provider in all_providers():
        if provider.name not in ("kan-ref", "metakan-ref", "mlp") and provider.backend is not None:
            pairs.append((provider.name, f"{provider.family}-ref"))
        if provider.backend not in (None, "reference"):
            pairs += [(provider.name, other.name) for other in fused if other.family == provider.family]
            fused.append(provider)
    return [(a, b) for a, b in pairs if a in measured and b in measured]


def ratios(rows: Sequence[Row], pairs: Sequence[Pair]) -> List[Row]:
    """For each pair (a, b) and each (sweep, setting) where both were measured in the same run:
    a's forward + backward time, step time, peak memory and bytes kept for backward divided by b's."""
    out = []
    for (run, sweep, value), group in group_by(rows, lambda r: (r["run_id"], r["sweep"], r["sweep_value"])).items():
        ok = {row["provider"]: row for row in group if row["status"] == "ok"}
        for a, b in pairs:
            if a in ok and b in ok:
                entry = {"run_id": run, "sweep": sweep, "sweep_value": value, "pair": f"{a} / {b}"}
                for column in RATIO_COLUMNS:
                    top, bottom = to_number(ok[a].get(column)), to_number(ok[b].get(column))
                    entry[column] = top / bottom if top is not None and bottom else None
                out.append(entry)
    return out


def ratio_table(rows: Sequence[Row], pairs: Sequence[Pair]) -> str:
    """Ratios as a github table: one row per setting, one column per pair, cells as :data:`RATIO_CELL`."""
    entries = ratios(rows, pairs)
    if not entries:
        return ""
    names = list(OrderedDict.fromkeys(e["pair"] for e in entries))
    body = []
    for (sweep, value), group in group_by(entries, lambda e: (e["sweep"], e["sweep_value"])).items():
        cells = {e["pair"]: e for e in group}
        body.append([sweep, value] + [_ratio_cell(cells.get(name)) for name in names])
    return github_table(body, ["sweep", "setting"] + names)


def _ratio_cell(entry: Optional[Row]) -> str:
    if entry is None:
        return ""
    return " / ".join("?" if entry[c] is None else f"{entry[c]:.2f}×" for c in RATIO_COLUMNS)


def not_measured_table(rows: Sequence[Row]) -> str:
    """Skipped and failed providers, once per (provider, status, reason), with the sweeps concerned."""
    groups = group_by((r for r in rows if r["status"] != "ok"), lambda r: (r["provider"], r["status"], r["reason"]))
    body = [
        (provider, status, ", ".join(OrderedDict.fromkeys(r["sweep"] for r in group)), reason)
        for (provider, status, reason), group in groups.items()
    ]
    return github_table(body, ("provider", "status", "sweeps", "reason"))


def _threads(count) -> str:
    return f"{count} thread" + ("" if str(count) == "1" else "s")


def markdown(rows: Sequence[Row], pairs: Optional[Sequence[Pair]] = None) -> str:
    """The report of one run: environment, one table per sweep, ratios, and what was not measured."""
    if not rows:
        return "No benchmark rows.\n"
    first = rows[0]
    method = next((r["memory_method"] for r in rows if r.get("memory_method")), "")
    note = next((r["memory_note"] for r in rows if r.get("memory_note")), "")
    lines = [
        f"# metakan bench: {first['preset']} preset on {first['device']}",
        "",
        f"{first['device_name']}, {_threads(first['threads'])} (load average {first['load_avg'] or '?'}), "
        f"{first['dtype']}; torch {first['torch_version']}, triton {first['triton_version']}, "
        f"Python {first['python_version']}; metakan {first['metakan_version']} at commit {first['git_commit']}; "
        f"run {first['run_id']}.",
        "",
        "Times: median [20th, 80th percentile] in ms of forward (autograd recording), backward, forward + "
        "backward, and a training step (forward + backward + AdamW). Peak: memory of a training step (parameters, "
        f"optimizer state, input and everything the step allocates; {method or note or 'not measured'}). "
        "Saved: bytes a forward keeps for backward beyond input and parameters (saved_tensors_hooks).",
    ]
    for _, group in group_by(rows, lambda r: r["sweep"]).items():
        if any(r["status"] == "ok" for r in group):
            lines += ["", f"## {sweep_heading(group)}", "", measured_table(group)]
    pairs = default_pairs(rows) if pairs is None else pairs
    table = ratio_table(rows, pairs)
    if table:
        lines += ["", f"## Ratios ({RATIO_CELL}), same run", "", table]
    if any(r["status"] != "ok" for r in rows):
        lines += ["", "## Not measured", "", not_measured_table(rows)]
    return "\n".join(lines) + "\n"
