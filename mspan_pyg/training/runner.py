"""One training run end to end, and rebuilding a run from its checkpoint.

:func:`train` reads the data (or generates the built-in synthetic data), builds vocabularies and
the model, trains with validation-based model selection
(:class:`~mspan_pyg.training.engine.Trainer`), evaluates the selected checkpoint once on the test
split and writes ``OUT/metrics.json`` and ``OUT/test_predictions.jsonl``. :func:`load_run`
rebuilds the model, configuration and vocabularies from a checkpoint alone;
:func:`evaluate_checkpoint` evaluates one.

Splits: a dataset without a validation split (TGIF-QA) holds out a seeded ``val_fraction`` of the
training *videos* (seed :data:`VAL_SPLIT_SEED`, independent of ``--seed`` so runs with different
seeds select on the same questions); MSVD-QA / MSRVTT-QA use their ``val_qa.json``. A dataset
with several official evaluation files (NExT-QA's ``val.csv`` / ``test.csv``) reads the one
``--eval-split`` names as the test split. What differs between datasets comes from their
registry entries (:class:`~mspan_pyg.data.registry.DatasetSpec`), never from their names.
``limit`` keeps the first N questions of each split.
"""

from __future__ import annotations

import json
import os
import random
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from mspan_pyg.data.provenance import read_provenance
from mspan_pyg.data.registry import get_dataset
from mspan_pyg.errors import CheckpointError, ConfigError, DataError
from mspan_pyg.files import atomic_open, remove_stale_temporaries, write_json
from mspan_pyg.training.checkpoint import check_compatible, load_checkpoint, load_model_state
from mspan_pyg.training.config import (
    SYNTHETIC_FEATURES,
    RunConfig,
    as_config,
    check_eval_split,
    check_option,
    given_options,
    parse_clip_stride,
    synthetic_num_videos,
)
from mspan_pyg.training.distributed import (
    DistContext,
    barrier,
    cleanup_distributed,
    init_distributed,
    resolve_device,
)
from mspan_pyg.training.engine import Trainer, evaluate, truncate_log
from mspan_pyg.training.metrics import add_type_groups, metric_name
from mspan_pyg.training.output import OutputFolder, holds_run

VAL_SPLIT_SEED = 0


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


def synthetic_data(config: RunConfig, ctx: Optional[DistContext] = None) -> Dict[str, str]:
    """Generates (or reuses) the built-in synthetic data; returns {"data_dir", "features"}."""
    d = config.data
    spec = get_dataset(d.dataset)
    if spec.make_synthetic is None:
        raise ConfigError(f"dataset {d.dataset!r} has no built-in synthetic data; pass --data-dir")
    data_dir = d.synthetic_dir or os.path.join(config.out, "data")
    tasks = list(d.synthetic_tasks or [d.task])
    given = d.num_videos if d.num_videos is not None else spec.synthetic_defaults.get("num_videos")

    def make() -> Dict[str, Any]:
        return spec.make_synthetic(
            data_dir,
            tasks,
            num_videos={t: synthetic_num_videos(t, given) for t in tasks},
            num_frames=d.num_frames or 16,
            seed=0,
            **SYNTHETIC_FEATURES,
        )

    made = None
    if ctx is None or ctx.is_main:
        remove_stale_temporaries(data_dir)  # of a generation that was killed
        made = make()
    if ctx is not None and ctx.distributed:
        barrier(ctx)
        if not ctx.is_main:
            made = make()  # the main process wrote it: reused as it is, for its paths
    return {k: os.path.abspath(made[k]) for k in ("data_dir", "features")}


def read_splits(config: RunConfig, splits: Sequence[str]) -> Dict[str, list]:
    """The QARecords of each split (``train``/``val``/``test``), limited to ``--limit``.

    A dataset without a validation split holds it out of the training file, parsed once for
    both."""
    from mspan_pyg.data import split_by_video

    unknown = [s for s in splits if s not in ("train", "val", "test")]
    if unknown:
        raise ConfigError(f"unknown split {unknown[0]!r}; valid splits: train, val, test")
    d = config.data
    spec = get_dataset(d.dataset)
    records: Dict[str, list] = {}
    if not spec.serves_val(d.data_dir) and ("train" in splits or "val" in splits):
        records["train"], records["val"] = split_by_video(
            spec.read(d.data_dir, d.task, "train"), d.val_fraction, seed=VAL_SPLIT_SEED
        )
    for split in splits:
        if split not in records:
            # the test split of a dataset with several evaluation files: --eval-split's
            file_split = d.eval_split if split == "test" and spec.eval_splits else split
            records[split] = spec.read(d.data_dir, d.task, file_split or split)
    return {s: records[s][: d.limit] if d.limit else records[s] for s in splits}


#: ``--features-in-memory auto`` loads feature files smaller than this into memory
IN_MEMORY_LIMIT = 1 << 30


def open_features(
    config: RunConfig, in_memory_limit: int = IN_MEMORY_LIMIT, path: Optional[str] = None
):
    """The run's feature store (of ``path``, default ``--features``): in memory
    (``--features-in-memory yes``, or ``auto`` and the file is under ``in_memory_limit`` bytes),
    else read batch by batch from the file."""
    import torch

    from mspan_pyg.data import FeatureStore

    d = config.data
    path = path or d.features
    if d.features_in_memory == "auto":
        in_memory = os.path.isfile(path) and os.path.getsize(path) < in_memory_limit
    else:
        in_memory = d.features_in_memory == "yes"
    return FeatureStore(
        path,
        num_frames=d.num_frames,
        in_memory=in_memory,
        dtype=getattr(torch, batch_features_dtype(config, path)),
    )


def batch_features_dtype(config: RunConfig, path: Optional[str] = None) -> str:
    """``--features-dtype``, with ``auto`` resolved for the file ``path`` (default
    ``--features``): float16 batches for a float16 file on a CUDA device (half the bytes to
    gather and copy; the device converts them), else float32. Reading the dtype is one metadata
    look-up at start-up."""
    chosen = config.data.features_dtype
    if chosen != "auto":
        return chosen
    if not config.train.device.startswith("cuda"):
        return "float32"
    import h5py

    try:
        with h5py.File(path or config.data.features, "r") as f:
            stored = f["appearance"].dtype
    except (OSError, KeyError):  # FeatureStore names what is wrong with the file
        return "float32"
    return "float16" if stored == "float16" else "float32"


def make_dataset(
    config: RunConfig, records, question_vocab, answer_vocab, qtype_names, store, samplings=()
):
    """The dataset of ``records``; ``samplings``: the stores of ``--augment-features``."""
    from mspan_pyg.data import VideoQADataset

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ds = VideoQADataset(
            records,
            question_vocab,
            answer_vocab,
            store,
            config.head,
            qtype_names=qtype_names,
            skip_missing=config.data.skip_missing,
            features_dtype=store.dtype,
            # page-locked batches for non_blocking copies; with workers the DataLoader pins
            pin_memory=config.train.device.startswith("cuda") and config.train.num_workers == 0,
            samplings=samplings,
        )
    for w in caught:
        info(f"warning: {w.message}")
    return ds


def build_data(config: RunConfig, splits=("train", "val", "test"), vocab_state=None) -> RunData:
    """Datasets of ``splits``; vocabularies from the training questions or ``vocab_state``."""
    from mspan_pyg.data import AnswerVocabulary, Vocabulary, default_qtype_names

    d = config.data
    store = open_features(config)
    records = read_splits(config, splits)
    if vocab_state is not None:
        qv = Vocabulary.from_dict(vocab_state["question"])
        av = (
            AnswerVocabulary.from_dict(vocab_state["answer"]) if vocab_state.get("answer") else None
        )
        qtype_names = vocab_state["qtype_names"]
    else:
        train = records["train"]
        if not train:
            raise DataError(f"no training questions in {d.data_dir} for task {d.task}")
        qv = Vocabulary.from_records(train)
        av = (
            AnswerVocabulary.build(train, top_k=get_dataset(d.dataset).answer_vocab_size)
            if config.head == "open"
            else None
        )
        qtype_names = get_dataset(d.dataset).qtype_names or default_qtype_names(
            [r.qtype for s in splits for r in records[s]]
        )
    if av is not None and "train" in records:
        records["train"] = av.filter_training(records["train"])
    # other frame samplings are for training only; validation and test read --features
    augment = d.augment_features if "train" in splits else None
    samplings = [open_features(config, path=p) for p in augment or ()]
    datasets = {
        s: make_dataset(
            config, records[s], qv, av, qtype_names, store, samplings if s == "train" else ()
        )
        for s in splits
    }
    for s in splits:
        if len(datasets[s]) == 0:
            raise DataError(f"the {s} split of {d.data_dir} ({d.task}) has no usable questions")
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


def build_model(config: RunConfig, data: RunData):
    """The MSPAN of ``config`` sized for ``data`` (vocabulary, answers, feature sizes)."""
    from mspan_pyg.models.mspan import MSPAN

    m = config.model
    glove = None
    if config.data.glove:
        from mspan_pyg.data import load_glove

        glove, coverage = load_glove(
            config.data.glove, data.question_vocab, dim=m.word_dim, seed=config.train.seed
        )
        info(f"GloVe: {coverage:.1%} of the question vocabulary found in {config.data.glove}")
    head = config.head
    if data.store.num_frames < m.num_scales:
        raise ConfigError(
            f"--num-scales {m.num_scales} exceeds the {data.store.num_frames} frames per video"
        )
    return MSPAN(
        vocab_size=len(data.question_vocab),
        task=head,
        num_answers=len(data.answer_vocab) if head == "open" else None,
        appearance_dim=data.store.appearance_dim,
        motion_dim=data.store.motion_dim,
        visual_dim=m.visual_dim,
        module_dim=m.module_dim,
        word_dim=m.word_dim,
        num_scales=m.num_scales,
        num_iterations=m.num_iterations,
        structure=m.structure,
        pool=m.pool,
        clip_stride=parse_clip_stride(m.clip_stride),
        dropout=m.dropout,
        glove=glove,
        use_gcn=m.use_gcn,
        share_iterations=m.share_iterations,
        question_layers=m.question_layers,
        scale_scores=m.scale_scores,
        gradient_checkpointing=m.gradient_checkpointing,
        mc_query=m.mc_query or "question",
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
# Train
# ----------------------------------------------------------------------------------------------


def decode_predictions(
    records, predictions: torch.Tensor, answer_vocab
) -> List[Union[str, int, float]]:
    """The model's predictions as answers: text (open), candidate index (multiple choice) or
    the clamped count (a float holding a whole number)."""
    if answer_vocab is not None:
        return [answer_vocab.decode(int(p)) for p in predictions.tolist()]
    multichoice = bool(records) and records[0].candidates is not None
    return [int(p) if multichoice else p for p in predictions.tolist()]


def write_predictions(path: str, records, answers: Sequence[Union[str, int, float]]) -> None:
    """``test_predictions.jsonl``: one line per question with its answer and the prediction.
    ``key`` is the release's per-question id (TGIF-QA ``vid_id``, NExT-QA ``{video}_{qid}``,
    ActivityNet-QA ``question_id``, MSVD/MSRVTT-QA ``id``); ``video_key`` the release's own id
    of the video where it has one (TGIF-QA ``key``)."""
    with atomic_open(path, "w") as f:
        for rec, pred in zip(records, answers):
            line = {"key": rec.key, "video_id": rec.video_id}
            if rec.video_key is not None:
                line["video_key"] = rec.video_key
            line.update(qtype=rec.qtype, answer=rec.answer, prediction=pred)
            f.write(json.dumps(line) + "\n")


def train(
    config: Union[RunConfig, Dict[str, Any]],
    ctx: Optional[DistContext] = None,
    given: Optional[Sequence[str]] = None,
) -> Dict[str, Any]:
    """Runs one training (+ the test evaluation of the selected model); returns metrics.json's
    dict. ``config`` is a :class:`RunConfig` or a dict of flat option names.

    With ``resume`` the options come from ``OUT/last.pt``; those ``given`` (default: a dict's
    keys with a value, a config's values other than the defaults) must agree with it, except
    :data:`~mspan_pyg.training.config.RESUME_CHANGEABLE`."""
    given = list(given) if given is not None else given_options(config)
    config = as_config(config).resolve()
    own_ctx = ctx is None
    if own_ctx:
        ctx = init_distributed(config.train.device)
    try:
        return _train(config, ctx, given)
    finally:
        if own_ctx:
            cleanup_distributed()


def _resume_state(config: RunConfig, ctx: DistContext) -> Optional[Dict[str, Any]]:
    last = os.path.join(config.out, "last.pt")
    if not config.resume:
        return None
    if not os.path.isfile(last):
        info(f"note: --resume but {last} does not exist; starting a new run", ctx)
        return None
    state = load_checkpoint(last)
    check_compatible(state, last, task=config.data.task, dataset=config.data.dataset)
    return state


def _train(config: RunConfig, ctx: DistContext, given: Sequence[str]) -> Dict[str, Any]:
    """Holds the output folder (rank 0) for the whole run (:mod:`mspan_pyg.training.output`)."""
    folder = OutputFolder(config.out) if ctx.is_main else None
    if folder is not None:
        folder.acquire()
    try:
        return _train_in_folder(config, ctx, folder, given)
    finally:
        if folder is not None:
            folder.release()


def _train_in_folder(
    config: RunConfig, ctx: DistContext, folder: Optional[OutputFolder], given: Sequence[str]
) -> Dict[str, Any]:
    last = os.path.join(config.out, "last.pt")
    barrier(ctx)
    resume_state = _resume_state(config, ctx)
    if resume_state is not None:
        config = config.resumed(resume_state["args"], given, last)
        finished = int(resume_state["epoch"])
        if config.train.epochs < finished:
            raise ConfigError(
                f"--epochs {config.train.epochs} is below the {finished} epochs the checkpoint "
                f"{last} has finished; give at least {finished} (or leave --epochs out)"
            )
    out, d, t = config.out, config.data, config.train
    replacing = holds_run(out) and resume_state is None
    if replacing and not config.overwrite:
        raise ConfigError(
            f"output folder {out} holds a previous run; pass --overwrite to replace it "
            f"or --resume to continue it (or choose another --out)"
        )
    if folder is not None:
        folder.check_writable()
    # everything that can fail on the user's input happens before the previous run is touched
    if d.synthetic:
        found = synthetic_data(config, ctx)
        d.data_dir, d.features = found["data_dir"], found["features"]
    d.data_dir, d.features = os.path.abspath(d.data_dir), os.path.abspath(d.features)
    seed_everything(t.seed, deterministic=ctx.device.type == "cpu")

    data = build_data(config)
    vocab = vocab_state(data)
    if resume_state is not None:
        check_compatible(
            resume_state, last, vocab={"question": vocab["question"], "answer": vocab["answer"]}
        )
    model = build_model(config, data)
    num_parameters = sum(p.numel() for p in model.parameters())
    if folder is not None:
        folder.check_space(num_parameters)
    info(
        f"{d.dataset}/{d.task}: {len(data.train)} train, {len(data.val)} val, "
        f"{len(data.test)} test questions; {num_parameters:,} "
        f"parameters; {ctx.world_size} process(es) on {ctx.device}"
        + ("; question only" if t.question_only else ""),
        ctx,
    )
    stored = config.to_dict()
    stored.pop("progress")
    meta = {
        "task": d.task,
        "dataset": d.dataset,
        "args": stored,
        "vocab": {"question": vocab["question"], "answer": vocab["answer"]},
        "qtype_names": vocab["qtype_names"],
    }
    # how the feature file was made (None unless by extract-features): `mspan-pyg answer`
    # extracts a new video the same way
    meta["features_provenance"] = read_provenance(config.data.features)
    if folder is not None and replacing:
        folder.replace_previous()
    events = None
    try:
        if ctx.is_main:  # rank 0 only; log.jsonl stays the record, the events mirror it
            from mspan_pyg.training.tensorboard import open_tensorboard

            first = int(resume_state["epoch"]) + 1 if resume_state is not None else 1
            events = open_tensorboard(t.tensorboard, out, stored, metric_name(config.head), first)
        trainer = Trainer(
            model,
            data.train,
            data.val,
            _collate(),
            t,
            out,
            ctx,
            checkpoint_meta=meta,
            after_checkpoint=folder.keep_new if folder is not None else None,
            after_epoch=events.write_epoch if events is not None else None,
        )
        if resume_state is not None:
            trainer.load_state(resume_state, last)
            if ctx.is_main:
                truncate_log(trainer.log_path, trainer.epoch)
            info(f"resumed from {last} after epoch {trainer.epoch} (step {trainer.step})", ctx)
        trainer.fit()
        barrier(ctx)
        return _test_selected(config, trainer, data, ctx)
    except BaseException:
        if events is not None:
            events.close()
            events = None
        if folder is not None:
            folder.restore_previous()  # only while the new run has no checkpoint yet
        raise
    finally:
        if events is not None:
            events.close()


def _test_selected(config: RunConfig, trainer: Trainer, data: RunData, ctx: DistContext):
    """One test evaluation of the selected checkpoint; writes metrics.json and predictions."""
    out, d = config.out, config.data
    best_path = os.path.join(out, "best.pt")
    best_state = load_checkpoint(best_path)
    load_model_state(trainer.model, best_state, best_path)
    test, preds = trainer.evaluate(data.test, desc="test", return_predictions=True)
    spec = get_dataset(d.dataset)
    test = add_type_groups(test, spec.type_groups)
    name = metric_name(config.head)
    metrics = {
        "task": d.task,
        "dataset": d.dataset,
        "question_only": config.train.question_only,
        "metric": name,
        "val": add_type_groups(best_state["best"]["val"], spec.type_groups),
        "test": test,
        "best_epoch": best_state["best"]["epoch"],
        "epochs": config.train.epochs,
        "seed": config.train.seed,
        "num_questions": {"train": len(data.train), "val": len(data.val), "test": len(data.test)},
        "synthetic": d.synthetic,
        "model_config": dict(trainer.model.config),
        "checkpoint": best_path,
    }
    if ctx.is_main:
        write_json(os.path.join(out, "metrics.json"), metrics)
        answers = decode_predictions(data.test.records, preds, data.answer_vocab)
        write_predictions(os.path.join(out, "test_predictions.jsonl"), data.test.records, answers)
        if spec.write_official is not None:  # e.g. the file NExT-QA's eval_mc.py reads
            spec.write_official(out, d.eval_split or "test", data.test.records, answers)
        run = f"{d.task}{' (question only)' if config.train.question_only else ''}"
        info(
            f"{run}: test {name} {test[name]:.4f} (selected epoch {metrics['best_epoch']}, "
            f"val {name} {metrics['val'][name]:.4f}); wrote {os.path.join(out, 'metrics.json')}",
            ctx,
        )
    return metrics


def _collate():
    from mspan_pyg.data import collate

    return collate


# ----------------------------------------------------------------------------------------------
# From a checkpoint
# ----------------------------------------------------------------------------------------------


@dataclass
class LoadedRun:
    """A trained run rebuilt from its checkpoint (:func:`load_run`).

    Attributes:
        path: the checkpoint file (or pretrained folder).
        config: the run's :class:`RunConfig` (data paths as saved, or as overridden).
        model: the :class:`~mspan_pyg.models.mspan.MSPAN` with the checkpoint's weights, in eval
            mode on the requested device.
        question_vocab, answer_vocab: the vocabularies (``answer_vocab`` is ``None`` unless the
            head is open-ended).
        qtype_names: the question types, in the order the metrics index them.
        state: the raw checkpoint dict.
    """

    path: str
    config: RunConfig
    model: Any
    question_vocab: Any
    answer_vocab: Any
    qtype_names: List[str]
    state: Dict[str, Any]

    @property
    def head(self) -> str:
        return self.model.config["task"]

    def data(self, splits: Sequence[str] = ("test",)) -> RunData:
        """The run's datasets of ``splits`` encoded with its vocabularies (needs the data
        folder and feature file of :attr:`config`)."""
        d = self.config.data
        if not d.data_dir or not os.path.isdir(d.data_dir):
            raise ConfigError(
                f"the checkpoint's data folder {d.data_dir} does not exist; pass --data-dir "
                f"and --features"
            )
        vocab = {
            "question": self.state["vocab"]["question"],
            "answer": self.state["vocab"].get("answer"),
            "qtype_names": self.qtype_names,
        }
        data = build_data(self.config, splits=tuple(splits), vocab_state=vocab)
        check_features(self.state["model_config"], data.store, self.path)
        return data


def load_run(
    checkpoint: str,
    data_dir: Optional[str] = None,
    features: Optional[str] = None,
    device: str = "cpu",
    **overrides,
) -> LoadedRun:
    """Rebuilds a run from ``checkpoint`` (a ``.pt`` file, or a folder of ``save_pretrained`` /
    ``mspan-pyg export``): model (eval mode, on ``device``), configuration and vocabularies.
    ``data_dir`` / ``features`` point it at other data; ``overrides`` change other saved options
    (e.g. ``limit=None``, ``skip_missing=True``).

    Checkpoints of older versions, whose options were a flat dict with other keys, load too.
    """
    from mspan_pyg.data import AnswerVocabulary, Vocabulary

    if os.path.isdir(checkpoint):  # a folder of save_pretrained / `mspan-pyg export`
        from mspan_pyg.training.pretrained import read_pretrained

        state, model = read_pretrained(checkpoint)
    else:
        state = load_checkpoint(checkpoint)
        model = model_from_checkpoint(state, checkpoint)
    config = RunConfig.from_dict(state["args"], strict=False)
    changes = dict(overrides)
    if data_dir is not None:
        changes["data_dir"] = data_dir
    if features is not None:
        changes["features"] = features
    if changes:
        config = config.replace(**changes)
    if features is None and data_dir is not None and not os.path.isfile(config.data.features or ""):
        raise ConfigError(
            "--data-dir given without --features, and the checkpoint's feature file "
            f"{config.data.features} does not exist"
        )
    model = model.to(resolve_device(device)).eval()
    vocab = state["vocab"]
    answer = vocab.get("answer")
    return LoadedRun(
        path=checkpoint,
        config=config,
        model=model,
        question_vocab=Vocabulary.from_dict(vocab["question"]),
        answer_vocab=AnswerVocabulary.from_dict(answer) if answer else None,
        qtype_names=list(state["qtype_names"]),
        state=state,
    )


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
    ``eval_split`` picks another official file as the test split (NExT-QA: ``val`` or ``test``).
    """
    for name, value in (("batch_size", batch_size), ("num_workers", num_workers)):
        check_option(name, value)
    overrides: Dict[str, Any] = {}
    if limit != "checkpoint":
        check_option("limit", limit)
        overrides["limit"] = limit
    if skip_missing is not None:
        overrides["skip_missing"] = skip_missing
    if eval_split is not None:
        overrides["eval_split"] = eval_split
    run = load_run(path, data_dir, features, device=device, **overrides)
    check_eval_split(run.config.data.dataset, eval_split)
    data = run.data((split,))
    t = run.config.train
    ctx = DistContext(device=resolve_device(device))
    seed_everything(t.seed, deterministic=ctx.device.type == "cpu")
    amp = t.amp if not (t.amp == "fp16" and ctx.device.type != "cuda") else None
    result = evaluate(
        run.model,
        getattr(data, split),
        _collate(),
        batch_size=batch_size if batch_size is not None else t.batch_size,
        ctx=ctx,
        qtype_names=data.qtype_names,
        question_only=t.question_only,
        amp=amp,
        num_workers=num_workers,
        desc=split,
        progress=progress,
        return_predictions=return_predictions,
    )
    groups = get_dataset(run.config.data.dataset).type_groups
    if return_predictions:
        return (add_type_groups(result[0], groups),) + tuple(result[1:])
    return add_type_groups(result, groups)
