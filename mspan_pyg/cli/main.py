"""The ``mspan-pyg`` command line: ``train``, ``evaluate`` and ``convert-features``.

    mspan-pyg train --dataset tgif --task count --data-dir DIR --features FILE [...]
    mspan-pyg train --dataset msvd                       # built-in synthetic data
    mspan-pyg evaluate runs/tgif_count/best.pt [--data-dir DIR --features FILE --split test]
    mspan-pyg convert-features npy --appearance DIR [--motion DIR] --out FILE
    mspan-pyg convert-features hcrn --appearance H5 [--motion H5] --out FILE [--num-frames 16]

The examples (``examples/tgif_qa.py``, ``examples/videoqa.py``...) call :func:`main` with the
same flags. User errors (:class:`~mspan_pyg.errors.MSPANError`) print one ``error: ...`` line to
stderr and exit with status 2. Runs under ``torchrun --nproc_per_node=N`` use DDP.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, Dict, Optional, Sequence

from mspan_pyg.data.dataset_specs import DATASET_SPECS
from mspan_pyg.errors import ConfigError, MSPANError

TGIF_TASKS = ("action", "transition", "count", "frameqa")


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line ``error: ...`` and exit status 2 on bad usage."""

    def error(self, message: str):  # noqa: D401
        raise ConfigError(f"{message} (see {self.prog} --help)")


def add_train_arguments(p: argparse.ArgumentParser, dataset: Optional[str] = None) -> None:
    """The training flags (DESIGN.md §3); ``dataset`` fixed by an example script, else ``--dataset``."""
    from mspan_pyg.training.config import SYNTHETIC as S
    from mspan_pyg.training.config import SYNTHETIC_TASK_VIDEOS

    if dataset is None:
        p.add_argument(
            "--dataset",
            default="tgif",
            help="tgif | msvd | msrvtt | nextqa | activitynet | own (default: tgif)",
        )
    else:
        p.set_defaults(dataset=dataset)
    p.add_argument(
        "--task",
        default=None,
        help="TGIF-QA: action | transition | count | frameqa | all (all four tasks and the "
        "question-only baseline of each; the default without --data-dir). NExT-QA: mc; "
        "ActivityNet-QA: qa; own: open | count | multichoice (default: from the files); "
        "all: with the question-only baseline",
    )
    d = p.add_argument_group("data")
    d.add_argument(
        "--data-dir", default=None, help="annotation folder; omit for the built-in synthetic data"
    )
    d.add_argument(
        "--features", default=None, help="HDF5 feature file (/appearance, /motion, /ids)"
    )
    d.add_argument("--glove", default=None, help="GloVe text file to initialise word embeddings")
    d.add_argument(
        "--num-frames", type=int, default=None, help="frames per video (default: all stored)"
    )
    d.add_argument(
        "--limit", type=int, default=None, help="keep the first N questions of each split"
    )
    d.add_argument(
        "--skip-missing", action="store_true", help="drop questions whose video has no features"
    )
    d.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="TGIF-QA: share of training videos held out for model selection (default 0.1)",
    )
    d.add_argument(
        "--eval-split",
        default="val",
        help="NExT-QA: official file evaluated as the test split, val | test (default val; "
        "the model is selected on held-out training videos)",
    )
    d.add_argument(
        "--num-videos",
        type=int,
        default=None,
        help=f"synthetic data: videos (= questions) per task (default {S['num_videos']}; "
        f"action {SYNTHETIC_TASK_VIDEOS['action']})",
    )
    m = p.add_argument_group("model")
    m.add_argument(
        "--num-scales", type=int, default=None, help=f"K (paper 8; synthetic {S['num_scales']})"
    )
    m.add_argument(
        "--num-iterations",
        type=int,
        default=None,
        help=f"T (paper 3; synthetic {S['num_iterations']})",
    )
    m.add_argument(
        "--visual-dim", type=int, default=None, help=f"paper 2048; synthetic {S['visual_dim']}"
    )
    m.add_argument(
        "--module-dim", type=int, default=None, help=f"paper 512; synthetic {S['module_dim']}"
    )
    m.add_argument(
        "--word-dim", type=int, default=None, help=f"paper 300; synthetic {S['word_dim']}"
    )
    m.add_argument("--structure", default="full", help="full | top_down | bottom_up | dense")
    m.add_argument("--pool", default="max", help="clip pooling: max | mean")
    m.add_argument("--clip-stride", default="1", help="1 | scale | comma-separated list of K ints")
    m.add_argument(
        "--no-gcn",
        dest="use_gcn",
        action="store_false",
        help="skip the same-scale GCN (an ablation of the paper's Table 4)",
    )
    m.add_argument(
        "--scale-scores",
        action="store_true",
        help="divide cross-scale attention scores by sqrt(hidden size) (off in the paper)",
    )
    m.add_argument(
        "--gradient-checkpointing",
        action="store_true",
        help="recompute each iteration in the backward pass: less memory for long videos",
    )
    m.add_argument(
        "--dropout", type=float, default=None, help=f"paper data 0.1; synthetic {S['dropout']:g}"
    )
    m.add_argument("--question-layers", type=int, default=None, help="BiLSTM layers (default 3)")
    t = p.add_argument_group("training")
    t.add_argument(
        "--epochs", type=int, default=None, help=f"paper data 25; synthetic {S['epochs']}"
    )
    t.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help=f"global batch size (TGIF-QA 64, MSVD/MSRVTT 128; synthetic {S['batch_size']})",
    )
    t.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"Adam learning rate (paper 1e-4; synthetic {S['lr']:g})",
    )
    t.add_argument(
        "--lr-patience",
        type=int,
        default=None,
        help=f"halve the learning rate after this many epochs without a better validation "
        f"metric (paper data 2; synthetic {S['lr_patience']})",
    )
    t.add_argument(
        "--warmup-epochs",
        type=float,
        default=None,
        help=f"linear learning-rate warmup over the first E epochs (paper 0; synthetic "
        f"{S['warmup_epochs']:g})",
    )
    t.add_argument(
        "--grad-clip",
        type=float,
        default=None,
        help=f"clip the global gradient norm to this value, 0 = off (paper 0; synthetic "
        f"{S['grad_clip']:g})",
    )
    t.add_argument(
        "--question-only", action="store_true", help="blind baseline: zero the video input"
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="cpu", help="cpu | cuda")
    t.add_argument("--num-workers", type=int, default=0, help="DataLoader workers")
    t.add_argument(
        "--amp",
        nargs="?",
        const="bf16",
        default=None,
        help="autocast: bf16 (default when given) or fp16 (CUDA only)",
    )
    t.add_argument("--compile", action="store_true", help="torch.compile the model")
    t.add_argument("--out", default=None, help="output folder (default runs/<dataset>_<task>)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    t.add_argument("--overwrite", action="store_true", help="replace a previous run in --out")
    t.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    t.add_argument(
        "--jobs",
        type=int,
        default=None,
        help="--task all: runs trained side by side, each with its share of the CPU "
        "threads (default: 2 on a CPU with 2+ cores, else 1)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="mspan-pyg", description="MSPAN video question answering (PyTorch Geometric)"
    )
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    tr = sub.add_parser("train", help="train and evaluate on TGIF-QA, MSVD-QA or MSRVTT-QA")
    add_train_arguments(tr)
    ev = sub.add_parser("evaluate", help="evaluate a checkpoint (e.g. OUT/best.pt)")
    ev.add_argument("checkpoint")
    ev.add_argument("--data-dir", default=None, help="default: the checkpoint's")
    ev.add_argument("--features", default=None, help="default: the checkpoint's")
    ev.add_argument("--split", default="test", help="train | val | test (default test)")
    ev.add_argument("--batch-size", type=int, default=None)
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--num-workers", type=int, default=0)
    ev.add_argument("--limit", type=int, default=None, help="default: the checkpoint's --limit")
    ev.add_argument("--skip-missing", action="store_true", default=None)
    ev.add_argument("--eval-split", default=None, help="NExT-QA: val | test (default: the run's)")
    ev.add_argument("--json", default=None, help="also write the metrics to this file")
    ev.add_argument("--no-progress", dest="progress", action="store_false")
    cv = sub.add_parser(
        "convert-features", help="convert other feature layouts to this library's HDF5"
    )
    cv.add_argument(
        "format",
        help="npy (per-video .npy folders) | hcrn (HCRN h5 files) | nextqa (app_mot_*.h5)",
    )
    cv.add_argument(
        "--appearance",
        required=True,
        help="npy: folder; hcrn: resnet_features h5; nextqa: comma-separated app_mot_{split}.h5",
    )
    cv.add_argument(
        "--appearance-dim", type=int, default=2048, help="nextqa: appearance columns (2048)"
    )
    cv.add_argument("--motion", default=None, help="npy: folder; hcrn: resnext_features h5")
    cv.add_argument("--out", required=True, help="output HDF5 file")
    cv.add_argument("--ids", default="auto", help="npy: id kind auto | int | str")
    cv.add_argument("--num-frames", type=int, default=16, help="hcrn: frames per video")
    cv.add_argument("--dtype", default="float32", help="float16 | float32")
    ab = sub.add_parser(
        "ablate", help="paper Table 4 and Fig. 4 ablations (default: synthetic data)"
    )
    from mspan_pyg.analysis.ablation import add_ablate_arguments

    add_ablate_arguments(ab)
    ex = sub.add_parser(
        "explain", help="picture of one question's cross-scale attention and read-out"
    )
    from mspan_pyg.analysis.explain import add_explain_arguments

    add_explain_arguments(ex)
    return parser


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------


def _fmt(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, float) and not math.isnan(v) else str(v)


def _train_args(ns: argparse.Namespace) -> Dict[str, Any]:
    from mspan_pyg.training.runner import default_args

    keys = default_args().keys()
    return {k: v for k, v in vars(ns).items() if k in keys}


def _default_jobs(args: Dict[str, Any]) -> int:
    distributed = "WORLD_SIZE" in os.environ
    cpu = str(args["device"]).startswith("cpu")
    return 2 if cpu and not distributed and (os.cpu_count() or 1) >= 2 else 1


def run_all_tgif(args: Dict[str, Any], jobs: Optional[int] = None) -> Dict[str, Any]:
    """All four TGIF-QA tasks, each with its question-only baseline; prints a table of test metrics.

    With ``jobs > 1`` the eight runs go to a pool of worker processes that split the CPU threads:
    small models use two single-threaded processes far better than one two-threaded one.
    """
    from mspan_pyg.training.runner import (
        info,
        resolve_args,
        run_in_workers,
        synthetic_data,
        train,
        write_json,
    )

    root = os.path.abspath(args["out"] or os.path.join("runs", "tgif_all"))
    jobs = max(1, jobs or _default_jobs(args))
    runs = [(task, blind) for task in TGIF_TASKS for blind in (False, True)]
    subs = []
    for task, blind in runs:
        sub = dict(
            args,
            task=task,
            question_only=blind,
            out=os.path.join(root, task + ("_question_only" if blind else "")),
        )
        if not args["data_dir"]:  # one synthetic data set shared by the eight runs
            sub.update(synthetic_dir=os.path.join(root, "data"), synthetic_tasks=list(TGIF_TASKS))
        if jobs > 1:
            sub["progress"] = False  # interleaved bars from several processes are unreadable
        subs.append(sub)
    if jobs > 1 and not args["data_dir"]:
        synthetic_data(resolve_args(dict(subs[0])))  # generated once, before the workers reuse it
    if jobs == 1:
        results = []
        for (task, blind), sub in zip(runs, subs):
            info(f"=== {task}{' (question only)' if blind else ''} -> {sub['out']}")
            results.append(train(sub))
    else:
        import torch

        threads = max(1, torch.get_num_threads() // jobs)
        info(f"=== {len(subs)} runs, {jobs} at a time, {threads} thread(s) each -> {root}")
        results = run_in_workers(train, subs, jobs, threads)
    table: Dict[str, Dict[str, Any]] = {}
    for (task, blind), m in zip(runs, results):
        entry = table.setdefault(task, {"metric": m["metric"]})
        entry["question_only" if blind else "mspan"] = m["test"][m["metric"]]
    lines = [f"{'task':<12}{'metric':<10}{'MSPAN':>10}{'question-only':>16}"]
    for task in TGIF_TASKS:
        e = table[task]
        lines.append(
            f"{task:<12}{e['metric']:<10}{_fmt(e['mspan']):>10}{_fmt(e['question_only']):>16}"
        )
    if int(os.environ.get("RANK", "0")) == 0:
        print("\n".join(lines))
        write_json(os.path.join(root, "summary.json"), table)
    return table


def cmd_train(ns: argparse.Namespace) -> int:
    from mspan_pyg.training.runner import train

    args = _train_args(ns)
    if args["dataset"] in DATASET_SPECS and (
        args["task"] == "all" or (args["task"] is None and not args["data_dir"])
    ):  # NExT-QA, ActivityNet-QA, own: the run and its question-only baseline
        from mspan_pyg.training.baseline_runs import run_with_baseline

        run_with_baseline(args, ns.jobs or _default_jobs(args))
        return 0
    if args["dataset"] == "tgif" and args["task"] in (None, "all"):
        if args["task"] is None and args["data_dir"]:
            raise ConfigError(
                "--task is required with --data-dir: one of action, transition, count, frameqa, "
                "or all"
            )
        run_all_tgif(args, ns.jobs)
        return 0
    metrics = train(args)
    name = metrics["metric"]
    if int(os.environ.get("RANK", "0")) == 0:
        print(
            json.dumps(
                {
                    "task": metrics["task"],
                    "dataset": metrics["dataset"],
                    "val": {name: metrics["val"][name]},
                    "test": {name: metrics["test"][name]},
                }
            )
        )
    return 0


def cmd_evaluate(ns: argparse.Namespace) -> int:
    from mspan_pyg.training.runner import evaluate_checkpoint, write_json

    result = evaluate_checkpoint(
        ns.checkpoint,
        data_dir=ns.data_dir,
        features=ns.features,
        split=ns.split,
        batch_size=ns.batch_size,
        device=ns.device,
        num_workers=ns.num_workers,
        limit=ns.limit if ns.limit is not None else "checkpoint",
        skip_missing=ns.skip_missing,
        progress=ns.progress,
        eval_split=ns.eval_split,
    )
    print(json.dumps(result))
    if ns.json:
        write_json(ns.json, result)
    return 0


def cmd_convert(ns: argparse.Namespace) -> int:
    from mspan_pyg.data import convert_hcrn, convert_npy_folders
    from mspan_pyg.data.features import convert_nextqa

    if ns.dtype not in ("float16", "float32"):
        raise ConfigError(f"--dtype must be float16 or float32, got {ns.dtype!r}")
    if ns.format == "npy":
        n = convert_npy_folders(ns.appearance, ns.motion, ns.out, ids_kind=ns.ids, dtype=ns.dtype)
    elif ns.format == "hcrn":
        n = convert_hcrn(ns.appearance, ns.motion, ns.out, num_frames=ns.num_frames, dtype=ns.dtype)
    elif ns.format == "nextqa":  # official app_mot_{split}.h5 files, merged
        n = convert_nextqa(
            ns.appearance.split(","), ns.out, appearance_dim=ns.appearance_dim, dtype=ns.dtype
        )
    else:
        raise ConfigError(f"unknown feature format {ns.format!r}; valid formats: npy, hcrn, nextqa")
    print(f"wrote {n} videos to {ns.out}")
    return 0


def cmd_ablate(ns: argparse.Namespace) -> int:
    from mspan_pyg.analysis.ablation import ablate_from_args

    ablate_from_args(ns)
    return 0


def cmd_explain(ns: argparse.Namespace) -> int:
    from mspan_pyg.analysis.explain import explain_from_args

    explain_from_args(ns)
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "convert-features": cmd_convert,
    "ablate": cmd_ablate,
    "explain": cmd_explain,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mspan-pyg``; returns the exit status (0 ok, 2 user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = build_parser().parse_args(argv)
        if ns.command is None:
            raise ConfigError(
                "no command given; valid commands: train, evaluate, convert-features, ablate, explain "
                "(see mspan-pyg --help)"
            )
        return COMMANDS[ns.command](ns)
    except MSPANError as e:
        msg = " ".join(str(e).split("\n"))
        print(f"error: {msg}", file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


def console_main() -> None:  # pragma: no cover
    sys.exit(main())


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
