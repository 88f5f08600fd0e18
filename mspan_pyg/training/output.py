"""The output folder of a run: owned by one process, checked before training, replaced safely.

The rules (docs/architecture.md, "The output folder"):

- **One process per folder.** A run holds an exclusive ``fcntl.flock`` on ``OUT/.lock`` (its PID
  written inside) from start to end. The kernel drops the lock when the process dies, so a
  killed run never leaves a stale lock; a second run into the folder stops with one line naming
  the folder and the PID holding it.
- **Checked before training.** The folder is created and a probe file written and removed
  before the data is read, and the free space must hold three checkpoints of the model
  (``best.pt``, ``last.pt`` and the temporary of the one being written).
- **Replacing a run** (``--overwrite``) happens only after every check passed: the previous
  run's files move to ``OUT/.previous-run/`` (a rename, same file system) and are deleted once
  the new run's first ``last.pt`` exists. A failure before that (an error, Ctrl-C) removes the
  new run's files and moves the previous ones back.
- **After a kill.** A run killed while replacing leaves ``OUT/.previous-run/``; the next run in
  the folder settles it before anything else: if the killed run had written its first
  ``last.pt`` the previous run is deleted, otherwise the killed run's partial files are removed
  and the previous run is moved back (and a note says so). Temporaries of interrupted writes
  (``.NAME.tmp-PID`` of a dead PID) are removed.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from typing import Optional

from mspan_pyg import files
from mspan_pyg.errors import ConfigError

#: files a run writes; their presence means the folder holds a previous run
RUN_FILES = (
    "log.jsonl",
    "last.pt",
    "best.pt",
    "metrics.json",
    "test_predictions.jsonl",
    "summary.json",
)
#: a run's files that are replaced with it (the curves are drawn from its log; tb/ holds the
#: TensorBoard events of the default --tensorboard)
REPLACED_FILES = RUN_FILES + ("training_curves.png", "tb")
LOCK_NAME = ".lock"
ASIDE_NAME = ".previous-run"
#: written into ``ASIDE_NAME`` once every file of the previous run is in it
MOVED_MARKER = ".moved"
#: bytes per model parameter in a checkpoint: the weights and Adam's two moments (float32)
CHECKPOINT_BYTES_PER_PARAMETER = 12


def _last_pt_first():
    return ("last.pt",) + tuple(f for f in REPLACED_FILES if f != "last.pt")


class OutputFolderError(ConfigError):
    """The output folder cannot be used: another process holds it, it cannot be written, or
    its disk is too full."""


def _note(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _cause(e: OSError) -> str:
    return e.strerror or str(e)


def holds_run(folder: str) -> bool:
    """Whether ``folder`` holds the files of a run."""
    return os.path.isdir(folder) and any(os.path.exists(os.path.join(folder, f)) for f in RUN_FILES)


class OutputFolder:
    """A run's output folder, held from :meth:`acquire` to :meth:`release` (see the module's
    rules). ``replace_previous`` / ``keep_new`` / ``restore_previous`` carry out
    ``--overwrite``."""

    def __init__(self, path: str):
        self.path = os.path.abspath(path)
        self._lock_fd: Optional[int] = None
        self._replacing = False

    @property
    def aside(self) -> str:
        return os.path.join(self.path, ASIDE_NAME)

    # -- ownership -------------------------------------------------------------------------
    def acquire(self) -> None:
        """Creates the folder and takes its lock; settles what a killed run left behind."""
        try:
            os.makedirs(self.path, exist_ok=True)
            fd = os.open(os.path.join(self.path, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputFolderError(
                f"cannot use output folder {self.path}: {_cause(e)}"
                + (f" ({e.filename})" if e.filename and e.filename != self.path else "")
            ) from None
        import fcntl

        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                os.close(fd)
                raise
            holder = os.read(fd, 64).decode(errors="replace").strip()
            os.close(fd)
            who = f"process {holder}" if holder.isdigit() else "another process"
            raise OutputFolderError(
                f"output folder {self.path} is in use by {who} (another run writes there); "
                f"wait for it to end or choose another --out"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd
        self._settle_killed_run()
        files.remove_stale_temporaries(self.path)

    def release(self) -> None:
        """Drops the lock (the lock file stays: removing it would race with a new holder)."""
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # closing the only descriptor releases the flock
            self._lock_fd = None

    def _settle_killed_run(self) -> None:
        if not os.path.isdir(self.aside):
            return
        if os.path.isfile(os.path.join(self.path, "last.pt")):
            shutil.rmtree(self.aside)
            _note(
                f"note: removed {self.aside}: the run killed while replacing it had written its "
                f"first checkpoint"
            )
            return
        self._move_back()
        _note(
            f"note: restored the previous run in {self.path}: the run that was replacing it "
            f"was killed before its first checkpoint"
        )

    # -- checks ----------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raises :class:`OutputFolderError` when a file cannot be written into the folder."""
        try:
            files.probe_write(self.path)
        except OSError as e:
            raise OutputFolderError(
                f"output folder {self.path} is not writable: {_cause(e)}"
            ) from None

    def check_space(self, num_parameters: int) -> None:
        """Raises :class:`OutputFolderError` when the folder's disk cannot hold the checkpoints
        of a model of ``num_parameters``."""
        need = 3 * CHECKPOINT_BYTES_PER_PARAMETER * num_parameters + (1 << 20)
        free = shutil.disk_usage(self.path).free
        if free < need:
            raise OutputFolderError(
                f"output folder {self.path} has {free / 2**20:.1f} MiB free; the checkpoints of "
                f"this model need about {need / 2**20:.1f} MiB"
            )

    # -- --overwrite -----------------------------------------------------------------------
    def replace_previous(self) -> None:
        """Moves the previous run's files aside (call after every check passed)."""
        if not holds_run(self.path):
            return
        os.makedirs(self.aside, exist_ok=True)
        self._replacing = True  # an interruption from here on moves back what was moved
        # last.pt first: while OUT/.previous-run exists, an OUT/last.pt is always the new run's
        # (the rule the next run settles a kill by)
        for name in _last_pt_first():
            src = os.path.join(self.path, name)
            if os.path.exists(src):
                os.replace(src, os.path.join(self.aside, name))
        # every file moved: from now on the folder's run files are the new run's
        open(os.path.join(self.aside, MOVED_MARKER), "w").close()

    def keep_new(self) -> None:
        """The new run has its first checkpoint: the previous run is deleted."""
        if self._replacing:
            shutil.rmtree(self.aside, ignore_errors=True)
            self._replacing = False

    def restore_previous(self) -> None:
        """The new run failed before its first checkpoint: its files go, the previous return."""
        if self._replacing:
            self._move_back()
            self._replacing = False

    def _move_back(self) -> None:
        if os.path.exists(os.path.join(self.aside, MOVED_MARKER)):
            for name in _last_pt_first():  # the new run's files (else: old ones not yet moved)
                new = os.path.join(self.path, name)
                if os.path.isdir(new):
                    shutil.rmtree(new)
                elif os.path.exists(new):
                    os.remove(new)
        # last.pt last, for the same rule: a kill in between is settled again the same way
        for name in reversed(_last_pt_first()):
            old = os.path.join(self.aside, name)
            if os.path.exists(old):
                os.replace(old, os.path.join(self.path, name))
        shutil.rmtree(self.aside)
