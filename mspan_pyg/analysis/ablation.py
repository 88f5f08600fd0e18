"""The ablations of the paper: Table 4 (structure, pooling, GCN, iterations T) and Fig. 4 (K).

Each row is a set of overrides of one base :class:`~mspan_pyg.training.config.RunConfig` (flat
option names); each (row, seed) is one call
of :func:`mspan_pyg.training.runner.train` into ``OUT/rows/<row>-seed<k>/``. A (row, seed) whose
``metrics.json`` exists is not trained again, and an interrupted one continues from its
``last.pt``, so rerunning the same command resumes the ablation. Rows whose configuration equals
an earlier row's (e.g. ``T2`` when the base has T = 2) reuse that row's runs.

Outputs: ``OUT/ablation.md`` and ``OUT/ablation.csv`` (test and validation metric, mean ± std over
seeds, per row) and ``OUT/k_sweep.png`` (when matplotlib is installed).

    mspan-pyg ablate --out runs/ablation                 # built-in synthetic data, task count
    mspan-pyg ablate --task count --seeds 2 --rows full,mean_pool,K1,K2
"""

from __future__ import annotations

import csv
import json
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Sequence

from mspan_pyg.errors import ConfigError
from mspan_pyg.files import atomic_open, read_jsonl, write_json
from mspan_pyg.training.config import RunConfig, add_config_arguments


@dataclass(frozen=True)
class AblationRow:
    name: str
    group: str  # "table4" | "iterations" | "k_sweep"
    label: str  # what the row changes, for the table
    overrides: Dict[str, Any] = field(default_factory=dict)


TABLE4_ROWS: List[AblationRow] = [
    AblationRow("full", "table4", "MSPAN (full)"),
    AblationRow("mean_pool", "table4", "mean-pool instead of max-pool", {"pool": "mean"}),
    AblationRow("no_gcn", "table4", "without GCN", {"use_gcn": False}),
    AblationRow("dense", "table4", "dense structure", {"structure": "dense"}),
    AblationRow("top_down", "table4", "top-down only", {"structure": "top_down"}),
    AblationRow("bottom_up", "table4", "bottom-up only", {"structure": "bottom_up"}),
] + [AblationRow(f"T{t}", "iterations", f"T = {t}", {"num_iterations": t}) for t in range(5)]

K_SWEEP_ROWS: List[AblationRow] = [
    AblationRow(f"K{k}", "k_sweep", f"K = {k}", {"num_scales": k}) for k in range(1, 9)
]

ABLATION_ROWS: List[AblationRow] = TABLE4_ROWS + K_SWEEP_ROWS

#: the base of the built-in ablation: the synthetic preset on the count task with fewer videos
#: and epochs, so the 19 rows x 3 seeds fit 2 CPU cores in a few hours
SMALL_CONFIG: Dict[str, Any] = dict(
    dataset="tgif",
    task="count",
    epochs=25,
    num_videos=1500,
    num_scales=4,
    num_iterations=2,
    visual_dim=128,
    module_dim=64,
    word_dim=64,
    batch_size=32,
)
#: the base options of ``mspan-pyg ablate`` (flags with the same names as ``train``'s)
BASE_OPTIONS = (
    "dataset",
    "task",
    "data_dir",
    "features",
    "glove",
    "num_videos",
    "limit",
    "epochs",
    "batch_size",
    "num_scales",
    "num_iterations",
    "visual_dim",
    "module_dim",
    "word_dim",
    "num_frames",
    "lr",
    "lr_patience",
    "warmup_epochs",
    "grad_clip",
    "device",
)
#: options that do not change what a run learns (two rows equal but for these share their runs)
_RUNTIME_OPTIONS = frozenset(
    ("out", "resume", "overwrite", "progress", "device", "num_workers", "synthetic_dir", "seed")
)


def select_rows(rows: Optional[Sequence[str]] = None) -> List[AblationRow]:
    """The rows named in ``rows`` (``None``: all), in table order; also accepts group names."""
    if rows is None:
        return list(ABLATION_ROWS)
    by_name = {r.name: r for r in ABLATION_ROWS}
    groups = {
        "table4": TABLE4_ROWS,
        "k_sweep": K_SWEEP_ROWS,
        "iterations": [r for r in ABLATION_ROWS if r.group == "iterations"],
    }
    chosen = []
    for name in rows:
        name = name.strip()
        if name in groups:
            chosen.extend(groups[name])
        elif name in by_name:
            chosen.append(by_name[name])
        else:
            raise ConfigError(
                f"unknown ablation row {name!r}; valid rows: {', '.join(by_name)} "
                f"(or the groups {', '.join(groups)})"
            )
    order = {r.name: i for i, r in enumerate(ABLATION_ROWS)}
    unique = {r.name: r for r in chosen}
    return sorted(unique.values(), key=lambda r: order[r.name])


def run_dir(out: str, row: str, seed: int) -> str:
    return os.path.join(out, "rows", f"{row}-seed{seed}")


def _row_key(base: Dict[str, Any], row: AblationRow) -> str:
    """What a row's runs learn from: its resolved options but the runtime ones."""
    config = RunConfig.from_dict(dict(base, **row.overrides, out=os.devnull)).resolve()
    key = {k: v for k, v in config.to_dict().items() if k not in _RUNTIME_OPTIONS}
    return json.dumps(key, sort_keys=True, default=str)


def _train_time(folder: str) -> float:
    path = os.path.join(folder, "log.jsonl")
    if not os.path.isfile(path):
        return float("nan")
    return sum(float(r.get("time_s", 0.0) or 0.0) for r in read_jsonl(path))


def _mean_std(values: List[float]):
    values = [v for v in values if not math.isnan(v)]
    if not values:
        return float("nan"), float("nan")
    mean = sum(values) / len(values)
    if len(values) < 2:
        return mean, 0.0
    return mean, math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))


def run_ablation(
    out: str,
    rows: Optional[Sequence[str]] = None,
    seeds: int = 3,
    base: Optional[Dict[str, Any]] = None,
    plot: bool = True,
    workers: int = 1,
    threads: int = 1,
    log=print,
) -> List[Dict[str, Any]]:
    """Trains and evaluates every (row, seed) not finished yet; writes the table files.

    Args:
        out: output folder (``rows/``, ``data/``, ``ablation.md``, ``ablation.csv``,
            ``k_sweep.png``).
        rows: row or group names (default: all of :data:`ABLATION_ROWS`).
        seeds: seeds ``0 .. seeds-1`` per row.
        base: options of every row (flat :class:`~mspan_pyg.training.config.RunConfig` names),
            over :data:`SMALL_CONFIG`; ``data_dir``/``features`` select real data.
        plot: draw ``k_sweep.png`` when matplotlib is available.
        workers: (row, seed) runs trained at the same time (separate processes).
        threads: torch CPU threads of each run (1 is fastest for the small model).
        log: called with one progress line per started/finished run.

    Returns:
        One dict per row: ``row``, ``label``, ``metric``, ``test_mean``, ``test_std``,
        ``val_mean``, ``val_std``, ``seeds`` (per-seed test values), ``same_as`` (the row whose
        runs it reuses, or ``None``).
    """
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}")
    from mspan_pyg.training.suite import check_parallel_runs

    check_parallel_runs("--workers", workers)
    out = os.path.abspath(out)
    base = dict(SMALL_CONFIG, **(base or {}))
    RunConfig.from_dict(base)  # unknown options fail here, before any training
    if not base.get("data_dir"):
        base.setdefault("synthetic_dir", os.path.join(out, "data"))
    base["progress"] = False
    selected = select_rows(rows)
    os.makedirs(os.path.join(out, "rows"), exist_ok=True)
    write_json(
        os.path.join(out, "config.json"),
        {"base": base, "seeds": seeds, "rows": [r.name for r in selected]},
    )

    owner: Dict[str, str] = {}  # config key -> first row with it
    source = {}
    for row in selected:
        source[row.name] = owner.setdefault(_row_key(base, row), row.name)
    by_name = {r.name: r for r in selected}
    # seed-major: every row's seed 0 first, so an interrupted ablation has a complete first seed
    pending = [
        (by_name[name], seed)
        for seed in range(seeds)
        for name in dict.fromkeys(source.values())
        if not os.path.isfile(os.path.join(run_dir(out, name, seed), "metrics.json"))
    ]
    done = len(set(source.values())) * seeds - len(pending)
    if done:
        log(f"[ablation] {done} finished (row, seed) run(s) found in {out}/rows; skipping them")
    if pending and not base.get("data_dir"):  # generate the synthetic data once, before any worker
        from mspan_pyg.training.runner import synthetic_data

        synthetic_data(RunConfig.from_dict(dict(base, out=out)).resolve())
    from mspan_pyg.training.suite import run_in_workers

    run_in_workers(_TrainJob(out, base), pending, workers, threads)

    results = []
    for row in selected:
        metrics = []
        for seed in range(seeds):
            folder = run_dir(out, source[row.name], seed)
            with open(os.path.join(folder, "metrics.json")) as f:
                m = json.load(f)
            m["train_time_s"] = _train_time(folder)
            metrics.append(m)
        name = metrics[0]["metric"]
        test = [float(m["test"][name]) for m in metrics]
        val = [float(m["val"][name]) for m in metrics]
        t_mean, t_std = _mean_std(test)
        v_mean, v_std = _mean_std(val)
        results.append(
            dict(
                row=row.name,
                group=row.group,
                label=row.label,
                metric=name,
                test_mean=t_mean,
                test_std=t_std,
                val_mean=v_mean,
                val_std=v_std,
                seeds=test,
                train_time_s=_mean_std([m["train_time_s"] for m in metrics])[0],
                same_as=None if source[row.name] == row.name else source[row.name],
                overrides=dict(row.overrides),
            )
        )
    write_tables(out, results, base, seeds)
    if plot:
        from mspan_pyg.analysis.plots import draw_or_warn, have_matplotlib, plot_k_sweep

        if have_matplotlib() and any(r["group"] == "k_sweep" for r in results):
            path = os.path.join(out, "k_sweep.png")
            draw_or_warn(plot_k_sweep, path, results, path)
    return results


class _TrainJob:
    """Trains one (row, seed) into its folder (picklable, for a process pool)."""

    def __init__(self, out: str, base: Dict[str, Any]):
        self.out, self.base = out, base

    def __call__(self, item) -> str:
        from mspan_pyg.training.runner import train

        row, seed = item
        folder = run_dir(self.out, row.name, seed)
        print(f"[ablation] {row.name} seed {seed}: training -> {folder}", flush=True)
        start = time.time()
        # resume=True continues an interrupted run from its last.pt; overwrite=True clears a
        # folder that holds only the start of a run (killed before its first checkpoint)
        train(dict(self.base, **row.overrides, seed=seed, out=folder, resume=True, overwrite=True))
        from mspan_pyg.analysis.plots import draw_run_curves

        if os.path.isfile(os.path.join(folder, "log.jsonl")):
            draw_run_curves(folder)
        print(f"[ablation] {row.name} seed {seed}: done in {time.time() - start:.0f} s", flush=True)
        return folder


def write_tables(out: str, results: List[Dict[str, Any]], base: Dict[str, Any], seeds: int) -> None:
    """``ablation.csv`` (one line per row, per-seed values ``;``-separated) and ``ablation.md``."""
    with atomic_open(os.path.join(out, "ablation.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            [
                "row",
                "group",
                "setting",
                "metric",
                "seeds",
                "test_mean",
                "test_std",
                "val_mean",
                "val_std",
                "test_per_seed",
                "train_time_s",
                "same_as",
            ]
        )
        for r in results:
            w.writerow(
                [
                    r["row"],
                    r["group"],
                    r["label"],
                    r["metric"],
                    len(r["seeds"]),
                    f"{r['test_mean']:.4f}",
                    f"{r['test_std']:.4f}",
                    f"{r['val_mean']:.4f}",
                    f"{r['val_std']:.4f}",
                    ";".join(f"{v:.4f}" for v in r["seeds"]),
                    f"{r['train_time_s']:.1f}",
                    r["same_as"] or "",
                ]
            )
    metric = results[0]["metric"] if results else "metric"
    arrow = "lower is better" if metric == "mse" else "higher is better"
    cfg = ", ".join(
        f"{k}={base[k]}"
        for k in (
            "dataset",
            "task",
            "epochs",
            "num_videos",
            "num_scales",
            "num_iterations",
            "visual_dim",
            "module_dim",
        )
        if k in base
    )
    lines = [
        f"Test {metric} ({arrow}), mean ± std over {seeds} seed(s); base: {cfg}.",
        "",
        f"| row | setting | test {metric} | val {metric} | per seed (test) | train s |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        setting = r["label"] + (f" (= {r['same_as']})" if r["same_as"] else "")
        lines.append(
            f"| {r['row']} | {setting} | {r['test_mean']:.3f} ± {r['test_std']:.3f} | "
            f"{r['val_mean']:.3f} ± {r['val_std']:.3f} | "
            f"{', '.join(f'{v:.3f}' for v in r['seeds'])} | {r['train_time_s']:.0f} |"
        )
    with atomic_open(os.path.join(out, "ablation.md"), "w") as f:
        f.write("\n".join(lines) + "\n")


# ----------------------------------------------------------------------------------------------
# Command line (``mspan-pyg ablate`` and ``benchmarks/ablations.py``)
# ----------------------------------------------------------------------------------------------


def add_ablate_arguments(p) -> None:
    """``ablate``'s flags: the rows, seeds and workers, and the base options of every row (the
    same flags as ``train``, defined by :class:`~mspan_pyg.training.config.RunConfig`)."""
    p.add_argument(
        "--out",
        default=os.path.join("runs", "ablation"),
        help="output folder (default runs/ablation)",
    )
    p.add_argument(
        "--rows",
        default=None,
        help="comma-separated rows or groups (table4, iterations, k_sweep); default: all",
    )
    p.add_argument("--seeds", type=int, default=3, help="seeds per row (default 3)")
    add_config_arguments(
        p,
        BASE_OPTIONS,
        defaults={"task": SMALL_CONFIG["task"]},
        help_override={"task": f"task of every row (default {SMALL_CONFIG['task']})"},
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads per run (default 1: small models train fastest so)",
    )
    p.add_argument(
        "--workers", type=int, default=2, help="runs trained at the same time (processes)"
    )


def ablate_from_args(ns) -> List[Dict[str, Any]]:
    base = {k: getattr(ns, k) for k in BASE_OPTIONS if getattr(ns, k) is not None}
    if base.get("data_dir"):  # real data: the paper preset's sizes unless given
        for key in SMALL_CONFIG:
            if key not in ("dataset", "task") and getattr(ns, key, None) is None:
                base[key] = None
    rows = ns.rows.split(",") if ns.rows else None
    results = run_ablation(
        ns.out, rows=rows, seeds=ns.seeds, base=base, workers=ns.workers, threads=ns.threads
    )
    with open(os.path.join(ns.out, "ablation.md")) as f:
        print(f.read())
    return results
