"""A training checkpoint as a pretrained folder, and back: ``mspan-pyg export RUN/best.pt DIR``.

The folder is :meth:`MSPAN.save_pretrained`'s (:mod:`mspan_pyg.models.hub`): ``config.json``,
``model.safetensors``, ``run.json`` and a model card. ``run.json`` holds what a checkpoint
keeps besides the weights and the optimizer (:data:`RUN_KEYS`), so that :func:`read_pretrained`
gives :func:`~mspan_pyg.training.runner.load_run` the same state as the ``.pt`` file: ``answer``,
``evaluate`` and ``explain`` take either.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Dict, Tuple

from mspan_pyg.errors import CheckpointError, ConfigError
from mspan_pyg.models.hub import (
    CONFIG_FILE,
    RUN_FILE,
    WEIGHTS_FILE,
    is_pretrained_folder,
    read_json,
)
from mspan_pyg.training.checkpoint import REQUIRED_KEYS, check_run_state, load_checkpoint

RUN_FORMAT = "mspan-pyg-run"
RUN_VERSION = 1
#: The checkpoint entries that describe the run (everything but weights and training state).
RUN_KEYS = ("task", "dataset", "args", "vocab", "qtype_names", "features_provenance", "best")


def run_info(state: Dict[str, Any]) -> Dict[str, Any]:
    """``run.json``'s content from a checkpoint's dict."""
    info = {"format": RUN_FORMAT, "version": RUN_VERSION}
    info.update({k: state.get(k) for k in RUN_KEYS})
    return info


def export_checkpoint(checkpoint: str, out: str, overwrite: bool = False) -> str:
    """Writes the model of ``checkpoint`` (a ``.pt`` of ``mspan-pyg train``) as a pretrained
    folder ``out``; returns ``out``. The folder appears complete or not at all (written beside
    it, then renamed); ``overwrite`` replaces an earlier export, never another kind of folder."""
    from mspan_pyg.training.runner import model_from_checkpoint

    if os.path.exists(out) and not (os.path.isdir(out) and not os.listdir(out)):
        if not is_pretrained_folder(out):
            raise ConfigError(f"{out} exists and is not a saved MSPAN folder; choose a new folder")
        if not overwrite:
            raise ConfigError(f"{out} holds a saved model; pass --overwrite to replace it")
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state, checkpoint)
    model.run_info = run_info(state)
    out = os.path.abspath(out)
    partial = f"{out}.tmp-{os.getpid()}"
    shutil.rmtree(partial, ignore_errors=True)
    try:
        model.save_pretrained(partial)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return out


def read_pretrained(folder: str, device: Any = "cpu") -> Tuple[Dict[str, Any], Any]:
    """``(state, model)`` of a pretrained folder: ``state`` has the checkpoint's run entries and
    ``model_config``, validated as a checkpoint's are."""
    from mspan_pyg.models.mspan import MSPAN

    for name in (CONFIG_FILE, WEIGHTS_FILE, RUN_FILE):
        if not os.path.isfile(os.path.join(folder, name)):
            raise CheckpointError(
                f"{folder} is not a saved MSPAN with its run: it has no {name} "
                f"(write one with `mspan-pyg export RUN/best.pt {folder}`)"
            )
    run_path = os.path.join(folder, RUN_FILE)
    info = read_json(run_path)
    if not isinstance(info, dict) or info.get("format") != RUN_FORMAT:
        raise CheckpointError(f"{run_path} is not an mspan-pyg run description")
    if info.get("version") != RUN_VERSION:
        raise CheckpointError(
            f"{run_path} has format version {info.get('version')!r}; this mspan-pyg reads "
            f"version {RUN_VERSION}"
        )
    config_path = os.path.join(folder, CONFIG_FILE)
    if not isinstance(read_json(config_path), dict):
        raise CheckpointError(f"{config_path} is not a dict of MSPAN arguments")
    model = MSPAN.from_pretrained(folder, map_location=str(device))
    state = dict(info, model_config=dict(model.config))
    missing = [k for k in REQUIRED_KEYS if k != "model_state" and state.get(k) is None]
    if missing:
        raise CheckpointError(f"{run_path} lacks {', '.join(missing)}")
    check_run_state(state, run_path)
    return state, model
