"""The configuration of a training run: one typed object, its presets, flags and checks.

:class:`RunConfig` holds every option of a run in three sections (:class:`DataOptions`,
:class:`ModelOptions`, :class:`TrainOptions`) plus the output folder. Everything else is derived
from these dataclasses:

- the command-line flags (:func:`add_config_arguments`; each field's ``help`` is its flag's);
- the options saved in a checkpoint (:meth:`RunConfig.to_dict`, read back by
  :meth:`RunConfig.from_dict`, which also reads the flat option dicts of older checkpoints);
- the ablation rows (overrides of these field names, :mod:`mspan_pyg.analysis.ablation`).

A field whose default is ``None`` takes its value from a **preset** when the run is resolved
(:meth:`RunConfig.resolve`): :data:`PAPER` on real data (``--data-dir``) and :data:`SYNTHETIC` on
the built-in synthetic data; ``--preset`` picks one explicitly. :meth:`RunConfig.validate` is the
one place where options are checked.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Union

from mspan_pyg.errors import ConfigError
from mspan_pyg.tasks import MC_QUERIES, TGIF_TASKS

#: the paper's setting (Guo et al., ACL 2021, §4.1), for real data. Where the paper is silent
#: the values follow the authors' public code: one group of weights per iteration
#: (``share_iterations=False``, 96 M parameters at this size; ``MSPAN``'s own default shares them,
#: 44 M), dropout 0.1, a 3-layer question BiLSTM, no warmup and no clipping. The batch size is the
#: dataset's (:class:`~mspan_pyg.data.registry.DatasetSpec`).
PAPER: Dict[str, Any] = dict(
    epochs=25,
    lr=1e-4,
    lr_patience=2,
    warmup_epochs=0.0,
    grad_clip=0.0,
    num_scales=8,
    num_iterations=3,
    visual_dim=2048,
    module_dim=512,
    word_dim=300,
    dropout=0.1,
    question_layers=3,
    share_iterations=False,
    mc_query="question",
)
#: the built-in synthetic data: a small model (K = 4, T = 2) that learns every task in a few CPU
#: minutes. Its data has few questions, so a higher rate needs a warmup and clipping to stay
#: stable, and the learning comes in slow phases, which a long plateau patience does not mistake
#: for the end (CHANGELOG.md has the measurements behind each value).
SYNTHETIC: Dict[str, Any] = dict(
    epochs=30,
    lr=1e-3,
    lr_patience=5,
    warmup_epochs=2.0,
    grad_clip=1.0,
    num_scales=4,
    num_iterations=2,
    visual_dim=128,
    module_dim=64,
    word_dim=64,
    dropout=0.0,
    question_layers=3,
    share_iterations=True,
    mc_query="question",
    batch_size=32,
    num_videos=2500,
)
PRESETS: Dict[str, Dict[str, Any]] = {"paper": PAPER, "synthetic": SYNTHETIC}
#: feature sizes of the generated synthetic videos (a real feature file sets its own)
SYNTHETIC_FEATURES: Dict[str, int] = dict(appearance_dim=64, motion_dim=32)
#: built-in tasks that need more than ``SYNTHETIC["num_videos"]`` questions: action compares the
#: counts of three candidates and overfits fewer videos
SYNTHETIC_TASK_VIDEOS: Dict[str, int] = {"action": 7500}

#: options a resumed run may change (``--resume``): the epochs to extend to, where the data and
#: the run are, and how it runs. Every other option comes from the checkpoint.
RESUME_CHANGEABLE = (
    "epochs",
    "device",
    "num_workers",
    "prefetch",
    "features_in_memory",
    "progress",
    "compile",
    "tensorboard",
    "data_dir",
    "features",
    "glove",
    "out",
    "resume",
    "overwrite",
    "preset",
)
STRUCTURES = ("full", "top_down", "bottom_up", "dense")
POOLS = ("max", "mean")
AMP_MODES = ("bf16", "fp16")


def option(default: Any = None, help: Optional[str] = None, **argparse_kwargs) -> Any:
    """A config field; with ``help`` it is also a command-line flag (``--field-name``).

    ``argparse_kwargs`` go to ``add_argument`` (``flag=`` renames the flag, ``dest`` stays the
    field name). ``help`` may use ``{preset}``, replaced by the presets' values.
    """
    meta = dict(argparse_kwargs, help=help) if help is not None else {}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class DataOptions:
    dataset: str = option(
        "tgif",
        "a registered dataset: tgif | msvd | msrvtt | nextqa | activitynet | own (default: tgif)",
    )
    task: Optional[str] = option(
        None,
        "TGIF-QA: action | transition | count | frameqa; own questions: open | count | "
        "multichoice (default: multichoice with candidates, else open); all: every task beside "
        "its question-only baseline (the default without --data-dir, except MSVD/MSRVTT-QA)",
    )
    data_dir: Optional[str] = option(
        None, "annotation folder; omit for the built-in synthetic data"
    )
    features: Optional[str] = option(None, "HDF5 feature file (/appearance, /motion, /ids)")
    augment_features: Optional[List[str]] = option(
        None,
        "comma-separated feature files of the same videos from other frame samplings (e.g. "
        "extract-features --sampling random --sampling-seed 1, 2, ...): each training epoch reads "
        "one of --features and these, in a shuffled cycle seeded by --seed; validation and test "
        "read --features",
        metavar="FILE[,FILE...]",
    )
    glove: Optional[str] = option(None, "GloVe text file to initialise word embeddings")
    num_frames: Optional[int] = option(None, "frames per video (default: all stored)", type=int)
    features_in_memory: str = option(
        "auto",
        "load the feature file into memory once: auto (files under 1 GiB) | yes | no (read each "
        "batch from the file; memory stays bounded for files larger than RAM)",
    )
    features_dtype: str = option(
        "auto",
        "dtype of the features in a batch: float32 | float16 (keeps a float16 file's values as "
        "stored, halves the copies, and converts to float32 on the device) | auto (float16 for a "
        "float16 file on a CUDA device, else float32)",
    )
    limit: Optional[int] = option(None, "keep the first N questions of each split", type=int)
    skip_missing: bool = option(False, "drop questions whose video has no features")
    val_fraction: float = option(
        0.1,
        "datasets without a validation split (TGIF-QA): share of training videos held out for "
        "model selection (default 0.1)",
        type=float,
    )
    eval_split: Optional[str] = option(
        None,
        "datasets with several evaluation files (NExT-QA): the official file evaluated as the "
        "test split, val | test (default val; the model is selected on held-out training videos)",
    )
    num_videos: Optional[int] = option(
        None,
        "synthetic data: videos (= questions) per task (default {synthetic}; action "
        f"{SYNTHETIC_TASK_VIDEOS['action']})",
        type=int,
    )
    #: set by :meth:`RunConfig.resolve`: the run uses the built-in synthetic data
    synthetic: bool = False
    #: where the synthetic data goes (default OUT/data); several runs can share one folder
    synthetic_dir: Optional[str] = None
    #: tasks generated into ``synthetic_dir`` (default: the run's task)
    synthetic_tasks: Optional[List[str]] = None


@dataclass
class ModelOptions:
    num_scales: Optional[int] = option(None, "K ({preset})", type=int)
    num_iterations: Optional[int] = option(None, "T ({preset})", type=int)
    visual_dim: Optional[int] = option(None, "{preset}", type=int)
    module_dim: Optional[int] = option(None, "{preset}", type=int)
    word_dim: Optional[int] = option(None, "{preset}", type=int)
    structure: str = option("full", "full | top_down | bottom_up | dense")
    pool: str = option("max", "clip pooling: max | mean")
    clip_stride: Union[str, int, List[int]] = option(
        "1", "1 | scale | comma-separated list of K ints"
    )
    use_gcn: bool = option(
        True,
        "skip the same-scale GCN (an ablation of the paper's Table 4)",
        flag="--no-gcn",
        action="store_false",
    )
    share_iterations: Optional[bool] = option(
        None,
        "one group of weights for all iterations ({preset}; MSPAN's own default shares)",
        action=argparse.BooleanOptionalAction,
    )
    scale_scores: bool = option(
        False, "divide cross-scale attention scores by sqrt(hidden size) (off in the paper)"
    )
    gradient_checkpointing: bool = option(
        False, "recompute each iteration in the backward pass: less memory for long videos"
    )
    dropout: Optional[float] = option(None, "{preset}", type=float)
    question_layers: Optional[int] = option(None, "BiLSTM layers ({preset})", type=int)
    mc_query: Optional[str] = option(
        None,
        "multiple choice: what queries the reasoning, question (the paper: a candidate meets "
        "the video only at the read-out) | question+candidate (each candidate joined to the "
        "question queries the cross-scale attention and the read-out; R times the cost) "
        "({preset})",
    )


@dataclass
class TrainOptions:
    epochs: Optional[int] = option(None, "{preset}", type=int)
    batch_size: Optional[int] = option(
        None,
        "global batch size (real data: the dataset's, TGIF-QA 64, MSVD/MSRVTT 128; "
        "synthetic {synthetic})",
        type=int,
    )
    lr: Optional[float] = option(None, "Adam learning rate ({preset})", type=float)
    lr_patience: Optional[int] = option(
        None,
        "halve the learning rate after this many epochs without a better validation metric "
        "({preset})",
        type=int,
    )
    #: ReduceLROnPlateau's factor
    lr_factor: float = 0.5
    warmup_epochs: Optional[float] = option(
        None, "linear learning-rate warmup over the first E epochs ({preset})", type=float
    )
    grad_clip: Optional[float] = option(
        None, "clip the global gradient norm to this value, 0 = off ({preset})", type=float
    )
    question_only: bool = option(False, "blind baseline: zero the video input")
    seed: int = option(0, "random seed (default 0)", type=int)
    device: str = option("cpu", "cpu | cuda")
    num_workers: int = option(0, "DataLoader workers (default 0)", type=int)
    prefetch: str = option(
        "auto",
        "load the next batch (and copy it to the device) while the model computes: auto (on "
        "with CUDA) | on | off",
    )
    amp: Optional[str] = option(
        None, "autocast: bf16 (default when given) or fp16 (CUDA only)", nargs="?", const="bf16"
    )
    compile: bool = option(False, "torch.compile the model")
    tensorboard: Optional[str] = option(
        None,
        "folder of TensorBoard event files (default: OUT/tb when tensorboard is installed; "
        "off: none)",
    )
    progress: bool = option(True, "no progress bars", flag="--no-progress", action="store_false")

    def with_preset(self, preset: str = "paper") -> "TrainOptions":
        """A copy whose unset (``None``) options take ``preset``'s values."""
        values = {f.name: PRESETS[preset].get(f.name) for f in fields(self)}
        return dataclasses.replace(
            self, **{k: v for k, v in values.items() if getattr(self, k) is None and v is not None}
        )

    def validate(self) -> None:
        """Checks the training options (raises :class:`ConfigError`); presets must be filled."""
        for f in fields(self):
            check_option(f.name, getattr(self, f.name))
        if self.amp not in (None,) + AMP_MODES:
            raise ConfigError(f"--amp must be bf16 or fp16, got {self.amp!r}")
        if self.device not in ("cpu", "cuda") and not str(self.device).startswith("cuda:"):
            raise ConfigError(f"unknown --device {self.device!r}; valid: cpu, cuda")


SECTIONS = {"data": DataOptions, "model": ModelOptions, "train": TrainOptions}


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _at_least(least: int) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if int(value) < least:
            raise ConfigError(f"{_flag(name)} must be at least {least}, got {value}")

    return check


def _non_negative(name: str, value: Any, note: str = "") -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{_flag(name)} must be a finite number, got {value}")
    if value < 0:
        raise ConfigError(f"{_flag(name)} must be >= 0{note}, got {value}")


def _positive(name: str, value: Any) -> None:
    if not math.isfinite(value):
        raise ConfigError(f"{_flag(name)} must be a finite number, got {value}")
    if not value > 0:
        raise ConfigError(f"{_flag(name)} must be positive, got {value}")


def _probability(name: str, value: Any) -> None:
    if not 0.0 <= value < 1.0:  # also false for NaN
        raise ConfigError(f"{_flag(name)} must be in [0, 1), got {value}")


#: seeds must fit torch's 64-bit generator after adding the epoch (engine: seed + epoch)
MAX_SEED = 2**63 - 1


def _seed(name: str, value: Any) -> None:
    if not 0 <= int(value) <= MAX_SEED:
        raise ConfigError(f"--seed must be in 0..{MAX_SEED}, got {value}")


#: the check of each numeric option (value already filled from the preset; None = unset)
OPTION_CHECKS: Dict[str, Callable[[str, Any], None]] = {
    "epochs": _at_least(1),
    "batch_size": _at_least(1),
    "num_scales": _at_least(1),
    "visual_dim": _at_least(1),
    "module_dim": _at_least(1),
    "word_dim": _at_least(1),
    "question_layers": _at_least(1),
    "num_iterations": _non_negative,
    "lr": _positive,
    "lr_patience": _non_negative,
    "warmup_epochs": _non_negative,
    "grad_clip": lambda n, v: _non_negative(n, v, " (0: off)"),
    "num_workers": _non_negative,
    "seed": _seed,
    "dropout": _probability,
    "limit": _at_least(1),
    "num_frames": _at_least(1),
    "num_videos": _at_least(2),
}


def _one_of(*values: str) -> Callable[[str, Any], None]:
    def check(name: str, value: Any) -> None:
        if value not in values:
            raise ConfigError(f"{_flag(name)} must be {' | '.join(values)}, got {value!r}")

    return check


OPTION_CHECKS.update(
    features_in_memory=_one_of("auto", "yes", "no"),
    features_dtype=_one_of("auto", "float32", "float16"),
    prefetch=_one_of("auto", "on", "off"),
)


def check_option(name: str, value: Any) -> None:
    """Raises :class:`ConfigError` (naming the flag) when ``value`` is not valid for option
    ``name``; the one check of each option, used by :meth:`RunConfig.validate` and by the
    commands that take some of the options themselves (``evaluate``)."""
    check = OPTION_CHECKS.get(name)
    if check is not None and value is not None:
        check(name, value)


def parse_clip_stride(value: Union[str, int, Sequence[int], None]) -> Union[int, str, List[int]]:
    """``"1"`` -> 1, ``"scale"`` -> "scale", ``"1,2,2,4"`` -> [1, 2, 2, 4]."""
    if value is None:
        return 1
    if isinstance(value, (int, list, tuple)):
        return list(value) if isinstance(value, tuple) else value
    value = str(value).strip()
    if value == "scale":
        return value
    try:
        parts = [int(p) for p in value.split(",")]
    except ValueError:
        raise ConfigError(
            f"--clip-stride must be an integer, 'scale' or a comma-separated list of "
            f"integers (one per scale), got {value!r}"
        ) from None
    if any(p < 1 for p in parts):
        raise ConfigError(f"--clip-stride values must be >= 1, got {value!r}")
    return parts[0] if len(parts) == 1 else parts


def parse_augment_features(value: Union[str, Sequence[str], None]) -> Optional[List[str]]:
    """``--augment-features``: ``"a.h5,b.h5"`` (or a list) -> their absolute paths; ``None``
    stays ``None`` (unset)."""
    if value is None:
        return None
    parts = value.split(",") if isinstance(value, str) else list(value)
    parts = [os.fspath(p).strip() for p in parts]
    if not parts or any(not p for p in parts):
        raise ConfigError(f"--augment-features has an empty file name in {value!r}")
    return [os.path.abspath(p) for p in parts]


def synthetic_num_videos(task: str, given: Optional[int] = None) -> int:
    """Videos (one question each) of a built-in task: ``given`` when set, else the task default."""
    if given is not None:
        return int(given)
    return SYNTHETIC_TASK_VIDEOS.get(task, SYNTHETIC["num_videos"])


@dataclass
class RunConfig:
    """Every option of a training run. ``RunConfig.from_dict({"task": "count", ...})`` builds
    one from flat option names; :meth:`resolve` fills the presets and validates."""

    data: DataOptions = field(default_factory=DataOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    train: TrainOptions = field(default_factory=TrainOptions)
    out: Optional[str] = option(None, "output folder (default runs/<dataset>_<task>)")
    resume: bool = option(
        False,
        "continue the run in --out from last.pt with the options it was started with; only "
        "--epochs (to extend to), --device, --num-workers, --no-progress, --compile, "
        "--tensorboard, --data-dir, --features and --glove may differ (a contradicting option "
        "is an error)",
    )
    overwrite: bool = option(False, "replace a previous run in --out")
    preset: Optional[str] = option(
        None,
        "defaults of the unset options: paper | synthetic (default: paper with --data-dir, "
        "synthetic without)",
    )

    # -- flat option names (command line, checkpoints, ablation rows) ----------------------
    @staticmethod
    def option_names() -> List[str]:
        """Every flat option name, section fields first."""
        names = [f.name for cls in SECTIONS.values() for f in fields(cls)]
        return names + [f.name for f in fields(RunConfig) if f.name not in SECTIONS]

    def to_dict(self) -> Dict[str, Any]:
        """The flat ``{option: value}`` dict (JSON-able; what a checkpoint stores as ``args``)."""
        flat: Dict[str, Any] = {}
        for name in SECTIONS:
            flat.update(dataclasses.asdict(getattr(self, name)))
        flat.update({k: getattr(self, k) for k in ("out", "resume", "overwrite", "preset")})
        return flat

    @classmethod
    def from_dict(cls, options: Dict[str, Any], strict: bool = True) -> "RunConfig":
        """A config from flat option names; unknown names raise :class:`ConfigError` unless
        ``strict=False`` (older checkpoints' option dicts) drops them."""
        options = dict(options)
        known = set(cls.option_names())
        unknown = sorted(set(options) - known)
        if unknown and strict:
            raise ConfigError(f"unknown option(s) {', '.join(unknown)}")
        sections = {
            name: sec(**{f.name: options[f.name] for f in fields(sec) if f.name in options})
            for name, sec in SECTIONS.items()
        }
        top = {k: options[k] for k in ("out", "resume", "overwrite", "preset") if k in options}
        return cls(**sections, **top)

    def replace(self, **options) -> "RunConfig":
        """A copy with flat options changed (e.g. ``config.replace(task="count", seed=1)``)."""
        return RunConfig.from_dict({**self.to_dict(), **options})

    def __getitem__(self, name: str) -> Any:
        """Flat read access, ``config["lr"]``; the sections are the typed way."""
        for section in SECTIONS:
            obj = getattr(self, section)
            if hasattr(obj, name):
                return getattr(obj, name)
        if name in ("out", "resume", "overwrite", "preset"):
            return getattr(self, name)
        raise KeyError(name)

    def resumed(self, stored: Dict[str, Any], given: Iterable[str], path: str) -> "RunConfig":
        """The configuration of a run resumed from the checkpoint ``path``: the checkpoint's
        options (``stored``, its ``args``) with the options of :data:`RESUME_CHANGEABLE` that
        were ``given`` now (``self`` is the resolved configuration of the command).

        Raises :class:`ConfigError` naming both values when a given option contradicts the
        checkpoint, or when ``--epochs`` is below the epochs it has finished.
        """
        stored = {k: v for k, v in stored.items() if k in self.option_names()}
        given = set(given) & set(config_fields())
        for name in sorted(given - set(RESUME_CHANGEABLE)):
            if name in stored and not _same_option(name, self[name], stored[name]):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(
                    f"{flag} {_show(self[name])} contradicts the checkpoint {path}, trained with "
                    f"{flag} {_show(stored[name])} (a resumed run keeps the options it was started "
                    f"with; --help of --resume lists those that may change)"
                )
        merged = dict(stored)
        for name in RESUME_CHANGEABLE:
            if name in given or name not in stored or name in ("out", "resume", "overwrite"):
                merged[name] = self[name]
        return RunConfig.from_dict(merged).resolve()

    # -- presets and validation ------------------------------------------------------------
    def resolve(self) -> "RunConfig":
        """A copy with the dataset's task, the preset's values and the output folder filled in,
        validated. Resolving a resolved config changes nothing."""
        from mspan_pyg.data.registry import get_dataset

        cfg = RunConfig.from_dict(self.to_dict())
        d, m, t = cfg.data, cfg.model, cfg.train
        spec = get_dataset(d.dataset)
        d.task = check_task(d.dataset, d.task, d.data_dir)
        if spec.eval_splits and d.eval_split is None:
            d.eval_split = spec.eval_splits[0]
        if not d.data_dir:
            d.synthetic = True
        if not d.synthetic and not d.features:
            raise ConfigError("--data-dir needs --features FILE (the HDF5 feature file)")
        preset = cfg.preset or ("synthetic" if d.synthetic else "paper")
        if preset not in PRESETS:
            raise ConfigError(f"unknown --preset {preset!r}; valid: {', '.join(PRESETS)}")
        values = dict(PRESETS[preset])
        if preset == "synthetic":
            values.update(spec.synthetic_defaults)  # e.g. the epochs its built-in data needs
        values.setdefault("batch_size", spec.batch_size)
        values.pop("num_videos", None)  # a per-task default: synthetic_num_videos()
        for section in (d, m, t):
            for f in fields(section):
                if getattr(section, f.name) is None and f.name in values:
                    setattr(section, f.name, values[f.name])
        if d.synthetic and t.batch_size is None:
            t.batch_size = SYNTHETIC["batch_size"]
        if cfg.out is None:
            cfg.out = os.path.join(
                "runs", f"{d.dataset}_{d.task}" + ("_question_only" if t.question_only else "")
            )
        cfg.out = os.path.abspath(cfg.out)
        d.augment_features = parse_augment_features(d.augment_features)
        cfg.validate()
        return cfg

    def validate(self) -> None:
        """Every check of the options (raises :class:`ConfigError` with the flag's name)."""
        d, m, t = self.data, self.model, self.train
        for section in (d, m):
            for f in fields(section):
                check_option(f.name, getattr(section, f.name))
        t.validate()
        from mspan_pyg.data.registry import get_dataset

        spec = get_dataset(d.dataset)
        check_eval_split(d.dataset, d.eval_split)
        if spec.has_val_split is not True and not 0.0 < d.val_fraction < 1.0:
            raise ConfigError(
                f"--val-fraction must be in (0, 1) ({d.dataset} selects on held-out training "
                f"videos), got {d.val_fraction}"
            )
        if m.structure not in STRUCTURES:
            raise ConfigError(
                f"unknown --structure {m.structure!r}; valid: {', '.join(STRUCTURES)}"
            )
        if m.pool not in POOLS:
            raise ConfigError(f"unknown --pool {m.pool!r}; valid: {', '.join(POOLS)}")
        if m.mc_query is not None and m.mc_query not in MC_QUERIES:
            raise ConfigError(f"unknown --mc-query {m.mc_query!r}; valid: {', '.join(MC_QUERIES)}")
        parse_clip_stride(m.clip_stride)

    @property
    def head(self) -> str:
        """The answer head of the run's (dataset, task)."""
        from mspan_pyg.data.registry import get_dataset

        return get_dataset(self.data.dataset).head(self.data.task)


def _same_option(name: str, a: Any, b: Any) -> bool:
    if name == "clip_stride":
        return parse_clip_stride(a) == parse_clip_stride(b)
    return a == b


def _show(value: Any) -> str:
    return "not set" if value is None else str(value)


def given_options(options: Union["RunConfig", Dict[str, Any]]) -> List[str]:
    """The options a caller gave: a dict's keys with a value, or a config's values that differ
    from the defaults (the command line knows exactly; see ``cli.main``)."""
    if isinstance(options, dict):
        return [k for k, v in options.items() if v is not None]
    default = RunConfig().to_dict()
    return [k for k, v in options.to_dict().items() if v != default.get(k)]


def check_eval_split(dataset: str, eval_split: Optional[str]) -> None:
    """``--eval-split`` must name one of the dataset's evaluation files (``None``: unset)."""
    from mspan_pyg.data.registry import get_dataset

    spec = get_dataset(dataset)
    if eval_split is None:
        return
    if not spec.eval_splits:
        raise ConfigError(
            f"--eval-split: {dataset} has one test split (the option is for datasets with "
            "several evaluation files, e.g. nextqa)"
        )
    if eval_split not in spec.eval_splits:
        raise ConfigError(
            f"--eval-split must be one of {', '.join(spec.eval_splits)}, got {eval_split!r}"
        )


def check_task(dataset: str, task: Optional[str], data_dir: Optional[str] = None) -> str:
    """The task of a run; a one-task dataset (MSVD-QA's ``"qa"``) needs no ``--task``, and a
    dataset with a ``default_task`` (own questions) infers it from ``data_dir``."""
    from mspan_pyg.data.registry import get_dataset

    spec = get_dataset(dataset)
    if task is None and spec.default_task is not None:
        task = spec.default_task(data_dir)
    if spec.single_task is not None:
        if task not in (None, spec.single_task):
            kind = {"open": "open-ended", "multichoice": "multiple-choice"}.get(
                spec.head(spec.single_task), spec.head(spec.single_task)
            )
            raise ConfigError(
                f"{dataset} has one {kind} task; drop --task {task!r} "
                f"(or use --task {spec.single_task})"
            )
        return spec.single_task
    if task not in spec.tasks:
        what = "TGIF-QA task" if dataset == "tgif" else f"{dataset} task"
        raise ConfigError(f"unknown {what} {task!r}; valid tasks: {', '.join(spec.tasks)}")
    return task


# ----------------------------------------------------------------------------------------------
# Command-line flags
# ----------------------------------------------------------------------------------------------


def _preset_text(name: str, help: str) -> str:
    paper = PAPER.get(name)
    synthetic = SYNTHETIC.get(name)

    def fmt(v):
        return f"{v:g}" if isinstance(v, float) else str(v)

    text = f"paper {fmt(paper)}; synthetic {fmt(synthetic)}" if paper is not None else ""
    return help.replace("{preset}", text).replace("{synthetic}", fmt(synthetic))


def config_fields() -> Dict[str, "dataclasses.Field"]:
    """``{option name: dataclass field}`` of every option that is a command-line flag."""
    out = {}
    for cls in list(SECTIONS.values()) + [RunConfig]:
        for f in fields(cls):
            if f.metadata.get("help") is not None:
                out[f.name] = f
    return out


_GROUPS = {"data": DataOptions, "model": ModelOptions, "training": TrainOptions}


def add_config_arguments(
    parser: argparse.ArgumentParser,
    names: Optional[Iterable[str]] = None,
    defaults: Optional[Dict[str, Any]] = None,
    help_override: Optional[Dict[str, str]] = None,
    suppress_defaults: bool = False,
) -> None:
    """Adds the flags of the options ``names`` (default: all) to ``parser``, grouped by section.

    ``defaults`` replaces a flag's default (e.g. an example script fixing ``dataset``);
    ``help_override`` replaces a help text. ``suppress_defaults`` leaves the options that were
    not given out of the parsed namespace (which options a command gave: ``--resume``).
    """
    every = config_fields()
    wanted = list(every) if names is None else list(names)
    defaults, help_override = dict(defaults or {}), dict(help_override or {})
    groups: Dict[str, Any] = {}
    for name in wanted:
        f = every[name]
        group_name = next((g for g, cls in _GROUPS.items() if f in fields(cls)), "training")
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(group_name)
        kwargs = {k: v for k, v in f.metadata.items() if k not in ("flag", "help")}
        default = defaults.get(name, f.default)
        if default is dataclasses.MISSING:
            default = None
        if suppress_defaults:
            default = argparse.SUPPRESS
        if kwargs.get("action") is None and isinstance(f.default, bool):
            kwargs["action"] = "store_true"
        help_text = help_override.get(name, _preset_text(name, f.metadata["help"]))
        flag = f.metadata.get("flag", "--" + name.replace("_", "-"))
        groups[group_name].add_argument(flag, dest=name, default=default, help=help_text, **kwargs)


def config_from_namespace(ns: argparse.Namespace) -> RunConfig:
    """The (unresolved) :class:`RunConfig` of parsed flags; other attributes are ignored."""
    names = set(RunConfig.option_names())
    return RunConfig.from_dict({k: v for k, v in vars(ns).items() if k in names})


def as_config(options: Union[RunConfig, Dict[str, Any]]) -> RunConfig:
    """A :class:`RunConfig` from itself or from a flat option dict."""
    return options if isinstance(options, RunConfig) else RunConfig.from_dict(options)


__all__ = [
    "RunConfig",
    "DataOptions",
    "ModelOptions",
    "TrainOptions",
    "PAPER",
    "SYNTHETIC",
    "PRESETS",
    "SYNTHETIC_FEATURES",
    "SYNTHETIC_TASK_VIDEOS",
    "TGIF_TASKS",
    "add_config_arguments",
    "config_from_namespace",
    "as_config",
    "check_task",
    "check_eval_split",
    "check_option",
    "given_options",
    "RESUME_CHANGEABLE",
    "parse_clip_stride",
    "parse_augment_features",
    "synthetic_num_videos",
]
