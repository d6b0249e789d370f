"""Writing one run's files: rows appended to ``{device}.csv``, the markdown report, the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Optional, Sequence

from .report import Pair, Row, append_csv, markdown

LATEST = "LATEST.md"


def write_outputs(
    rows: Sequence[Row], out_dir, tag: Optional[str] = None, pairs: Optional[Sequence[Pair]] = None,
    plots: bool = True,
) -> Dict[str, List[Path]]:
    """Append ``rows`` to ``{out_dir}/{device}.csv``, write the report to ``{out_dir}/{tag}.md`` and
    ``{out_dir}/LATEST.md``, and the plots to ``{out_dir}/plots/{tag}-{sweep}.png``.

    ``tag`` defaults to ``{device}-{preset}``. Returns the paths written, by kind
    ("csv", "markdown", "plots").
    """
    if not rows:
        raise ValueError("no rows to write")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    first = rows[0]
    tag = tag or f"{first['device']}-{first['preset']}"
    report = markdown(rows, pairs)
    written = {"csv": [append_csv(rows, out / f"{first['device']}.csv")], "markdown": [], "plots": []}
    for name in (f"{tag}.md", LATEST):
        (out / name).write_text(report)
        written["markdown"].append(out / name)
    if plots:
        from .plots import plot_run

        written["plots"] = plot_run(rows, out / "plots", tag)
    return written
