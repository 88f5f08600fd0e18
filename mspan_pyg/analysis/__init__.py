"""Ablations (paper Table 4, Fig. 4), attention pictures and training curves.

Matplotlib comes with the default install; everything here still imports without it, and only
the drawing functions ask for it, with a clear error when it is missing.
"""

from mspan_pyg.analysis.ablation import ABLATION_ROWS, K_SWEEP_ROWS, TABLE4_ROWS, run_ablation
from mspan_pyg.analysis.explain import explain_checkpoint, explain_question, top_clips
from mspan_pyg.analysis.plots import (
    draw_run_curves,
    have_matplotlib,
    plot_k_sweep,
    plot_training_curves,
)

__all__ = [
    "ABLATION_ROWS",
    "TABLE4_ROWS",
    "K_SWEEP_ROWS",
    "run_ablation",
    "explain_question",
    "explain_checkpoint",
    "top_clips",
    "plot_training_curves",
    "draw_run_curves",
    "plot_k_sweep",
    "have_matplotlib",
]
