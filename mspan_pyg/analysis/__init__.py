"""Ablations (paper Table 4, Fig. 4), attention pictures and training curves.

Matplotlib is optional (the ``viz`` extra): everything here imports without it, and only the
drawing functions ask for it, with a clear error when it is missing.
"""

from mspan_pyg.analysis.ablation import ABLATION_ROWS, K_SWEEP_ROWS, TABLE4_ROWS, run_ablation
from mspan_pyg.analysis.explain import explain_question
from mspan_pyg.analysis.plots import have_matplotlib, plot_k_sweep, plot_training_curves

__all__ = [
    "ABLATION_ROWS",
    "TABLE4_ROWS",
    "K_SWEEP_ROWS",
    "run_ablation",
    "explain_question",
    "plot_training_curves",
    "plot_k_sweep",
    "have_matplotlib",
]
