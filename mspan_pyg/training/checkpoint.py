"""Checkpoints: atomic writes, validated reads, and RNG-state capture for exact resumption.

A checkpoint is a plain dict (loadable with ``torch.load(weights_only=True)``)::

    format        "mspan-pyg-checkpoint"     version  1
    model_config  model.config (MSPAN(**model_config) rebuilds the network)
    model_state   state_dict of the (unwrapped, uncompiled) model
    vocab         {"question": ..., "answer": ...} vocabularies' to_dict()
    task, dataset, args (dict of the command-line options), qtype_names
    epoch, step   completed epochs and optimizer steps
    optimizer, scheduler, scaler   state dicts (None when not used)
    rng           one entry per process: python, numpy and torch (cpu, cuda) states
    best          {"epoch", "value", "val"} of the selected model so far
    checksum      "sha256:HEX" of everything above (:func:`state_checksum`)

Reads verify the checksum, so a byte changed on disk (inside a tensor, where the zip archive
itself does not notice) is a :class:`CheckpointError`; checkpoints written before it existed
load without the check. Writes go through :func:`mspan_pyg.files.atomic_path` (a temporary
file in the same folder, fsync'ed and renamed over the target), so a kill at any moment leaves
the previous good file.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import random
import zipfile
from typing import Any, Dict, Optional

import numpy as np
import torch

from mspan_pyg.errors import CheckpointError, ConfigError, DataError
from mspan_pyg.files import atomic_open

FORMAT = "mspan-pyg-checkpoint"
VERSION = 1
REQUIRED_KEYS = ("model_config", "model_state", "task", "dataset", "vocab", "args")


def state_checksum(state: Dict[str, Any]) -> str:
    """``"sha256:HEX"`` over every entry of ``state`` but ``checksum``: each tensor's dtype,
    shape and bytes, and the plain values (dict order included), as saved and as loaded."""
    digest = hashlib.sha256()
    _hash_into(digest, {k: v for k, v in state.items() if k != "checksum"})
    return "sha256:" + digest.hexdigest()


def _hash_into(digest, obj: Any) -> None:
    if torch.is_tensor(obj):
        t = obj.detach().cpu().contiguous()
        digest.update(f"T{t.dtype}{tuple(t.shape)}".encode())
        digest.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    elif isinstance(obj, dict):
        digest.update(b"D%d" % len(obj))
        for key, value in obj.items():
            _hash_into(digest, key)
            _hash_into(digest, value)
    elif isinstance(obj, (list, tuple)):  # one tag: a tuple may load back as either
        digest.update(b"L%d" % len(obj))
        for value in obj:
            _hash_into(digest, value)
    else:
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())


def save_checkpoint(state: Dict[str, Any], path: str) -> None:
    """Writes ``state`` and its checksum to ``path`` atomically
    (:func:`mspan_pyg.files.atomic_open`)."""
    state = dict(state)
    state.setdefault("format", FORMAT)
    state.setdefault("version", VERSION)
    state.pop("checksum", None)
    state["checksum"] = state_checksum(state)
    with atomic_open(path, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str, map_location: Any = "cpu") -> Dict[str, Any]:
    """Reads and validates a checkpoint; raises :class:`CheckpointError` with the reason."""
    if not os.path.isfile(path):
        raise CheckpointError(f"checkpoint {path} does not exist")
    if not zipfile.is_zipfile(path):
        raise CheckpointError(
            f"checkpoint {path} is corrupted or not a PyTorch checkpoint "
            f"(not a torch.save zip archive; truncated by a crash, or another kind of file?)"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        raise CheckpointError(
            f"{path} is not an mspan-pyg checkpoint (it holds objects other than "
            f"tensors and plain data)"
        ) from None
    except (
        RuntimeError,
        EOFError,
        zipfile.BadZipFile,
        ValueError,
        OSError,
        AttributeError,
        TypeError,
        KeyError,
    ) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        first = first.split(". ")[0]  # torch appends several sentences of advice
        raise CheckpointError(f"checkpoint {path} is corrupted ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an mspan-pyg checkpoint (no '{FORMAT}' marker)")
    if "checksum" in state and state["checksum"] != state_checksum(state):
        raise CheckpointError(
            f"checkpoint {path} is damaged: its content does not match the SHA-256 checksum "
            f"stored in it (changed on disk or in a copy?)"
        )
    if state.get("version") != VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {state.get('version')!r}; "
            f"this mspan-pyg reads version {VERSION}"
        )
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"checkpoint {path} lacks {', '.join(missing)}")
    check_run_state(state, path)
    return state


def check_run_state(state: Dict[str, Any], path: str) -> None:
    """Raises :class:`CheckpointError` when the run a checkpoint describes is malformed (a
    crafted or edited file): options, task, vocabularies, question types."""
    from mspan_pyg.data.text import AnswerVocabulary, Vocabulary
    from mspan_pyg.training.config import check_task

    def bad(what: str):
        raise CheckpointError(f"checkpoint {path}: {what}")

    if not isinstance(state["args"], dict):
        bad("its options (args) are not a dict of option values")
    if not isinstance(state["model_config"], dict):
        bad("its model_config is not a dict of MSPAN arguments")
    try:
        check_task(state["dataset"], state["task"])
        if state["args"].get("task") is not None:
            check_task(state["args"].get("dataset", state["dataset"]), state["args"]["task"])
    except (ConfigError, TypeError) as e:
        bad(str(e))
    vocab = state["vocab"]
    if not isinstance(vocab, dict):
        bad("malformed vocabulary (not a dict of question and answer vocabularies)")
    try:
        Vocabulary.from_dict(vocab.get("question"))
        if vocab.get("answer") is not None:
            AnswerVocabulary.from_dict(vocab["answer"])
    except DataError as e:
        bad(f"malformed vocabulary ({e})")
    names = state.get("qtype_names", [])
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        bad("its question types (qtype_names) are not a list of names")


def check_compatible(
    state: Dict[str, Any],
    path: str,
    *,
    task: Optional[str] = None,
    dataset: Optional[str] = None,
    vocab: Optional[Dict[str, Any]] = None,
) -> None:
    """Raises :class:`CheckpointError` when a checkpoint belongs to another task, dataset or
    vocabulary."""
    if task is not None and state["task"] != task:
        raise CheckpointError(
            f"checkpoint {path} was trained for task {state['task']!r}, not {task!r}"
        )
    if dataset is not None and state["dataset"] != dataset:
        raise CheckpointError(
            f"checkpoint {path} was trained on dataset {state['dataset']!r}, not {dataset!r}"
        )
    if vocab is not None:
        for name, v in vocab.items():
            if state["vocab"].get(name) != v:
                raise CheckpointError(
                    f"checkpoint {path} was trained with a different {name} vocabulary "
                    f"than this run builds (different data or --limit?)"
                )


def load_model_state(model: torch.nn.Module, state: Dict[str, Any], path: str) -> None:
    """``model.load_state_dict`` with a readable :class:`CheckpointError` on mismatch."""
    try:
        model.load_state_dict(state["model_state"])
    except RuntimeError as e:
        lines = str(e).strip().splitlines()
        detail = " ".join(l.strip() for l in lines[:3])
        raise CheckpointError(f"checkpoint {path} does not fit this model: {detail}") from None


def capture_rng_state() -> Dict[str, Any]:
    """The python, numpy and torch RNG states of this process (torch.load(weights_only)-safe)."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None,
    }
    return state


def restore_rng_state(state: Dict[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`."""
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"])
    )
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
