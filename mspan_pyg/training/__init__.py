"""Training: the run configuration, one run end to end, the multi-run suite and the engine."""

from mspan_pyg.training.config import PAPER, PRESETS, SYNTHETIC, RunConfig
from mspan_pyg.training.runner import LoadedRun, evaluate_checkpoint, load_run, train
from mspan_pyg.training.suite import format_table, train_all_tasks

__all__ = [
    "RunConfig",
    "PAPER",
    "SYNTHETIC",
    "PRESETS",
    "train",
    "load_run",
    "LoadedRun",
    "evaluate_checkpoint",
    "train_all_tasks",
    "format_table",
]
