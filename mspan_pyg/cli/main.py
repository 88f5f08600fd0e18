"""The ``mspan-pyg`` command line: ``train``, ``evaluate``, ``convert-features``, ``ablate``,
``explain``, ``export`` and ``demo``.

    mspan-pyg train --dataset tgif --task count --data-dir DIR --features FILE [...]
    mspan-pyg train --dataset msvd                       # built-in synthetic data
    mspan-pyg evaluate runs/tgif_count/best.pt [--data-dir DIR --features FILE --split test]
    mspan-pyg convert-features npy --appearance DIR [--motion DIR] --out FILE
    mspan-pyg convert-features hcrn --appearance H5 [--motion H5] --out FILE [--num-frames 16]
        [--tgif-dir DIR]
    mspan-pyg convert-features nextqa --appearance app_mot_train.h5,app_mot_val.h5 --out FILE
    mspan-pyg ablate --task count --seeds 3 --out runs/ablation
    mspan-pyg explain runs/builtin/action/best.pt --index 0
    mspan-pyg export runs/builtin/action/best.pt mspan-action   # a save_pretrained folder
    mspan-pyg demo mspan-action --port 7860                        # a local web page

The ``train`` flags are the fields of :class:`~mspan_pyg.training.config.RunConfig`, where each
default and preset is defined. This module only parses and prints: the work happens in
:mod:`mspan_pyg.training` and :mod:`mspan_pyg.analysis`.

The examples (``examples/tgif_qa.py``, ``examples/videoqa.py``...) call :func:`main` with the
same flags. User errors (:class:`~mspan_pyg.errors.MSPANError`) and environment errors
(``OSError``: a full or read-only disk, a path that cannot be written, named with its cause)
print one ``error: ...`` line to stderr and exit with status 2; Ctrl-C exits with 130.
Runs under ``torchrun --nproc_per_node=N`` use DDP.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, Dict, List, Optional, Sequence

from mspan_pyg.cli.video import COMMANDS as VIDEO_COMMANDS
from mspan_pyg.cli.video import COMPRESSION_HELP
from mspan_pyg.cli.video import add_subcommands as add_video_subcommands
from mspan_pyg.errors import ConfigError, MSPANError, error_line


class _Parser(argparse.ArgumentParser):
    """argparse with a one-line ``error: ...`` and exit status 2 on bad usage."""

    def error(self, message: str):  # noqa: D401
        raise ConfigError(f"{message} (see {self.prog} --help)")


def add_train_arguments(p: argparse.ArgumentParser) -> None:
    """The training flags: one per field of :class:`~mspan_pyg.training.config.RunConfig`
    (defaults and presets are defined there), plus ``--jobs`` of ``--task all``."""
    from mspan_pyg.training.config import add_config_arguments

    add_config_arguments(p)
    p.add_argument(
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
    tr = sub.add_parser(
        "train",
        help="train and evaluate on TGIF-QA, MSVD-QA, MSRVTT-QA, NExT-QA, ActivityNet-QA or your "
        "own questions",
    )
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
    ev.add_argument(
        "--eval-split",
        default=None,
        help="NExT-QA: the test split's file, val | test (default: the run's)",
    )
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
    cv.add_argument(
        "--tgif-dir",
        default=None,
        help="hcrn: the TGIF-QA question files' folder; renames the ids (the GIF's key, as "
        "HCRN writes them) to gif_name, as the TGIF-QA reader needs",
    )
    cv.add_argument("--dtype", default="float32", help="float16 | float32")
    cv.add_argument("--compression", default="none", help=COMPRESSION_HELP)
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
    xp = sub.add_parser(
        "export",
        help="write a checkpoint's model as a save_pretrained folder (config.json, "
        "model.safetensors, run.json)",
    )
    xp.add_argument("checkpoint", help="a checkpoint, e.g. OUT/best.pt")
    xp.add_argument("out", help="the folder to write (MSPAN.from_pretrained, answer, evaluate...)")
    xp.add_argument("--overwrite", action="store_true", help="replace an earlier export")
    dm = sub.add_parser(
        "demo", help="a local web page answering questions about videos (the demo extra)"
    )
    from mspan_pyg.demo.app import add_demo_arguments

    add_demo_arguments(dm)
    add_video_subcommands(sub)  # extract-features, merge-features, answer
    return parser


# ----------------------------------------------------------------------------------------------
# Commands
# ----------------------------------------------------------------------------------------------


def cmd_train(ns: argparse.Namespace) -> int:
    from mspan_pyg.analysis.plots import draw_run_curves
    from mspan_pyg.data.registry import get_dataset
    from mspan_pyg.training.config import config_from_namespace
    from mspan_pyg.training.runner import train
    from mspan_pyg.training.suite import format_table, train_all_tasks

    config = config_from_namespace(ns)
    d = config.data
    spec = get_dataset(d.dataset)
    builtin_suite = not d.data_dir and (spec.needs_task or spec.builtin_suite)
    if d.task == "all" or (d.task is None and (builtin_suite or spec.needs_task)):
        if d.task is None and d.data_dir:
            raise ConfigError(
                f"--task is required with --data-dir: one of {', '.join(spec.tasks)}, or all"
            )
        table = train_all_tasks(
            config.replace(task=None),
            ns.jobs,
            after_run=draw_run_curves,
            given=getattr(ns, "given", None),
        )
        if _is_main():
            print(format_table(table))
        return 0
    metrics = train(config, given=getattr(ns, "given", None))
    name = metrics["metric"]
    if _is_main():
        draw_run_curves(os.path.abspath(config.out or _default_out(metrics)))
        summary = {
            "task": metrics["task"],
            "dataset": metrics["dataset"],
            "val": {name: metrics["val"][name]},
            "test": {name: metrics["test"][name]},
        }
        print(json.dumps(summary))
    return 0


def given_train_options(argv: Sequence[str]) -> List[str]:
    """The ``RunConfig`` options given on a ``train`` command line (not their defaults)."""
    from mspan_pyg.training.config import add_config_arguments

    parser = argparse.ArgumentParser(add_help=False)
    add_config_arguments(parser, suppress_defaults=True)
    return sorted(vars(parser.parse_known_args(list(argv))[0]))


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _default_out(metrics: Dict[str, Any]) -> str:
    return os.path.dirname(metrics["checkpoint"])


def cmd_evaluate(ns: argparse.Namespace) -> int:
    from mspan_pyg.files import write_json
    from mspan_pyg.training.runner import evaluate_checkpoint

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
    from mspan_pyg.data import convert_hcrn, convert_npy_folders, tgif_key_map
    from mspan_pyg.data.features import convert_nextqa

    if ns.dtype not in ("float16", "float32"):
        raise ConfigError(f"--dtype must be float16 or float32, got {ns.dtype!r}")
    if ns.format == "npy":
        n = convert_npy_folders(
            ns.appearance,
            ns.motion,
            ns.out,
            ids_kind=ns.ids,
            dtype=ns.dtype,
            compression=ns.compression,
        )
    elif ns.format == "hcrn":
        id_map = tgif_key_map(ns.tgif_dir) if ns.tgif_dir else None
        n = convert_hcrn(
            ns.appearance,
            ns.motion,
            ns.out,
            num_frames=ns.num_frames,
            dtype=ns.dtype,
            id_map=id_map,
            compression=ns.compression,
        )
    elif ns.format == "nextqa":  # the official app_mot_{split}.h5 files, merged
        n = convert_nextqa(
            ns.appearance.split(","),
            ns.out,
            appearance_dim=ns.appearance_dim,
            dtype=ns.dtype,
            compression=ns.compression,
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


def cmd_export(ns: argparse.Namespace) -> int:
    from mspan_pyg.training.pretrained import export_checkpoint

    out = export_checkpoint(ns.checkpoint, ns.out, overwrite=ns.overwrite)
    print(f"wrote {out} (load it with MSPAN.from_pretrained or give it to answer/evaluate/explain)")
    return 0


def cmd_demo(ns: argparse.Namespace) -> int:
    from mspan_pyg.demo.app import demo_from_args

    demo_from_args(ns)
    return 0


COMMANDS = {
    "train": cmd_train,
    "evaluate": cmd_evaluate,
    "convert-features": cmd_convert,
    "ablate": cmd_ablate,
    "explain": cmd_explain,
    "export": cmd_export,
    "demo": cmd_demo,
    **VIDEO_COMMANDS,
}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mspan-pyg``; returns the exit status (0 ok, 2 user error)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        ns = build_parser().parse_args(argv)
        if ns.command is None:
            raise ConfigError(
                f"no command given; valid commands: {', '.join(COMMANDS)} (see mspan-pyg --help)"
            )
        if ns.command == "train":
            ns.given = given_train_options(argv[argv.index("train") + 1 :])
        return COMMANDS[ns.command](ns)
    except (MSPANError, OSError) as e:  # OSError: a full or read-only disk, an unusable path
        print(error_line(e), file=sys.stderr, flush=True)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
