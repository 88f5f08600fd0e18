"""The training engine: epochs of Adam steps, validation-based model selection, exact resumption.

:class:`Trainer` trains any model that follows the MSPAN interface (``model(appearance, motion,
question, question_len, candidates=, candidates_len=, video_len=)``, ``model.loss(y, answer)``,
``model.predict(y)``, ``model.config``) on datasets whose ``collate_fn`` yields the batch dict of
:func:`mspan_pyg.data.collate` (docs/architecture.md follows one step). Per epoch it writes one
JSON line to ``OUT/log.jsonl``, ``OUT/best.pt`` when the validation metric improves and
``OUT/last.pt`` (everything needed to resume).

Schedule: Adam (paper: lr 1e-4) with ``ReduceLROnPlateau`` on the validation metric
(halve the learning rate after ``patience`` epochs without improvement), after an optional
linear warmup over the first ``warmup_epochs`` (the plateau rule starts once it is over);
optionally the global gradient norm is clipped to ``grad_clip`` before each step.

Data order: epoch ``e`` shuffles with :class:`~torch.utils.data.DistributedSampler` seeded by
``seed`` and ``set_epoch(e)``, so the order is a function of (seed, epoch) alone; with
``W`` processes each process reads every W-th index of the same permutation and the global
batch is the same as one process with ``batch_size`` — which makes 1- and W-process runs
agree and lets a resumed run replay the same order.

Frame samplings: a training set with several feature files of its videos (``num_samplings``,
``--augment-features``) reads one per epoch, :func:`epoch_sampling` of (seed, epoch) alone, so
every process reads the same file and a resumed run the same files as an uninterrupted one.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm.auto import tqdm

from mspan_pyg.data.datasets import loader_workers
from mspan_pyg.errors import ConfigError, MSPANError
from mspan_pyg.files import append_line, atomic_open, read_jsonl
from mspan_pyg.training.checkpoint import (
    capture_rng_state,
    load_model_state,
    restore_rng_state,
    save_checkpoint,
)
from mspan_pyg.training.config import TrainOptions
from mspan_pyg.training.distributed import (
    DistContext,
    ShardSampler,
    all_gather_objects,
    all_reduce_sum,
    barrier,
)
from mspan_pyg.training.metrics import QAMetric, higher_is_better, metric_name
from mspan_pyg.training.prefetch import device_batches, prefetch_enabled
from mspan_pyg.training.prefetch import move_batch as move_batch  # its old home, re-exported


class NonFiniteLossError(MSPANError):
    """The training loss became NaN or infinite; training stops before writing a checkpoint."""


AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


# ----------------------------------------------------------------------------------------------
# Batches
# ----------------------------------------------------------------------------------------------


def forward_batch(
    model: torch.nn.Module, batch: Dict[str, Any], question_only: bool = False
) -> torch.Tensor:
    """Runs ``model`` on a batch dict; ``question_only`` replaces the video by zeros."""
    appearance, motion = batch["appearance"], batch.get("motion")
    if question_only:
        appearance = torch.zeros_like(appearance)
        motion = torch.zeros_like(motion) if motion is not None else None
    return model(
        appearance,
        motion,
        batch["question"],
        batch["question_len"],
        candidates=batch.get("candidates"),
        candidates_len=batch.get("candidates_len"),
        video_len=batch.get("video_len"),
    )


def answered(head: str, answer: torch.Tensor) -> torch.Tensor:
    """Mask of the records that can contribute a loss (open-ended: answer inside the vocabulary)."""
    if head == "open":
        return answer >= 0
    return torch.ones_like(answer, dtype=torch.bool)


def batch_loss(
    model: torch.nn.Module, head: str, y: torch.Tensor, answer: torch.Tensor
) -> Tuple[torch.Tensor, int]:
    """(mean loss over the answerable records, their number). Loss is computed in float32."""
    keep = answered(head, answer)
    n = int(keep.sum())
    y = y.float()
    if n == answer.shape[0]:
        return model.loss(y, answer), n
    if n == 0:
        return y.sum() * 0.0, 0
    return model.loss(y[keep], answer[keep]), n


def autocast_context(device: torch.device, amp: Optional[str]):
    if not amp:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=AMP_DTYPES[amp])


def head_of(model: torch.nn.Module) -> str:
    return model.config["task"]


def epoch_sampling(seed: int, epoch: int, count: int) -> int:
    """The feature file (0..count-1) that epoch ``epoch`` (0-based) of a run seeded ``seed``
    trains on: the files in a shuffled order, reshuffled every ``count`` epochs, so each is used
    equally often. Its own generator leaves the run's random streams untouched."""
    cycle, position = divmod(epoch, count)
    return int(np.random.default_rng((seed, cycle)).permutation(count)[position])


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    dataset: Dataset,
    collate_fn: Callable,
    *,
    batch_size: int,
    ctx: Optional[DistContext] = None,
    qtype_names=None,
    question_only: bool = False,
    amp: Optional[str] = None,
    num_workers: int = 0,
    desc: str = "eval",
    progress: bool = True,
    return_predictions: bool = False,
    prefetch: bool = False,
):
    """Evaluates every record of ``dataset`` exactly once (sharded over processes, no padding).

    Returns the metric summary (all-reduced over processes), and with ``return_predictions``
    also a float64 tensor ``[len(dataset)]`` of predictions in dataset order (on every process).
    ``batch_size`` is per process; ``prefetch`` loads the next batch while the model runs.
    """
    ctx = ctx or DistContext()
    head = head_of(model)
    qtype_names = qtype_names if qtype_names is not None else getattr(dataset, "qtype_names", [])
    metric = QAMetric(head, qtype_names)
    was_training = model.training
    model.eval()
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        collate_fn=collate_fn,
        num_workers=loader_workers(dataset, num_workers),
        sampler=ShardSampler(len(dataset), ctx.rank, ctx.world_size),
        pin_memory=ctx.device.type == "cuda",  # a no-op for batches the dataset pinned
    )
    indices, preds = [], []
    bar = tqdm(
        loader, desc=desc, leave=False, dynamic_ncols=True, disable=not (progress and ctx.is_main)
    )
    for batch in device_batches(bar, ctx.device, prefetch):
        with autocast_context(ctx.device, amp):
            y = forward_batch(model, batch, question_only)
        loss, n = batch_loss(model, head, y, batch["answer"])
        pred = model.predict(y.float())
        metric.update(pred, batch["answer"], batch.get("qtype"), loss_sum=float(loss) * n)
        bar.set_postfix({metric.name: f"{metric.value():.4f}"}, refresh=False)
        if return_predictions:
            indices.append(batch["index"].cpu())
            preds.append(pred.detach().double().cpu())
    model.train(was_training)
    metric.all_reduce(lambda t: all_reduce_sum(t, ctx))
    summary = metric.compute()
    if not return_predictions:
        return summary
    local = (
        torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long),
        torch.cat(preds) if preds else torch.zeros(0, dtype=torch.float64),
    )
    out = torch.full((len(dataset),), float("nan"), dtype=torch.float64)
    for idx, p in all_gather_objects(local, ctx):
        out[idx] = p
    return summary, out


# ----------------------------------------------------------------------------------------------
# Training
# ----------------------------------------------------------------------------------------------


class Trainer:
    """Trains ``model`` on ``train_set``, selects on ``val_set``, checkpoints to ``out_dir``.

    Args:
        model: an MSPAN-like model (not wrapped; the trainer wraps it for DDP / compile).
        train_set, val_set: map-style datasets; ``collate_fn`` makes the batch dict.
        config: the training options (:class:`~mspan_pyg.training.config.TrainOptions`; unset
            ones take the paper preset's values).
        out_dir: where ``log.jsonl``, ``best.pt`` and ``last.pt`` go (rank 0 only).
        ctx: the process group context (one process when omitted).
        checkpoint_meta: stored in every checkpoint (``task``, ``dataset``, ``vocab``, ``args``,
            ``qtype_names``; see :mod:`mspan_pyg.training.checkpoint`).
        after_checkpoint: called (rank 0) each time ``last.pt`` has been written; the runner
            deletes a replaced run once its successor has a checkpoint.
        after_epoch: called (rank 0) with each epoch's ``log.jsonl`` record once it is written
            (the runner mirrors it into TensorBoard).
    """

    def __init__(
        self,
        model: torch.nn.Module,
        train_set: Dataset,
        val_set: Dataset,
        collate_fn: Callable,
        config: TrainOptions,
        out_dir: str,
        ctx: Optional[DistContext] = None,
        checkpoint_meta: Optional[Dict[str, Any]] = None,
        after_checkpoint: Optional[Callable[[], Any]] = None,
        after_epoch: Optional[Callable[[Dict[str, Any]], Any]] = None,
    ):
        self.after_checkpoint = after_checkpoint
        self.after_epoch = after_epoch
        self.ctx = ctx or DistContext()
        self.model = model.to(self.ctx.device)
        self.train_set, self.val_set, self.collate_fn = train_set, val_set, collate_fn
        config = config.with_preset("paper")
        config.validate()
        self.config = config
        self.out_dir = out_dir
        self.meta = dict(checkpoint_meta or {})
        self.head = head_of(model)
        self.metric = metric_name(self.head)
        self.qtype_names = list(self.meta.get("qtype_names", getattr(train_set, "qtype_names", [])))
        if config.batch_size % self.ctx.world_size:
            raise ConfigError(
                f"--batch-size {config.batch_size} is not divisible by the "
                f"{self.ctx.world_size} processes"
            )
        self.local_batch = config.batch_size // self.ctx.world_size
        if config.amp == "fp16" and self.ctx.device.type != "cuda":
            raise ConfigError("--amp fp16 needs --device cuda (on CPU use --amp bf16)")

        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr)
        per_process = math.ceil(len(train_set) / self.ctx.world_size)  # DistributedSampler, no drop
        self.warmup_steps = round(config.warmup_epochs * math.ceil(per_process / self.local_batch))
        self.scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            self.optimizer,
            mode="max" if higher_is_better(self.metric) else "min",
            factor=config.lr_factor,
            patience=config.lr_patience,
        )
        self.scaler = torch.amp.GradScaler("cuda") if config.amp == "fp16" else None

        net = self.model
        if self.ctx.distributed:
            from torch.nn.parallel import DistributedDataParallel

            net = DistributedDataParallel(
                net,
                device_ids=[self.ctx.device.index] if self.ctx.device.type == "cuda" else None,
                find_unused_parameters=True,
            )
        if config.compile:
            # Sizes change from batch to batch (node counts, last batch): compile dynamically.
            # Graph construction opts out of compilation itself (mspan_pyg.graphs); errors surface.
            net = torch.compile(net, dynamic=True)
        self.net = net

        self.epoch = 0  # completed epochs
        self.step = 0  # optimizer steps
        self.best: Dict[str, Any] = {"epoch": None, "value": None, "val": None}

    # -- paths ------------------------------------------------------------------------------
    @property
    def last_path(self) -> str:
        return os.path.join(self.out_dir, "last.pt")

    @property
    def best_path(self) -> str:
        return os.path.join(self.out_dir, "best.pt")

    @property
    def log_path(self) -> str:
        return os.path.join(self.out_dir, "log.jsonl")

    # -- state ------------------------------------------------------------------------------
    def _state(self, rng) -> Dict[str, Any]:
        return {
            **self.meta,
            "model_config": dict(self.model.config),
            "model_state": self.model.state_dict(),
            "epoch": self.epoch,
            "step": self.step,
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": rng,
            "best": dict(self.best),
        }

    def load_state(self, state: Dict[str, Any], path: str = "checkpoint") -> None:
        """Restores everything a ``last.pt`` holds (model, optimizer, scheduler, epoch, RNG...)."""
        load_model_state(self.model, state, path)
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.best = dict(state["best"])
        rng = state.get("rng") or []
        if len(rng) == self.ctx.world_size:
            restore_rng_state(rng[self.ctx.rank])

    def _last_good(self) -> str:
        """Names the checkpoint a stopped run can be resumed from, only when it exists."""
        if self.epoch > 0 and os.path.isfile(self.last_path):
            return f"The last good checkpoint is {self.last_path} (epoch {self.epoch})"
        return "No checkpoint was written (it failed in the first epoch)"

    def _is_better(self, value: float) -> bool:
        if value is None or math.isnan(value):
            return False
        if self.best["value"] is None:
            return True
        return (
            value > self.best["value"]
            if higher_is_better(self.metric)
            else value < self.best["value"]
        )

    # -- loop -------------------------------------------------------------------------------
    @property
    def num_samplings(self) -> int:
        """Feature files the training set can read (several: one per epoch)."""
        return getattr(self.train_set, "num_samplings", 1)

    def sampling(self, epoch: int) -> int:
        """The feature file epoch ``epoch`` (0-based) trains on (:func:`epoch_sampling`)."""
        return epoch_sampling(self.config.seed, epoch, self.num_samplings)

    def train_epoch(self) -> Dict[str, Any]:
        """One pass over the training set; returns the epoch's (all-reduced) training metrics."""
        cfg, ctx = self.config, self.ctx
        epoch = self.epoch + 1  # 1-based, for messages
        sampler = DistributedSampler(
            self.train_set,
            num_replicas=ctx.world_size,
            rank=ctx.rank,
            shuffle=True,
            seed=cfg.seed,
            drop_last=False,
        )
        sampler.set_epoch(self.epoch)
        if self.num_samplings > 1:  # before the loader: its workers copy the dataset
            self.train_set.use_sampling(self.sampling(self.epoch))
        loader = DataLoader(
            self.train_set,
            batch_size=self.local_batch,
            sampler=sampler,
            collate_fn=self.collate_fn,
            num_workers=loader_workers(self.train_set, cfg.num_workers),
            generator=torch.Generator().manual_seed(cfg.seed + self.epoch),
            pin_memory=ctx.device.type == "cuda",  # a no-op for batches the dataset pinned
        )
        metric = QAMetric(self.head, self.qtype_names)
        self.model.train()
        bar = tqdm(
            loader,
            desc=f"epoch {epoch}/{cfg.epochs}",
            leave=False,
            dynamic_ncols=True,
            disable=not (cfg.progress and ctx.is_main),
        )
        running = torch.zeros(2, dtype=torch.float64)  # summed loss, records (this process)
        prefetch = prefetch_enabled(cfg.prefetch, ctx.device)
        for i, batch in enumerate(device_batches(bar, ctx.device, prefetch)):
            with autocast_context(ctx.device, cfg.amp):
                y = forward_batch(self.net, batch, cfg.question_only)
            loss, n = batch_loss(self.model, self.head, y, batch["answer"])
            finite = torch.tensor([0.0 if torch.isfinite(loss.detach()).item() else 1.0])
            if ctx.distributed:
                finite = all_reduce_sum(finite, ctx)
            if finite.item() > 0:
                value = loss.item() if ctx.world_size == 1 else "not finite"
                raise NonFiniteLossError(
                    f"training loss is {value} at epoch {epoch}, "
                    f"step {self.step + 1} (batch {i + 1} of the epoch); stopped without saving. "
                    f"{self._last_good()}; try a lower --lr or --amp off"
                )
            self.optimizer.zero_grad(set_to_none=True)
            if self.step < self.warmup_steps:
                for group in self.optimizer.param_groups:
                    group["lr"] = cfg.lr * (self.step + 1) / self.warmup_steps
            (loss if self.scaler is None else self.scaler.scale(loss)).backward()
            if cfg.grad_clip > 0:
                if self.scaler is not None:  # clip the true gradient, not the scaled one
                    self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
            if self.scaler is not None:
                self.scaler.step(self.optimizer)
                self.scaler.update()
            else:
                self.optimizer.step()
            self.step += 1
            with torch.no_grad():
                metric.update(
                    self.model.predict(y.detach().float()),
                    batch["answer"],
                    batch.get("qtype"),
                    loss_sum=float(loss) * n,
                )
                running += torch.tensor([float(loss) * n, n], dtype=torch.float64)
            bar.set_postfix(
                {
                    "loss": f"{running[0] / max(running[1], 1):.4f}",
                    metric.name: f"{metric.value():.4f}",
                },
                refresh=False,
            )
        metric.all_reduce(lambda t: all_reduce_sum(t, ctx))
        return metric.compute()

    def evaluate(self, dataset: Dataset, desc: str = "eval", return_predictions: bool = False):
        return evaluate(
            self.model,
            dataset,
            self.collate_fn,
            batch_size=self.local_batch,
            ctx=self.ctx,
            qtype_names=self.qtype_names,
            question_only=self.config.question_only,
            amp=self.config.amp,
            num_workers=self.config.num_workers,
            desc=desc,
            progress=self.config.progress,
            return_predictions=return_predictions,
            prefetch=prefetch_enabled(self.config.prefetch, self.ctx.device),
        )

    def fit(self) -> Dict[str, Any]:
        """Trains from ``self.epoch`` to ``config.epochs``; returns the ``best`` record."""
        cfg, ctx = self.config, self.ctx
        if ctx.is_main:
            os.makedirs(self.out_dir, exist_ok=True)
        while self.epoch < cfg.epochs:
            start = time.time()
            train = self.train_epoch()
            train_s = time.time() - start
            val = self.evaluate(self.val_set, desc=f"val {self.epoch + 1}")
            value = val[self.metric]
            if self.step >= self.warmup_steps:  # a plateau during warmup is no reason to decay
                self.scheduler.step(value if not math.isnan(value) else 0.0)
            self.epoch += 1
            improved = self._is_better(value)
            if improved:
                self.best = {"epoch": self.epoch, "value": value, "val": val}
            rng = all_gather_objects(capture_rng_state(), ctx)
            if ctx.is_main:
                record = {
                    "epoch": self.epoch,
                    "step": self.step,
                    "lr": self.optimizer.param_groups[0]["lr"],
                    "train": train,
                    "val": val,
                    "best_epoch": self.best["epoch"],
                    "time_s": round(time.time() - start, 3),
                    # training questions per second, all processes (validation not counted)
                    "samples_per_s": round(train.get("count", 0) / max(train_s, 1e-9), 2),
                }
                if self.num_samplings > 1:  # the file this epoch trained on
                    record["features"] = self.train_set.features.path
                append_line(self.log_path, json.dumps(record))
                if self.after_epoch is not None:
                    self.after_epoch(record)
                state = self._state(rng)
                if improved:
                    save_checkpoint(state, self.best_path)
                save_checkpoint(state, self.last_path)
                if self.after_checkpoint is not None:
                    self.after_checkpoint()
                if cfg.progress:
                    loss = train.get("loss", float("nan"))
                    tqdm.write(
                        f"epoch {self.epoch}/{cfg.epochs}  train loss {loss:.4f} "
                        f"{self.metric} {train[self.metric]:.4f}  val {self.metric} {value:.4f}"
                        f"{'  *best*' if improved else ''}"
                    )
            barrier(ctx)
        return self.best


def read_log(out_dir: str) -> List[Dict[str, Any]]:
    """The epoch records of ``OUT/log.jsonl`` (a line cut by a kill is skipped)."""
    path = os.path.join(out_dir, "log.jsonl")
    if not os.path.isfile(path):
        raise ConfigError(f"{path} does not exist: not a training output folder")
    return read_jsonl(path)


def truncate_log(log_path: str, epoch: int) -> None:
    """Drops log lines of epochs after ``epoch`` (written before a kill, replayed on resume)."""
    if not os.path.exists(log_path):
        return
    keep = [r for r in read_jsonl(log_path) if r.get("epoch", 0) <= epoch]
    with atomic_open(log_path, "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in keep)
