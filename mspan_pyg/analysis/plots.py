"""Plots: training curves of a run and the K sweep of an ablation (matplotlib)."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from typing import Any, Callable, Dict, Optional, Sequence

from mspan_pyg.errors import ConfigError, MSPANError
from mspan_pyg.files import atomic_path
from mspan_pyg.training.engine import read_log


class MissingMatplotlibError(MSPANError, ImportError):
    """Drawing needs matplotlib (part of the default install; ``pip install matplotlib``)."""


def have_matplotlib() -> bool:
    return importlib.util.find_spec("matplotlib") is not None


def pyplot():
    """``matplotlib.pyplot`` with the file-only Agg backend, or a clear error when missing."""
    try:
        import matplotlib
    except ImportError:
        raise MissingMatplotlibError(
            "drawing needs matplotlib, which `pip install mspan-pyg` installs; "
            "install it with `pip install matplotlib`"
        ) from None
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def plot_training_curves(out_dir: str, path: Optional[str] = None) -> str:
    """Loss (train and validation) and the validation metric per epoch, from ``OUT/log.jsonl``.

    Writes ``OUT/training_curves.png`` (or ``path``) and returns its path. The selected (best)
    epoch is marked.
    """
    records = read_log(out_dir)
    plt = pyplot()
    epochs = [r["epoch"] for r in records]
    metric = next((m for m in ("accuracy", "mse") if m in records[-1]["val"]), None)
    fig, (ax_loss, ax_metric) = plt.subplots(1, 2, figsize=(10, 3.8))
    ax_loss.plot(epochs, [r["train"].get("loss", math.nan) for r in records], "o-", label="train")
    ax_loss.plot(
        epochs, [r["val"].get("loss", math.nan) for r in records], "s-", label="validation"
    )
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel("loss")
    ax_loss.set_title("loss")
    ax_loss.legend()
    if metric is not None:
        ax_metric.plot(
            epochs, [r["train"].get(metric, math.nan) for r in records], "o-", label="train"
        )
        ax_metric.plot(
            epochs, [r["val"].get(metric, math.nan) for r in records], "s-", label="validation"
        )
        best = records[-1].get("best_epoch")
        if best is not None:
            ax_metric.axvline(best, color="grey", ls="--", lw=1, label=f"selected epoch {best}")
        ax_metric.set_ylabel(metric)
        ax_metric.set_title(f"{metric} ({'lower' if metric == 'mse' else 'higher'} is better)")
        ax_metric.legend()
    ax_metric.set_xlabel("epoch")
    for ax in (ax_loss, ax_metric):
        ax.grid(alpha=0.3)
    fig.suptitle(os.path.basename(os.path.abspath(out_dir)))
    fig.tight_layout()
    path = path or os.path.join(out_dir, "training_curves.png")
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path


def draw_run_curves(out_dir: str) -> Optional[str]:
    """``OUT/training_curves.png`` after a run; says on stderr why when it cannot. The picture is
    optional: a failure to draw it is a ``warning:`` line, never a failed run."""
    if not have_matplotlib():
        print(
            "note: matplotlib is not installed, so no training_curves.png (pip install matplotlib)",
            file=sys.stderr,
        )
        return None
    return draw_or_warn(plot_training_curves, os.path.join(out_dir, "training_curves.png"), out_dir)


def draw_or_warn(draw: Callable[..., str], path: str, *args) -> Optional[str]:
    """``draw(*args)`` (which writes ``path``); on failure a one-line ``warning:`` naming
    ``path`` and the cause, and ``None``."""
    try:
        return draw(*args)
    except Exception as e:  # noqa: BLE001 - an optional picture never fails what it illustrates
        reason = " ".join(str(e).split()) or type(e).__name__
        print(f"warning: could not draw {path}: {reason}", file=sys.stderr, flush=True)
        return None


def plot_k_sweep(results: Sequence[Dict[str, Any]], path: str) -> str:
    """Test metric (mean ± std over seeds, and each seed) against the number of scales K."""
    rows = sorted(
        (r for r in results if r["group"] == "k_sweep"), key=lambda r: r["overrides"]["num_scales"]
    )
    if not rows:
        raise ConfigError("no K-sweep rows to plot")
    plt = pyplot()
    ks = [r["overrides"]["num_scales"] for r in rows]
    metric = rows[0]["metric"]
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    ax.errorbar(
        ks,
        [r["test_mean"] for r in rows],
        yerr=[r["test_std"] for r in rows],
        fmt="o-",
        capsize=4,
        label="test, mean ± std",
    )
    for k, r in zip(ks, rows):
        ax.scatter([k] * len(r["seeds"]), r["seeds"], color="grey", s=10, alpha=0.6, zorder=0)
    ax.plot(ks, [r["val_mean"] for r in rows], "s--", alpha=0.7, label="validation, mean")
    ax.set_xticks(ks)
    ax.set_xlabel("number of scales K")
    ax.set_ylabel(f"{metric} ({'lower' if metric == 'mse' else 'higher'} is better)")
    ax.set_title(f"K sweep (paper Fig. 4), {len(rows[0]['seeds'])} seed(s)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return path
