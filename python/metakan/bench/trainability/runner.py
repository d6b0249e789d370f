"""Running a trainability selection: each run appended to the CSV as it ends, runs already there skipped."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import torch

from ..environment import run_environment
from ..report import Row, append_csv, read_csv
from ..runner import first_line, progress_bar
from .matrix import Config, Selection
from .models import build_model, same_computation
from .problems import Data, load
from .train import config_columns, train

PRESET = "trainability"
COLUMNS = (
    "run_id", "timestamp", "preset", "task", "model", "init", "depth", "width", "widths", "optimizer",
    "same_computation_as", "seed", "epochs", "batch_size", "grid_size", "spline_order", "embedding_dim",
    "hidden_dim", "params", "status", "reason", "metric_name", "metric", "final_train_loss", "chance_level",
    "at_chance", "seconds", "backend_ran", "device", "device_name", "dtype", "threads", "load_avg",
    "torch_version", "triton_version", "python_version", "metakan_version", "git_commit",
)
# What makes two rows the same run: a finished one is not run again.
KEY = ("task", "model", "depth", "width", "optimizer", "seed", "epochs", "batch_size", "grid_size", "spline_order",
       "embedding_dim", "hidden_dim", "device", "dtype", "git_commit")
# Columns a run reported under another optimizer shares with the run that computed it.
_MEASURED = ("widths", "params", "metric_name", "metric", "final_train_loss", "chance_level", "at_chance", "seconds",
             "backend_ran")


def run_key(row: Row) -> Tuple[str, ...]:
    return tuple(str(row.get(column, "")) for column in KEY)


def finished_runs(csv_path: Path) -> Dict[Tuple[str, ...], Row]:
    """The runs of ``csv_path`` that ended well, by :func:`run_key`."""
    if not csv_path.exists() or csv_path.stat().st_size == 0:
        return {}
    return {run_key(row): row for row in read_csv(csv_path) if row.get("status") == "ok"}


class _Matrix:
    """The state of one invocation: the CSV, the runs it holds, the data sets loaded so far."""

    def __init__(self, csv_path: Path, device: torch.device, dtype: torch.dtype, environment: Row):
        self.csv_path = csv_path
        self.device = device
        self.dtype = dtype
        self.environment = environment
        self.done = finished_runs(csv_path)
        self.data: Dict[Tuple[str, int], Data] = {}
        self.new_rows: List[Row] = []
        self.skipped = 0

    def data_of(self, config: Config) -> Data:
        key = (config.task.name, config.seed)
        if key not in self.data:
            self.data[key] = load(config.task, config.seed).to(self.device, self.dtype)
        return self.data[key]

    def columns(self, config: Config) -> Row:
        return {**self.environment, **config_columns(config)}

    def write(self, row: Row) -> None:
        append_csv([row], self.csv_path, COLUMNS)
        self.new_rows.append(row)
        if row["status"] == "ok":
            self.done[run_key(row)] = row

    def run(self, config: Config) -> Optional[Row]:
        """The row of ``config``, trained unless the CSV has it (then None)."""
        columns = self.columns(config)
        if run_key(columns) in self.done:
            self.skipped += 1
            return None
        if config.optimizer != "adam":
            data = self.data_of(config)
            torch.manual_seed(config.seed)
            model = build_model(config, data.in_features, data.out_features)
            if same_computation(model, "adam", config.optimizer):
                # one run, reported under both optimizers
                adam_config = dataclasses.replace(config, optimizer="adam")
                adam = self.done.get(run_key(self.columns(adam_config))) or self.run(adam_config)
                if adam["status"] != "ok":
                    return self._record(config, {"status": "error", "reason": adam["reason"]})
                shared = {column: adam[column] for column in _MEASURED}
                return self._record(config, {"status": "ok", "reason": "", "same_computation_as": "adam", **shared})
        try:
            measured = train(config, self.data_of(config), self.device)
        except Exception as err:  # one failing run (out of memory, a kernel error) must not end the matrix
            return self._record(config, {"status": "error", "reason": first_line(err)})
        return self._record(config, {"status": "ok", "reason": "", "same_computation_as": "", **measured})

    def _record(self, config: Config, measured: Row) -> Row:
        row = {**self.columns(config), **measured}
        self.write(row)
        return row


@dataclass
class MatrixRun:
    """What one invocation did: the rows it wrote, how many runs the CSV already had, and the
    columns its rows share (commit, device, versions)."""

    rows: List[Row]
    skipped: int
    environment: Row


def run_matrix(
    selection: Selection,
    csv_path,
    device="cpu",
    dtype: torch.dtype = torch.float32,
    progress: bool = True,
) -> MatrixRun:
    """Train every run of ``selection`` that ``csv_path`` does not already hold for this commit,
    device and dtype, appending each row as its run ends (an interrupted matrix resumes where it
    stopped)."""
    device = torch.device(device)
    environment = {"preset": PRESET, **run_environment(device, dtype)}
    matrix = _Matrix(Path(csv_path), device, dtype, environment)
    configs = list(selection.configs())
    for config in progress_bar(configs, unit="run") if progress else configs:
        matrix.run(config)
    return MatrixRun(matrix.new_rows, matrix.skipped, environment)
