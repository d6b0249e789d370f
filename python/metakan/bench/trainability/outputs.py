"""The trainability report and heat maps, from every CSV row of this commit, device and settings."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence

from ..report import Row, read_csv
from .matrix import Selection
from .plots import plot_matrix
from .report import markdown
from .summary import cells


def report_rows(rows: Sequence[Row], environment: Row, selection: Selection) -> List[Row]:
    """The rows of ``environment``'s commit, device and dtype, on ``selection``'s tasks at its epochs:
    one matrix, whichever invocations filled it."""
    epochs = {name: str(selection.task(name).epochs) for name in selection.tasks}
    same = ("git_commit", "device", "dtype")
    return [
        row for row in rows
        if all(str(row[c]) == str(environment[c]) for c in same) and epochs.get(row["task"]) == str(row["epochs"])
    ]


def write_outputs(csv_path, out_dir, tag: str, environment: Row, selection: Selection,
                  plots: bool = True) -> Dict[str, List[Path]]:
    """``{out_dir}/{tag}.md`` and, with ``plots``, ``{out_dir}/plots/{tag}-{task}-{optimizer}.png``
    from the rows of ``csv_path`` that :func:`report_rows` keeps. Returns the paths by kind."""
    rows = report_rows(read_csv(csv_path), environment, selection)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    report = out / f"{tag}.md"
    report.write_text(markdown(rows))
    written = {"csv": [Path(csv_path)], "markdown": [report], "plots": []}
    if plots and rows:
        first = rows[0]
        subtitle = (f"{first['device_name']}, torch {first['torch_version']}, commit {first['git_commit']}")
        written["plots"] = plot_matrix(cells(rows), out / "plots", tag, subtitle)
    return written
