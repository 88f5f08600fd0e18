"""One training run end to end, and checkpoint evaluation — what the command line calls.

:func:`train` reads the data (or generates the built-in synthetic data), builds vocabularies and
the model, trains with validation-based model selection (:class:`~mspan_pyg.training.engine.Trainer`),
evaluates the selected checkpoint once on the test split and writes ``OUT/metrics.json``.
:func:`evaluate_checkpoint` rebuilds everything from a checkpoint alone.

Splits: TGIF-QA has no validation split, so a seeded ``val_fraction`` of the training *videos*
is held out (seed :data:`VAL_SPLIT_SEED`, independent of ``--seed`` so runs with different seeds
select on the same questions); MSVD-QA / MSRVTT-QA use their ``val_qa.json``.
``limit`` keeps the first N questions of each split.
"""

from __future__ import annotations

import json
import os
import random
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from mspan_pyg.data.dataset_specs import DATASET_SPECS, require_features
from mspan_pyg.data.nextqa import write_official_predictions
from mspan_pyg.errors import CheckpointError, ConfigError, DataError
from mspan_pyg.training import config as C
from mspan_pyg.training.checkpoint import check_compatible, load_checkpoint, load_model_state
from mspan_pyg.training.distributed import (
    DistContext,
    barrier,
    cleanup_distributed,
    init_distributed,
    resolve_device,
)
from mspan_pyg.training.engine import TrainConfig, Trainer, evaluate, truncate_log
from mspan_pyg.training.metrics import metric_name
from mspan_pyg.training.type_metrics import dataset_type_groups

VAL_SPLIT_SEED = 0
#: files a run writes; their presence means the folder holds a previous run
RUN_FILES = (
    "log.jsonl",
    "last.pt",
    "best.pt",
    "metrics.json",
    "test_predictions.jsonl",
    "summary.json",
)


def info(msg: str, ctx: Optional[DistContext] = None) -> None:
    if ctx is None or ctx.is_main:
        print(msg, file=sys.stderr, flush=True)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if deterministic:
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
        torch.use_deterministic_algorithms(True, warn_only=True)


# ----------------------------------------------------------------------------------------------
# Options
# ----------------------------------------------------------------------------------------------


def default_args(**overrides) -> Dict[str, Any]:
    """Every option of a training run with its command-line default (None = resolved later)."""
    args = dict(
        dataset="tgif",
        task=None,
        data_dir=None,
        features=None,
        glove=None,
        epochs=None,
        batch_size=None,
        num_scales=None,
        num_iterations=None,
        visual_dim=None,
        module_dim=None,
        word_dim=None,
        num_frames=None,
        limit=None,
        question_only=False,
        seed=0,
        device="cpu",
        out=None,
        lr=None,
        lr_patience=None,
        warmup_epochs=None,
        grad_clip=None,
        num_workers=0,
        resume=False,
        overwrite=False,
        skip_missing=False,
        amp=None,
        compile=False,
        structure="full",
        pool="max",
        clip_stride="1",
        val_fraction=0.1,
        dropout=None,
        num_videos=None,
        progress=True,
        question_layers=None,
        synthetic_dir=None,
        synthetic_tasks=None,  # not command-line flags from here on
        use_gcn=True,
        scale_scores=False,
        gradient_checkpointing=False,
        eval_split="val",  # NExT-QA: the official file evaluated as the test split
    )
    unknown = set(overrides) - set(args)
    if unknown:
        raise ConfigError(f"unknown option(s) {', '.join(sorted(unknown))}")
    args.update(overrides)
    return args


def resolve_args(args: Dict[str, Any]) -> Dict[str, Any]:
    """Validates the options and fills the defaults (paper for real data, small for synthetic)."""
    args = default_args(**args)
    args["dataset"] = C.check_dataset(args["dataset"])
    args["task"] = C.check_task(args["dataset"], args["task"], args["data_dir"])
    synthetic = not args["data_dir"]
    args["synthetic"] = synthetic
    if not synthetic and not args["features"]:
        raise ConfigError("--data-dir needs --features FILE (the HDF5 feature file)")
    base = C.SYNTHETIC if synthetic else C.PAPER
    if synthetic and args["epochs"] is None and args["dataset"] in DATASET_SPECS:
        args["epochs"] = DATASET_SPECS[args["dataset"]].synthetic_epochs  # built-in runs
    for key in (
        "epochs",
        "lr",
        "lr_patience",
        "warmup_epochs",
        "grad_clip",
        "num_scales",
        "num_iterations",
        "visual_dim",
        "module_dim",
        "word_dim",
        "dropout",
        "question_layers",
    ):
        if args[key] is None:
            args[key] = base[key]
    if args["batch_size"] is None:
        args["batch_size"] = (
            C.SYNTHETIC["batch_size"] if synthetic else C.BATCH_SIZE[args["dataset"]]
        )
    for key in (
        "epochs",
        "batch_size",
        "num_scales",
        "visual_dim",
        "module_dim",
        "word_dim",
        "question_layers",
    ):
        if int(args[key]) < 1:
            raise ConfigError(f"--{key.replace('_', '-')} must be at least 1, got {args[key]}")
    if args["num_iterations"] < 0:
        raise ConfigError(f"--num-iterations must be >= 0, got {args['num_iterations']}")
    if args["limit"] is not None and args["limit"] < 1:
        raise ConfigError(f"--limit must be at least 1, got {args['limit']}")
    if not args["lr"] > 0:
        raise ConfigError(f"--lr must be positive, got {args['lr']}")
    if not 0.0 < args["val_fraction"] < 1.0 and args["dataset"] == "tgif":
        raise ConfigError(
            f"--val-fraction must be in (0, 1) (TGIF-QA selects on held-out training "
            f"videos), got {args['val_fraction']}"
        )
    if args["amp"] not in (None, "bf16", "fp16"):
        raise ConfigError(f"--amp must be bf16 or fp16, got {args['amp']!r}")
    if args["device"] not in ("cpu", "cuda") and not str(args["device"]).startswith("cuda:"):
        raise ConfigError(f"unknown --device {args['device']!r}; valid: cpu, cuda")
    if args["structure"] not in ("full", "top_down", "bottom_up", "dense"):
        raise ConfigError(
            f"unknown --structure {args['structure']!r}; valid: full, top_down, bottom_up, dense"
        )
    if args["pool"] not in ("max", "mean"):
        raise ConfigError(f"unknown --pool {args['pool']!r}; valid: max, mean")
    C.parse_clip_stride(args["clip_stride"])
    if args["out"] is None:
        args["out"] = os.path.join(
            "runs",
            f"{args['dataset']}_{args['task']}"
            + ("_question_only" if args["question_only"] else ""),
        )
    args["out"] = os.path.abspath(args["out"])
    return args


# ----------------------------------------------------------------------------------------------
# Output folder
# ----------------------------------------------------------------------------------------------


def holds_run(folder: str) -> bool:
    return os.path.isdir(folder) and any(os.path.exists(os.path.join(folder, f)) for f in RUN_FILES)


def prepare_output(
    out: str, overwrite: bool, resume: bool, ctx: Optional[DistContext] = None
) -> None:
    """Refuses to reuse a folder with a previous run unless ``overwrite`` (cleared) or ``resume``."""
    if holds_run(out) and not (overwrite or resume):
        raise ConfigError(
            f"output folder {out} holds a previous run; pass --overwrite to replace it "
            f"or --resume to continue it (or choose another --out)"
        )
    if ctx is None or ctx.is_main:
        if overwrite and not resume:
            for f in RUN_FILES:
                p = os.path.join(out, f)
                if os.path.isfile(p):
                    os.remove(p)
        os.makedirs(out, exist_ok=True)


# ----------------------------------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------------------------------


@dataclass
class RunData:
    train: Any
    val: Any
    test: Any
    question_vocab: Any
    answer_vocab: Any
    qtype_names: List[str]
    store: Any


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
    with context.Pool(
        min(workers, len(items)), initializer=set_threads, initargs=(threads,)
    ) as pool:
        return pool.map(fn, items)


def synthetic_data(args: Dict[str, Any], ctx: Optional[DistContext] = None) -> Dict[str, str]:
    """Generates (or reuses) the built-in synthetic data; returns {"data_dir", "features"}."""
    from mspan_pyg.data import synthetic as S

    data_dir = args.get("synthetic_dir") or os.path.join(args["out"], "data")
    kw = dict(
        num_frames=args["num_frames"] or 16,
        appearance_dim=C.SYNTHETIC["appearance_dim"],
        motion_dim=C.SYNTHETIC["motion_dim"],
        seed=0,
    )
    if args["dataset"] in DATASET_SPECS:  # NExT-QA, ActivityNet-QA, own questions
        spec = DATASET_SPECS[args["dataset"]]
        made = spec.synthetic(data_dir, args) if ctx is None or ctx.is_main else None
        if ctx is not None and ctx.distributed:
            barrier(ctx)
            if not ctx.is_main:
                made = spec.synthetic(data_dir, args)  # reuses what the main process wrote
        return {k: os.path.abspath(made[k]) for k in ("data_dir", "features")}
    if ctx is None or ctx.is_main:
        if args["dataset"] == "tgif":
            tasks = args["synthetic_tasks"] or [args["task"]]
            counts = {t: C.synthetic_num_videos(t, args["num_videos"]) for t in tasks}
            S.make_synthetic_tgif(data_dir, tasks=tasks, num_videos=counts, **kw)
        else:
            count = C.synthetic_num_videos(args["task"], args["num_videos"])
            S.make_synthetic_videoqa(data_dir, num_videos=count, **kw)
    if ctx is not None and ctx.distributed:
        barrier(ctx)
    return {
        "data_dir": os.path.abspath(data_dir),
        "features": os.path.abspath(os.path.join(data_dir, "features.h5")),
    }


def read_splits(args: Dict[str, Any], splits: Sequence[str]) -> Dict[str, list]:
    """The QARecords of each split (``train``/``val``/``test``), limited to ``args['limit']``.

    TGIF-QA's validation split is held-out training videos: the training file is parsed once
    for both."""
    from mspan_pyg.data import read_tgif_qa, read_videoqa_json, split_by_video

    unknown = [s for s in splits if s not in ("train", "val", "test")]
    if unknown:
        raise ConfigError(f"unknown split {unknown[0]!r}; valid splits: train, val, test")
    records: Dict[str, list] = {}
    if args["dataset"] == "tgif":
        if "train" in splits or "val" in splits:
            records["train"], records["val"] = split_by_video(
                read_tgif_qa(args["data_dir"], args["task"], "train"),
                args["val_fraction"],
                seed=VAL_SPLIT_SEED,
            )
        if "test" in splits:
            records["test"] = read_tgif_qa(args["data_dir"], args["task"], "test")
    elif args["dataset"] in DATASET_SPECS:  # NExT-QA, ActivityNet-QA, own questions
        records = DATASET_SPECS[args["dataset"]].read_splits(args, splits)
    else:
        records = {s: read_videoqa_json(args["data_dir"], s) for s in splits}
    return {s: records[s][: args["limit"]] if args["limit"] else records[s] for s in splits}


def open_features(args: Dict[str, Any]):
    from mspan_pyg.data import FeatureStore

    path = args["features"]
    small = os.path.isfile(path) and os.path.getsize(path) < (1 << 30)
    return FeatureStore(path, num_frames=args["num_frames"], in_memory=small)


def make_dataset(args, records, question_vocab, answer_vocab, qtype_names, store):
    from mspan_pyg.data import VideoQADataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoQADataset(
            records,
            question_vocab,
            answer_vocab,
            store,
            C.TASK_KIND[args["task"]],
            qtype_names=qtype_names,
            skip_missing=args["skip_missing"],
        )
    for w in caught:
        info(f"warning: {w.message}")
    return ds


def build_data(args: Dict[str, Any], splits=("train", "val", "test"), vocab_state=None) -> RunData:
    """Datasets of ``splits``; vocabularies from the training questions or ``vocab_state``."""
    from mspan_pyg.data import AnswerVocabulary, Vocabulary, default_qtype_names

    kind = C.TASK_KIND[args["task"]]
    store = open_features(args)
    records = read_splits(args, splits)
    if args["dataset"] in DATASET_SPECS:  # a video without features: error naming file and row
        require_features(records, store, args["skip_missing"])
    if vocab_state is not None:
        qv = Vocabulary.from_dict(vocab_state["question"])
        av = (
            AnswerVocabulary.from_dict(vocab_state["answer"]) if vocab_state.get("answer") else None
        )
        qtype_names = vocab_state["qtype_names"]
    else:
        train = records["train"]
        if not train:
            raise DataError(f"no training questions in {args['data_dir']} for task {args['task']}")
        qv = Vocabulary.from_records(train)
        av = (
            AnswerVocabulary.build(train, top_k=C.ANSWER_VOCAB_SIZE[args["dataset"]])
            if kind == "open"
            else None
        )
        qtype_names = default_qtype_names([r.qtype for s in splits for r in records[s]])
        spec = DATASET_SPECS.get(args["dataset"])
        if spec is not None and spec.qtype_names:  # fixed type table (NExT-QA, ActivityNet-QA)
            qtype_names = list(spec.qtype_names)
    if av is not None and "train" in records:
        records["train"] = av.filter_training(records["train"])
    datasets = {s: make_dataset(args, records[s], qv, av, qtype_names, store) for s in splits}
    for s in splits:
        if len(datasets[s]) == 0:
            raise DataError(
                f"the {s} split of {args['data_dir']} ({args['task']}) has no usable questions"
            )
    return RunData(
        train=datasets.get("train"),
        val=datasets.get("val"),
        test=datasets.get("test"),
        question_vocab=qv,
        answer_vocab=av,
        qtype_names=list(qtype_names),
        store=store,
    )


def vocab_state(data: RunData) -> Dict[str, Any]:
    return {
        "question": data.question_vocab.to_dict(),
        "answer": data.answer_vocab.to_dict() if data.answer_vocab is not None else None,
        "qtype_names": list(data.qtype_names),
    }


def build_model(args: Dict[str, Any], data: RunData):
    from mspan_pyg.models.mspan import MSPAN

    glove = None
    if args["glove"]:
        from mspan_pyg.data import load_glove

        glove, coverage = load_glove(
            args["glove"], data.question_vocab, dim=args["word_dim"], seed=args["seed"]
        )
        info(f"GloVe: {coverage:.1%} of the question vocabulary found in {args['glove']}")
    kind = C.TASK_KIND[args["task"]]
    if data.store.num_frames < args["num_scales"]:
        raise ConfigError(
            f"--num-scales {args['num_scales']} exceeds the {data.store.num_frames} frames per video"
        )
    return MSPAN(
        vocab_size=len(data.question_vocab),
        task=kind,
        num_answers=len(data.answer_vocab) if kind == "open" else None,
        appearance_dim=data.store.appearance_dim,
        motion_dim=data.store.motion_dim,
        visual_dim=args["visual_dim"],
        module_dim=args["module_dim"],
        word_dim=args["word_dim"],
        num_scales=args["num_scales"],
        num_iterations=args["num_iterations"],
        structure=args["structure"],
        pool=args["pool"],
        clip_stride=C.parse_clip_stride(args["clip_stride"]),
        dropout=args["dropout"],
        glove=glove,
        use_gcn=bool(args.get("use_gcn", True)),
        question_layers=args["question_layers"],
        scale_scores=bool(args.get("scale_scores")),
        gradient_checkpointing=bool(args.get("gradient_checkpointing")),
    )


def model_from_checkpoint(state: Dict[str, Any], path: str):
    from mspan_pyg.models.mspan import MSPAN

    try:
        model = MSPAN(**state["model_config"])
    except (TypeError, ValueError) as e:
        raise CheckpointError(
            f"checkpoint {path}: cannot rebuild the model from its config ({e})"
        ) from None
    load_model_state(model, state, path)
    return model


def check_features(model_config: Dict[str, Any], store, path: str) -> None:
    want = (model_config["appearance_dim"], model_config["motion_dim"])
    got = (store.appearance_dim, store.motion_dim)
    if want != got:
        raise CheckpointError(
            f"checkpoint {path} expects features with appearance/motion dims {want}, but "
            f"{store.path} has {got}"
        )
    scales = model_config["num_scales"]
    if store.num_frames < scales:
        raise CheckpointError(
            f"checkpoint {path} is a {scales}-scale model, but {store.path} has only "
            f"{store.num_frames} frames per video (it needs at least {scales})"
        )


# ----------------------------------------------------------------------------------------------
# Train / evaluate
# ----------------------------------------------------------------------------------------------


def write_json(path: str, obj: Any) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=False)
        f.write("\n")
    os.replace(tmp, path)


def write_predictions(path: str, dataset, predictions: torch.Tensor, answer_vocab) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for rec, pred in zip(dataset.records, predictions.tolist()):
            if answer_vocab is not None:
                pred = answer_vocab.decode(int(pred))
            elif rec.candidates is not None:
                pred = int(pred)
            f.write(
                json.dumps(
                    {
                        "key": rec.key,
                        "video_id": rec.video_id,
                        "qtype": rec.qtype,
                        "answer": rec.answer,
                        "prediction": pred,
                    }
                )
                + "\n"
            )
    os.replace(tmp, path)


def train(args: Dict[str, Any], ctx: Optional[DistContext] = None) -> Dict[str, Any]:
    """Runs one training (+ the test evaluation of the selected model); returns metrics.json's dict."""
    args = resolve_args(args)
    own_ctx = ctx is None
    if own_ctx:
        ctx = init_distributed(args["device"])
    try:
        return _train(args, ctx)
    finally:
        if own_ctx:
            cleanup_distributed()


def _train(args: Dict[str, Any], ctx: DistContext) -> Dict[str, Any]:
    out = args["out"]
    last = os.path.join(out, "last.pt")
    resume_state = None
    if args["resume"]:
        if os.path.isfile(last):
            resume_state = load_checkpoint(last)
            check_compatible(resume_state, last, task=args["task"], dataset=args["dataset"])
        else:
            info(f"note: --resume but {last} does not exist; starting a new run", ctx)
    prepare_output(out, args["overwrite"], resume_state is not None, ctx)
    if ctx.distributed:
        barrier(ctx)
    if args["synthetic"]:
        args.update(synthetic_data(args, ctx))
    args["data_dir"] = os.path.abspath(args["data_dir"])
    args["features"] = os.path.abspath(args["features"])
    seed_everything(args["seed"], deterministic=ctx.device.type == "cpu")

    data = build_data(args)
    vocab = vocab_state(data)
    if resume_state is not None:
        check_compatible(
            resume_state, last, vocab={"question": vocab["question"], "answer": vocab["answer"]}
        )
    model = build_model(args, data)
    info(
        f"{args['dataset']}/{args['task']}: {len(data.train)} train, {len(data.val)} val, {len(data.test)} test "
        f"questions; {sum(p.numel() for p in model.parameters()):,} parameters; "
        f"{ctx.world_size} process(es) on {ctx.device}"
        + ("; question only" if args["question_only"] else ""),
        ctx,
    )

    stored_args = {k: v for k, v in args.items() if k not in ("progress",)}
    meta = {
        "task": args["task"],
        "dataset": args["dataset"],
        "args": stored_args,
        "vocab": {"question": vocab["question"], "answer": vocab["answer"]},
        "qtype_names": vocab["qtype_names"],
    }
    cfg = TrainConfig(
        epochs=args["epochs"],
        batch_size=args["batch_size"],
        lr=args["lr"],
        lr_patience=args["lr_patience"],
        warmup_epochs=args["warmup_epochs"],
        grad_clip=args["grad_clip"],
        seed=args["seed"],
        num_workers=args["num_workers"],
        question_only=args["question_only"],
        amp=args["amp"],
        compile=args["compile"],
        progress=args["progress"],
    )
    trainer = Trainer(model, data.train, data.val, _collate(), cfg, out, ctx, checkpoint_meta=meta)
    if resume_state is not None:
        trainer.load_state(resume_state, last)
        if ctx.is_main:
            truncate_log(trainer.log_path, trainer.epoch)
        info(f"resumed from {last} after epoch {trainer.epoch} (step {trainer.step})", ctx)
    trainer.fit()
    barrier(ctx)

    # One test evaluation of the selected checkpoint.
    best_path = os.path.join(out, "best.pt")
    best_state = load_checkpoint(best_path)
    load_model_state(trainer.model, best_state, best_path)
    test, preds = trainer.evaluate(data.test, desc="test", return_predictions=True)
    test = dataset_type_groups(test, args["dataset"])  # NExT-QA Acc@C/T/D
    name = metric_name(C.TASK_KIND[args["task"]])
    metrics = {
        "task": args["task"],
        "dataset": args["dataset"],
        "question_only": args["question_only"],
        "metric": name,
        "val": dataset_type_groups(best_state["best"]["val"], args["dataset"]),
        "test": test,
        "best_epoch": best_state["best"]["epoch"],
        "epochs": args["epochs"],
        "seed": args["seed"],
        "num_questions": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "synthetic": args["synthetic"],
        "model_config": dict(trainer.model.config),
        "checkpoint": best_path,
    }
    if ctx.is_main:
        write_json(os.path.join(out, "metrics.json"), metrics)
        write_predictions(
            os.path.join(out, "test_predictions.jsonl"), data.test, preds, data.answer_vocab
        )
        if args["dataset"] == "nextqa":  # the file NExT-QA's official eval_mc.py reads
            write_official_predictions(
                os.path.join(out, f"{args['eval_split']}_predictions_official.json"),
                data.test.records,
                preds,
            )
        info(
            f"test {name}: {test[name]:.4f} (selected epoch {metrics['best_epoch']}, val {name} "
            f"{metrics['val'][name]:.4f}); wrote {os.path.join(out, 'metrics.json')}",
            ctx,
        )
        from mspan_pyg.analysis.plots import have_matplotlib, plot_training_curves

        if have_matplotlib():  # OUT/training_curves.png (optional `viz` extra)
            plot_training_curves(out)
    return metrics


def _collate():
    from mspan_pyg.data import collate

    return collate


def checkpoint_args(
    state: Dict[str, Any], data_dir: Optional[str] = None, features: Optional[str] = None
) -> Dict[str, Any]:
    """The run options a checkpoint was trained with, pointed at other data when given."""
    args = dict(state["args"])
    if data_dir is not None:
        args["data_dir"] = data_dir
    if features is not None:
        args["features"] = features
    return args


def evaluate_checkpoint(
    path: str,
    data_dir: Optional[str] = None,
    features: Optional[str] = None,
    split: str = "test",
    batch_size: Optional[int] = None,
    device: str = "cpu",
    num_workers: int = 0,
    limit: Any = "checkpoint",
    skip_missing: Optional[bool] = None,
    progress: bool = True,
    return_predictions: bool = False,
    eval_split: Optional[str] = None,
):
    """Evaluates a checkpoint on ``split`` of its data (or of ``data_dir`` / ``features``).

    Everything else (task, vocabularies, model, ``--limit``, ``--question-only``) comes from the
    checkpoint, so the result reproduces the test metric logged by the run that wrote it.
    """
    state = load_checkpoint(path)
    args = checkpoint_args(state, data_dir, features)
    if features is None and data_dir is not None and not os.path.isfile(args["features"] or ""):
        raise ConfigError(
            "--data-dir given without --features, and the checkpoint's feature file "
            f"{args['features']} does not exist"
        )
    if not args.get("data_dir") or not os.path.isdir(args["data_dir"]):
        raise ConfigError(
            f"the checkpoint's data folder {args.get('data_dir')} does not exist; pass --data-dir "
            f"and --features"
        )
    if limit != "checkpoint":
        args["limit"] = limit
    if skip_missing is not None:
        args["skip_missing"] = skip_missing
    if eval_split is not None:  # NExT-QA: evaluate on val.csv or test.csv
        args["eval_split"] = eval_split
    model = model_from_checkpoint(state, path)
    vstate = dict(state["vocab"], qtype_names=state["qtype_names"])
    data = build_data(args, splits=(split,), vocab_state=vstate)
    check_features(state["model_config"], data.store, path)
    ctx = DistContext(device=resolve_device(device))
    seed_everything(int(args.get("seed", 0)), deterministic=ctx.device.type == "cpu")
    model.to(ctx.device)
    amp = args.get("amp")
    if amp == "fp16" and ctx.device.type != "cuda":
        amp = None
    dataset = getattr(data, split)
    result = evaluate(
        model,
        dataset,
        _collate(),
        batch_size=batch_size or args["batch_size"],
        ctx=ctx,
        qtype_names=data.qtype_names,
        question_only=bool(args.get("question_only")),
        amp=amp,
        num_workers=num_workers,
        desc=split,
        progress=progress,
        return_predictions=return_predictions,
    )
    if return_predictions:
        return (dataset_type_groups(result[0], args["dataset"]),) + tuple(result[1:])
    return dataset_type_groups(result, args["dataset"])  # NExT-QA Acc@C/T/D
