"""Reading whole rows ``[N, D]`` of a 3-d HDF5 dataset into a caller's buffer at memory speed.

An uncompressed dataset stores each row as ``N * D`` contiguous bytes at a fixed place in the
file (contiguous layout, or chunks that hold whole rows). :class:`RowReader` finds those places
once and then reads a batch with ``os.preadv``: the kernel copies the bytes from the page cache
straight into the batch buffer, one system call per run of consecutive rows, with no HDF5
selection machinery, no temporary array and no memory mapping (a mapping would count every page
read in the process's resident memory, which then grows to the file's size over an epoch).
Compressed datasets, and every layout this cannot map, are read through h5py.
"""

from __future__ import annotations

import os
from typing import Optional

import h5py
import numpy as np

from ..errors import DataError

_IOV_MAX = 1024  # buffers per preadv call (Linux's IOV_MAX)


def row_offsets(dataset: h5py.Dataset) -> Optional[np.ndarray]:
    """Byte offset in the file of every row of ``dataset``, or ``None`` when rows are not
    stored as raw contiguous bytes (filters, rows split over chunks, unwritten chunks, foreign
    byte order)."""
    if not dataset.dtype.isnative or dataset.shape[0] == 0:
        return None
    if dataset.id.get_create_plist().get_nfilters():  # compression, shuffle, checksums...
        return None
    row_bytes = int(np.prod(dataset.shape[1:])) * dataset.dtype.itemsize
    rows = dataset.shape[0]
    if dataset.chunks is None:
        base = dataset.id.get_offset()
        if base is None:  # never written: HDF5 returns the fill value, let h5py do it
            return None
        return base + np.arange(rows, dtype=np.int64) * row_bytes
    per_chunk = dataset.chunks[0]
    if tuple(dataset.chunks[1:]) != tuple(dataset.shape[1:]) or not hasattr(
        dataset.id, "chunk_iter"
    ):
        return None
    starts = np.full(-(-rows // per_chunk), -1, dtype=np.int64)

    def visit(info):
        starts[info.chunk_offset[0] // per_chunk] = info.byte_offset

    dataset.id.chunk_iter(visit)
    if (starts < 0).any():
        return None
    within = np.arange(rows, dtype=np.int64) % per_chunk
    return starts[np.arange(rows) // per_chunk] + within * row_bytes


class RowReader:
    """Reads rows of one 3-d dataset of an HDF5 file into a buffer.

    Args:
        path: the HDF5 file.
        dataset: the dataset, from a file opened at ``path``; only its layout is read here.

    :meth:`read` is safe to call from one thread at a time per reader; a pickled reader
    reopens the file in the new process.
    """

    def __init__(self, path: str, dataset: h5py.Dataset):
        self.path = path
        self.name = dataset.name
        self.row_shape = tuple(dataset.shape[1:])
        self.dtype = dataset.dtype
        self.row_bytes = int(np.prod(self.row_shape)) * self.dtype.itemsize
        self.offsets = row_offsets(dataset) if hasattr(os, "preadv") else None
        self._fd = None
        self._pid = None

    @property
    def direct(self) -> bool:
        """Rows are read with ``preadv`` (else through h5py)."""
        return self.offsets is not None

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_fd"] = state["_pid"] = None
        return state

    def close(self):
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)
        self._fd = None

    def _descriptor(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self.path, os.O_RDONLY)
            self._pid = os.getpid()
        return self._fd

    def read(self, rows: np.ndarray, out: np.ndarray, h5file: Optional[h5py.File] = None):
        """Reads file rows ``rows`` (distinct, any order) into ``out[k] = row rows[k]``.

        ``out`` is a C-contiguous array ``[len(rows), *row_shape]`` of the dataset's dtype.
        ``h5file``: the open file, used when the rows cannot be read directly.
        """
        if len(rows) == 0:
            return
        if not self.direct:
            self._read_h5py(rows, out, h5file)
            return
        order = np.argsort(rows, kind="stable")
        starts = self.offsets[rows[order]]
        # a run: rows whose bytes follow each other in the file, read with one call
        breaks = np.flatnonzero(np.diff(starts) != self.row_bytes) + 1
        bounds = np.concatenate(([0], breaks, [len(order)]))
        flat = memoryview(out.reshape(-1).view(np.uint8))
        size = self.row_bytes
        slots = [flat[k * size : (k + 1) * size] for k in order.tolist()]
        fd = self._descriptor()
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
            for a in range(lo, hi, _IOV_MAX):
                b = min(a + _IOV_MAX, hi)
                got = os.preadv(fd, slots[a:b], int(starts[a]))
                if got != (b - a) * self.row_bytes:
                    row = int(rows[order[a]])
                    raise DataError(
                        f"{self.path}: {self.name} row {row} and after: read {got} of "
                        f"{(b - a) * self.row_bytes} bytes (truncated file?)"
                    )

    def _read_h5py(self, rows: np.ndarray, out: np.ndarray, h5file: h5py.File):
        """One slice read per run of consecutive rows, in file order. (A fancy selection over a
        chunked dataset makes HDF5 visit every chunk between the first and the last row:
        measured 156 samples/s for shuffled batches of a 1.1 GiB file of paper shapes.)"""
        order = np.argsort(rows, kind="stable")
        ordered = rows[order]
        breaks = np.flatnonzero(np.diff(ordered) != 1) + 1
        bounds = np.concatenate(([0], breaks, [len(order)])).tolist()
        sorted_out = np.empty_like(out)
        dataset = h5file[self.name]
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            first = int(ordered[lo])
            try:
                dataset.read_direct(sorted_out, np.s_[first : first + hi - lo], np.s_[lo:hi])
            except OSError as e:
                raise DataError(
                    f"{self.path}: cannot read {self.name} row {first} (truncated file?): {e}"
                ) from None
        out[order] = sorted_out
