"""Writing files so that a crash never leaves half of one, and reading a run's ``log.jsonl``.

Every file the library writes goes through :func:`atomic_path`: the content goes to
``.NAME.tmp-PID`` next to the target, is flushed to disk, and is renamed over the target only when
complete, so a kill at any moment leaves either the previous file or the new one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from typing import Any, Dict, Iterator, List, Union

PathLike = Union[str, "os.PathLike[str]"]


def temporary_name(path: PathLike) -> str:
    """The temporary name of ``path`` while it is written: ``DIR/.NAME.tmp-PID``."""
    path = os.path.abspath(os.fspath(path))
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.tmp-{os.getpid()}")


#: ``.NAME.tmp-PID``: the temporary name of NAME while process PID writes it
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)$")


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_temporaries(folder: PathLike, name: Union[str, None] = None) -> List[str]:
    """Removes the temporary files (:func:`temporary_name`) that killed writers left in
    ``folder`` (of the target ``name`` only, when given); returns their paths.

    A temporary belongs to a dead writer when no process has its PID, so the temporaries of
    writes still running in another process are kept.
    """
    folder = os.fspath(folder)
    try:
        entries = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    removed = []
    for entry in entries:
        m = _TEMPORARY.match(entry)
        if m is None or (name is not None and m["name"] != name):
            continue
        if _process_alive(int(m["pid"])):
            continue
        path = os.path.join(folder, entry)
        try:
            os.unlink(path)
        except FileNotFoundError:  # removed by another run meanwhile
            continue
        removed.append(path)
    return removed


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

    Temporaries of the same target that killed writers left behind are removed first, so
    repeated kills cannot fill the disk. An ``OSError`` without a file name (a full disk
    during a write) gets the target's.
    """
    target = os.path.abspath(os.fspath(path))
    folder = os.path.dirname(target)
    os.makedirs(folder, exist_ok=True)
    remove_stale_temporaries(folder, os.path.basename(target))
    tmp = temporary_name(target)
    try:
        yield tmp
        with open(tmp, "rb+") as f:  # make the content durable before the rename
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as e:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(e, OSError) and not e.filename and e.errno is not None:
            raise OSError(e.errno, e.strerror, target) from None
        raise
    _fsync_folder(folder)  # make the rename itself durable


@contextlib.contextmanager
def atomic_open(path: PathLike, mode: str = "w", **kwargs) -> Iterator[Any]:
    """``open(path, mode)`` through :func:`atomic_path` (text or binary write modes)."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as f:
            yield f


def probe_write(folder: PathLike) -> None:
    """Writes, syncs and removes a small temporary file in ``folder``; raises ``OSError`` (with
    the probe's path) when the folder cannot be written."""
    path = temporary_name(os.path.join(os.fspath(folder), "write-probe"))
    try:
        with open(path, "wb") as f:
            f.write(bytes(4096))
            f.flush()
            os.fsync(f.fileno())
    finally:
        if os.path.exists(path):
            os.unlink(path)


def append_line(path: PathLike, line: str) -> None:
    """Appends one line to a log file and makes it durable (a kill can cut only this line)."""
    path = os.fspath(path)
    try:
        with open(path, "a") as f:
            f.write(line.rstrip("\n") + "\n")
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        if e.filename or e.errno is None:
            raise
        raise OSError(e.errno, e.strerror, path) from None


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
