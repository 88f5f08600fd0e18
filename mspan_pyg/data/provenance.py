"""How a feature file was made, stored with it and with checkpoints trained on it.

The feature file's root attribute ``extraction`` holds the full record as JSON (backbones with
their weights' source and SHA-256, preprocessing, decoder and version, frame rule, N); flat
attributes repeat the main entries for people reading the file with ``h5dump`` / ``h5py``.
Only ``h5py`` and ``json`` are needed here, so training code can read it without the ``video``
extra.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

#: Entries that must agree for two runs' rows to share one file (resume, merge, answer).
SETTINGS = (
    "appearance",
    "motion",
    "layout",
    "num_frames",
    "snippet",
    "num_clips",
    "compat",
    "min_frames",
    "dtype",
    "sampling",
    "fps",
    "sampling_seed",
)
#: values of entries that files written before they existed hold implicitly
_IMPLICIT = {"sampling": "uniform", "sampling_seed": 0}


def read_provenance(path: Optional[str]) -> Optional[str]:
    """The ``extraction`` JSON of a feature file, or ``None`` (no file, or not made here)."""
    if not path or not os.path.isfile(path):
        return None
    import h5py

    try:
        with h5py.File(path, "r") as f:
            raw = f.attrs.get("extraction")
    except OSError:
        return None
    if raw is None:
        return None
    return raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)


def parse(provenance: Optional[str]) -> Optional[Dict[str, Any]]:
    return json.loads(provenance) if provenance else None


def settings(record: Dict[str, Any]) -> Dict[str, Any]:
    return {k: record.get(k, _IMPLICIT.get(k)) for k in SETTINGS}


def differences(a: Dict[str, Any], b: Dict[str, Any]) -> Dict[str, Any]:
    """``{key: (a's, b's)}`` of the :data:`SETTINGS` that differ."""
    sa, sb = settings(a), settings(b)
    return {k: (sa[k], sb[k]) for k in SETTINGS if sa[k] != sb[k]}


def write_attributes(f, record: Dict[str, Any]) -> None:
    """Stores ``record`` on an open ``h5py.File``: JSON plus flat, readable attributes."""
    f.attrs["extraction"] = json.dumps(record, sort_keys=True)
    for kind in ("appearance", "motion"):
        b = record.get(kind) or {}
        w = b.get("weights", {})
        f.attrs[f"{kind}_backbone"] = b.get("name", "none")
        f.attrs[f"{kind}_weights"] = w.get("source", "none")
        f.attrs[f"{kind}_weights_sha256"] = w.get("sha256", "")
        pre = b.get("preprocess") or {}
        if pre:
            f.attrs[f"{kind}_image_size"] = pre["size"]
            f.attrs[f"{kind}_mean"] = pre["mean"]
            f.attrs[f"{kind}_std"] = pre["std"]
    f.attrs["random_weights"] = bool(record.get("random_weights"))
    f.attrs["decoder"] = record.get("decoder", "")
    f.attrs["decoder_version"] = record.get("decoder_version", "")
    f.attrs["frame_rule"] = record.get("frame_rule", "")
    f.attrs["num_frames"] = int(record.get("num_frames", 0))
