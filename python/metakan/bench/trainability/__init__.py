"""Trainability benchmark: does each model learn, over depth × width × optimizer (``metakan bench
--preset trainability``)?

MLP, KAN and MetaKAN (default and paper init) train side by side on digits classification and a
Feynman regression; every run is a CSV row, appended as it ends, so a matrix can be split or resumed::

    from metakan.bench.trainability import QUICK, run_matrix, write_outputs
    done = run_matrix(QUICK, "bench/results/trainability-quick.csv")
    write_outputs("bench/results/trainability-quick.csv", "bench/results", "trainability-quick",
                  done.environment, QUICK)
"""

from .matrix import DEPTHS, MODELS, OPTIMIZERS, QUICK, SEEDS, TASKS, WIDTHS, Config, Selection, Task
from .outputs import report_rows, write_outputs
from .report import markdown
from .runner import COLUMNS, MatrixRun, finished_runs, run_matrix

__all__ = [
    "COLUMNS", "DEPTHS", "MODELS", "OPTIMIZERS", "QUICK", "SEEDS", "TASKS", "WIDTHS", "Config", "MatrixRun",
    "Selection", "Task", "finished_runs", "markdown", "report_rows", "run_matrix", "write_outputs",
]
