"""Writing files so that a crash never leaves half of one, and reading a run's ``log.jsonl``.

Every file the library writes goes through :func:`atomic_path`: the content goes to
``.NAME.tmp-PID`` next to the target, is flushed to disk, and is renamed over the target only when
complete, so a kill at any moment leaves either the previous file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any, Dict, Iterator, List, Union

PathLike = Union[str, "os.PathLike[str]"]


def temporary_name(path: PathLike) -> str:
    """The temporary name of ``path`` while it is written: ``DIR/.NAME.tmp-PID``."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}")


def _fsync_folder(folder: str) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - some platforms cannot open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse fsync on folders
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(path: PathLike) -> Iterator[str]:
    """Yields a temporary path to write ``path``'s content to; publishes it on success.

    On an exception the temporary file is removed and ``path`` is left as it was::

        with atomic_path("features.h5") as tmp:
            with h5py.File(tmp, "w") as f: ...
    """
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    tmp = temporary_name(target)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # make the content durable before the rename
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)  # make the rename itself durable


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs) -> Iterator[Any]:
    """``open(path, mode)`` through :func:`atomic_path` (text or binary write modes)."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def write_json(path: PathLike, obj: Any, indent: Union[int, None] = 2) -> None:
    """``obj`` as JSON (one trailing newline), atomically."""
    with atomic_open(path, "w") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")


def read_jsonl(path: PathLike) -> List[Dict[str, Any]]:
    """The records of a JSON-lines file; a line cut by a kill (not valid JSON) is skipped."""
    records = []
    with open(path) as f:
        for line in f:
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue
    return records
