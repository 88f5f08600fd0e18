"""TensorBoard event files of a run, written beside ``log.jsonl`` (the ``tensorboard`` extra).

``--tensorboard DIR`` chooses the folder; without it a run writes into ``OUT/tb/`` when
``tensorboard`` is installed, and ``--tensorboard off`` writes none. Each epoch's
``log.jsonl`` record is mirrored as scalars (step = epoch):

    train/loss, train/<metric>, val/loss, val/<metric>     accuracy or mse
    train/<metric>_by_type/<type>, val/<metric>_by_type/<type>
    lr, samples_per_s

and the run's options are the hparams of the run (TensorBoard's HPARAMS tab), with
``val/<metric>`` as its metric. ``log.jsonl`` stays the record: the events are a view of it,
written by rank 0 only, and a resumed run drops the events of epochs it replays
(``purge_step``). The writer is ``torch.utils.tensorboard.SummaryWriter``; importing this module
does not import tensorboard.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any, Dict, Optional

from mspan_pyg.errors import ConfigError

#: ``--tensorboard`` values that turn the events off
OFF = ("off", "none", "no", "false", "0")
DEFAULT_SUBFOLDER = "tb"
INSTALL_HINT = 'pip install "mspan-pyg[tensorboard]"'


def tensorboard_available() -> bool:
    return importlib.util.find_spec("tensorboard") is not None


def event_folder(setting: Optional[str], out_dir: str) -> Optional[str]:
    """Where the events go for ``--tensorboard`` ``setting`` (``None``: none)."""
    if setting is not None and str(setting).strip().lower() in OFF:
        return None
    if setting is None:
        return os.path.join(out_dir, DEFAULT_SUBFOLDER) if tensorboard_available() else None
    if not tensorboard_available():
        raise ConfigError(f"--tensorboard {setting} needs tensorboard: {INSTALL_HINT}")
    return str(setting)


def _hparam_value(value: Any) -> Any:
    # TensorBoard's hparams take bool, int, float and str only
    if isinstance(value, (bool, int, float, str)):
        return value
    return "None" if value is None else str(value)


class TensorBoardLog:
    """Writes the epoch records of ``log.jsonl`` (:meth:`write_epoch`) into ``folder``."""

    def __init__(
        self,
        folder: str,
        hparams: Dict[str, Any],
        metric: str,
        first_epoch: int = 1,
    ):
        from torch.utils.tensorboard import SummaryWriter
        from torch.utils.tensorboard.summary import hparams as hparams_summary

        self.folder = folder
        self.metric = metric
        # purge_step: a resumed run rewrites the epochs after its checkpoint
        self.writer = SummaryWriter(folder, purge_step=first_epoch if first_epoch > 1 else None)
        # written into this run's folder (SummaryWriter.add_hparams would open a subfolder)
        values = {k: _hparam_value(v) for k, v in sorted(hparams.items())}
        for summary in hparams_summary(values, {f"val/{metric}": 0.0}):
            self.writer.file_writer.add_summary(summary)
        self.writer.flush()

    def write_epoch(self, record: Dict[str, Any]) -> None:
        """One ``log.jsonl`` record as scalars at step ``record["epoch"]``."""
        step = int(record["epoch"])
        add = self.writer.add_scalar
        for split in ("train", "val"):
            summary = record.get(split) or {}
            for name in ("loss", self.metric):
                if isinstance(summary.get(name), (int, float)):
                    add(f"{split}/{name}", summary[name], step)
            by_type = f"{self.metric}_by_type"  # accuracy (or mse) per question type
            for qtype, value in (summary.get(by_type) or {}).items():
                if isinstance(value, (int, float)):
                    add(f"{split}/{by_type}/{qtype}", value, step)
        for name in ("lr", "samples_per_s"):
            if isinstance(record.get(name), (int, float)):
                add(name, record[name], step)
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def open_tensorboard(
    setting: Optional[str],
    out_dir: str,
    hparams: Dict[str, Any],
    metric: str,
    first_epoch: int = 1,
) -> Optional[TensorBoardLog]:
    """The run's :class:`TensorBoardLog`, or ``None`` when ``setting`` turns it off (or the
    default applies and tensorboard is not installed)."""
    folder = event_folder(setting, out_dir)
    if folder is None:
        return None
    return TensorBoardLog(folder, hparams, metric, first_epoch=first_epoch)
