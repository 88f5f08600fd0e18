"""Several training runs at once: the ``--task all`` suite and a process pool to run them in.

:func:`train_all_tasks` trains every task of a dataset, each next to its question-only baseline
(TGIF-QA: eight runs; NExT-QA, ActivityNet-QA and an own-questions folder: two), into
``OUT/<task>[_question_only]/`` and writes ``OUT/summary.json``; :func:`format_table` prints its
table. A dataset with a fixed table of question types (``qtype_names`` in its registry entry)
also gets a row per type and type group. :func:`run_in_workers` is the pool both this suite and
the ablation runner (:mod:`mspan_pyg.analysis.ablation`) use.
"""

from __future__ import annotations

import math
import os
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from mspan_pyg.data.registry import get_dataset
from mspan_pyg.errors import ConfigError
from mspan_pyg.files import write_json
from mspan_pyg.training.config import RunConfig, check_task
from mspan_pyg.training.runner import info, synthetic_data, train


def set_threads(threads: int) -> None:
    """A worker process's share of the CPU threads (process-pool initializer)."""
    if threads:
        torch.set_num_threads(threads)


def run_in_workers(
    fn: Callable[[Any], Any], items: Sequence[Any], workers: int, threads: int
) -> List[Any]:
    """``[fn(item) for item in items]``, ``workers`` at a time in spawned processes with
    ``threads`` torch threads each (in this process when ``workers`` is 1). Small models
    use several single-threaded processes far better than one multi-threaded one."""
    if workers <= 1 or len(items) <= 1:
        set_threads(threads)
        return [fn(item) for item in items]
    import multiprocessing

    context = multiprocessing.get_context("spawn")
    pool = context.Pool(min(workers, len(items)), initializer=set_threads, initargs=(threads,))
    try:
        results = pool.map(fn, items)
    except BaseException:
        pool.terminate()
        raise
    # close + join, not terminate (what `with Pool()` does): a terminated worker never runs its
    # exit handlers, so the semaphores it created (tqdm's write lock) are reported as leaked
    pool.close()
    pool.join()
    return results


def check_parallel_runs(flag: str, value: Optional[int]) -> None:
    """Raises :class:`ConfigError` when a number of runs side by side (``--jobs``,
    ``--workers``) is given and below 1."""
    if value is not None and value < 1:
        raise ConfigError(f"{flag} must be at least 1, got {value}")


def default_jobs(config: RunConfig) -> int:
    """Runs side by side: 2 on a CPU with 2+ cores (small models), else 1."""
    distributed = "WORLD_SIZE" in os.environ
    cpu = str(config.train.device).startswith("cpu")
    return 2 if cpu and not distributed and (os.cpu_count() or 1) >= 2 else 1


class _Job:
    """One run of the suite, then ``after_run(out_dir)`` (picklable for the process pool)."""

    def __init__(
        self,
        after_run: Optional[Callable[[str], Any]] = None,
        given: Optional[Sequence[str]] = None,
    ):
        self.after_run, self.given = after_run, given

    def __call__(self, config: RunConfig) -> Dict[str, Any]:
        metrics = train(config, given=self.given)
        if self.after_run is not None and int(os.environ.get("RANK", "0")) == 0:
            self.after_run(config.out)
        return metrics


def train_all_tasks(
    config: RunConfig,
    jobs: Optional[int] = None,
    after_run: Optional[Callable[[str], Any]] = None,
    given: Optional[Sequence[str]] = None,
) -> Dict[str, Dict[str, Any]]:
    """Every task of ``config``'s dataset, each with its question-only baseline.

    Args:
        config: the options shared by every run (``task`` is ignored); ``out`` is the suite's
            folder (default ``runs/<dataset>_all``).
        jobs: runs trained side by side in worker processes that split the CPU threads
            (default :func:`default_jobs`).
        after_run: called with each run's folder when it is done (e.g. to draw its curves).
        given: the options the caller gave (what a ``--resume`` compares with each checkpoint;
            default: those that differ from the defaults).

    Returns:
        ``{task: {"metric", "mspan", "question_only"}}`` of test metrics (plus ``"by_type"``:
        ``{type or group: [mspan, question_only]}`` for a dataset with a fixed type table), also
        written to ``OUT/summary.json``.
    """
    check_parallel_runs("--jobs", jobs)
    spec = get_dataset(config.data.dataset)
    if spec.default_task is not None:  # the task the files imply (own questions: one head)
        tasks = [check_task(config.data.dataset, None, config.data.data_dir)]
    else:
        tasks = list(spec.tasks)
    root = os.path.abspath(config.out or os.path.join("runs", f"{config.data.dataset}_all"))
    jobs = max(1, jobs or default_jobs(config))
    runs = [(task, blind) for task in tasks for blind in (False, True)]
    shared: Dict[str, Any] = {}
    if config.data.synthetic or not config.data.data_dir:  # one data set for every run
        shared = dict(synthetic_dir=os.path.join(root, "data"), synthetic_tasks=tasks)
    if jobs > 1:
        shared["progress"] = False  # interleaved bars from several processes are unreadable
    configs = [
        config.replace(
            task=task,
            question_only=blind,
            out=os.path.join(root, task + ("_question_only" if blind else "")),
            **shared,
        )
        for task, blind in runs
    ]
    if jobs > 1 and "synthetic_dir" in shared:
        synthetic_data(configs[0].resolve())  # generated once, before the workers reuse it
    if jobs == 1:
        results = []
        for (task, blind), cfg in zip(runs, configs):
            info(f"=== {task}{' (question only)' if blind else ''} -> {cfg.out}")
            results.append(_Job(after_run, given)(cfg))
    else:
        threads = max(1, torch.get_num_threads() // jobs)
        info(f"=== {len(configs)} runs, {jobs} at a time, {threads} thread(s) each -> {root}")
        results = run_in_workers(_Job(after_run, given), configs, jobs, threads)
    table: Dict[str, Dict[str, Any]] = {}
    for (task, blind), m in zip(runs, results):
        entry = table.setdefault(task, {"metric": m["metric"]})
        entry["question_only" if blind else "mspan"] = m["test"][m["metric"]]
    if spec.qtype_names is not None:
        for task, entry in table.items():
            full, blind = (results[runs.index((task, b))]["test"] for b in (False, True))
            entry["by_type"] = _by_type(full, blind, entry["metric"])
    if int(os.environ.get("RANK", "0")) == 0:
        write_json(os.path.join(root, "summary.json"), table)
    return table


def _by_type(full: Dict[str, Any], blind: Dict[str, Any], metric: str) -> Dict[str, list]:
    """``{type or group: [MSPAN, question-only]}`` of two runs' test metrics."""
    out: Dict[str, list] = {}
    for key in (f"{metric}_by_type", f"{metric}_by_group"):
        for name, value in full.get(key, {}).items():
            out[name] = [value, blind.get(key, {}).get(name, float("nan"))]
    return out


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) and not math.isnan(v) else str(v)


def format_table(table: Dict[str, Dict[str, Any]]) -> str:
    """The suite's test metrics as a text table, one line per task (then its types and type
    groups, indented)."""
    lines = [f"{'task':<12}{'metric':<10}{'MSPAN':>10}{'question-only':>16}"]
    for task, e in table.items():
        lines.append(
            f"{task:<12}{e['metric']:<10}{_fmt(e['mspan']):>10}{_fmt(e['question_only']):>16}"
        )
        for name, (full, blind) in e.get("by_type", {}).items():
            lines.append(f"  {name:<10}{e['metric']:<10}{_fmt(full):>10}{_fmt(blind):>16}")
    return "\n".join(lines)
