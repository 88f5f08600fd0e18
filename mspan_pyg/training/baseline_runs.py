"""A dataset's run next to its question-only baseline, summarised like ``--task all`` of TGIF-QA.

``mspan-pyg train --dataset nextqa --task all`` (the default without ``--data-dir``) trains
MSPAN and the question-only baseline on the same data and prints the TGIF-QA table (task,
metric, MSPAN, question-only) followed by one row per question type and type group, and writes
``OUT/summary.json`` in the same layout as TGIF-QA's (plus ``by_type``).
"""

from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) and not math.isnan(v) else str(v)


def summary_lines(table: Dict[str, Dict[str, Any]]) -> List[str]:
    """The ``--task all`` table: one row per task, then its types (indented)."""
    lines = [f"{'task':<12}{'metric':<10}{'MSPAN':>10}{'question-only':>16}"]
    for task, e in table.items():
        lines.append(
            f"{task:<12}{e['metric']:<10}{_fmt(e['mspan']):>10}{_fmt(e['question_only']):>16}"
        )
        for name, (mspan, blind) in e.get("by_type", {}).items():
            lines.append(f"  {name:<10}{e['metric']:<10}{_fmt(mspan):>10}{_fmt(blind):>16}")
    return lines


def _by_type(mspan: Dict[str, Any], blind: Dict[str, Any], name: str) -> Dict[str, list]:
    out: Dict[str, list] = {}
    for key in (f"{name}_by_type", f"{name}_by_group"):
        a, b = mspan.get(key, {}), blind.get(key, {})
        for t in a:
            out[t] = [a[t], b.get(t, float("nan"))]
    return out


def run_with_baseline(args: Dict[str, Any], jobs: Optional[int] = None) -> Dict[str, Any]:
    """Train ``args`` and its question-only baseline (``jobs`` at a time); print the table."""
    from mspan_pyg.training import config as C
    from mspan_pyg.training.runner import (
        info,
        resolve_args,
        run_in_workers,
        synthetic_data,
        train,
        write_json,
    )

    base = dict(args, task=None if args["task"] == "all" else args["task"])
    task = C.check_task(base["dataset"], base["task"], base["data_dir"])
    root = os.path.abspath(args["out"] or os.path.join("runs", f"{args['dataset']}_all"))
    jobs = max(1, jobs or 1)
    subs = []
    for blind in (False, True):
        sub = dict(
            base,
            task=task,
            question_only=blind,
            out=os.path.join(root, task + ("_question_only" if blind else "")),
        )
        if not args["data_dir"]:  # one synthetic data set for both runs
            sub["synthetic_dir"] = os.path.join(root, "data")
        if jobs > 1:
            sub["progress"] = False
        subs.append(sub)
    if not args["data_dir"]:
        synthetic_data(resolve_args(dict(subs[0])))  # made once, before the runs reuse it
    if jobs == 1:
        results = []
        for sub in subs:
            info(
                f"=== {args['dataset']}/{task}{' (question only)' if sub['question_only'] else ''}"
            )
            results.append(train(sub))
    else:
        import torch

        threads = max(1, torch.get_num_threads() // jobs)
        results = run_in_workers(train, subs, jobs, threads)
    mspan, blind = results
    name = mspan["metric"]
    table = {
        task: {
            "metric": name,
            "mspan": mspan["test"][name],
            "question_only": blind["test"][name],
            "by_type": _by_type(mspan["test"], blind["test"], name),
        }
    }
    if int(os.environ.get("RANK", "0")) == 0:
        print("\n".join(summary_lines(table)))
        write_json(os.path.join(root, "summary.json"), table)
    return table
