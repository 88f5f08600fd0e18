"""Per-video frame features in one HDF5 file, and converters from other layouts.

Layout (docs/data.md)::

    /appearance  float16|float32 [V, N, Da]
    /motion      float16|float32 [V, N, Dm]   (optional)
    /ids         [V] UTF-8 strings (TGIF-QA gif_name) or int64 (MSVD-QA / MSRVTT-QA video_id)
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Iterable, List, Optional, Sequence, Set, Tuple, Union

import h5py
import numpy as np
import torch

from ..errors import DataError
from ..files import atomic_path
from .rowread import RowReader

VideoId = Union[str, int]
_SCAN_BYTES = 64 << 20  # rows read at a time by the finiteness scan / converters
_POOL_SIZE = 4  # recycled batch arrays per feature array and dtype (batches alive at once)


def uniform_frame_indices(stored: int, wanted: int) -> np.ndarray:
    """``wanted`` indices into ``stored`` frames: the centre of each of ``wanted`` equal
    segments, ``floor((i + 0.5) * stored / wanted)``. Increasing; repeats when wanted > stored."""
    return np.floor((np.arange(wanted) + 0.5) * stored / wanted).astype(np.int64)


def _decode_ids(raw: np.ndarray, path: str) -> List[VideoId]:
    if raw.dtype.kind in "iu":
        return [int(x) for x in raw]
    if raw.dtype.kind in "SO" or raw.dtype.kind == "U":
        out = []
        for i, x in enumerate(raw):
            if isinstance(x, bytes):
                try:
                    x = x.decode("utf-8")
                except UnicodeDecodeError:
                    raise DataError(f"{path}: /ids row {i} is not valid UTF-8") from None
            out.append(str(x))
        return out
    raise DataError(f"{path}: /ids must hold strings or integers, found dtype {raw.dtype}")


def _rows_per_chunk(dataset) -> int:
    row_bytes = max(int(np.prod(dataset.shape[1:])) * dataset.dtype.itemsize, 1)
    return max(1, _SCAN_BYTES // row_bytes)


class FeatureStore:
    """Read-only access to an HDF5 feature file.

    Args:
        path: the HDF5 file.
        num_frames: frames returned per video. ``None`` = all ``N`` stored; fewer than
            ``N`` picks :func:`uniform_frame_indices` (segment centres); more is an error.
        in_memory: load every (frame-sampled) array once, in the file's dtype, instead of
            reading per batch.
        expected_dims: ``(Da, Dm)`` to check against the file (``None`` entries skip a check).
            ``Dm = 0`` means "do not use motion": :meth:`get` then returns ``None`` for it.
        check_finite: scan all features for NaN/Inf on open (chunked).
        dtype: the dtype :meth:`get` returns (``torch.float16`` keeps half-precision files as
            they are and leaves the conversion to the device).

    The file is opened lazily in each process (DataLoader workers included) and a pickled
    store carries no open handle. Uncompressed arrays are read with one ``preadv`` per run of
    consecutive rows (:class:`~mspan_pyg.data.rowread.RowReader`), compressed ones through h5py.
    """

    def __init__(
        self,
        path: Union[str, os.PathLike],
        num_frames: Optional[int] = None,
        in_memory: bool = False,
        expected_dims: Optional[Tuple] = None,
        check_finite: bool = True,
        dtype: torch.dtype = torch.float32,
    ):
        self.path = os.fspath(path)
        self.dtype = dtype
        self._file = None
        self._pid = None
        self._staging: Dict[str, np.ndarray] = {}
        self._pool: Dict[tuple, List[np.ndarray]] = {}
        self._pool_rows = 0  # the largest batch seen: recycled arrays fit every batch
        self._lock = threading.Lock()
        if not os.path.isfile(self.path):
            raise DataError(f"{self.path}: feature file not found")
        try:
            f = h5py.File(self.path, "r")
        except OSError as e:
            raise DataError(
                f"{self.path}: not a readable HDF5 file (truncated or another format?): {e}"
            ) from None
        try:
            self._validate(f, num_frames, expected_dims)
            if check_finite:
                self._check_finite(f)
            self._memory = None
            if in_memory:
                self._memory = {name: self._read(f, name, slice(None)) for name in self._arrays}
            self._readers = {name: RowReader(self.path, f[name]) for name in self._arrays}
        finally:
            f.close()

    # ----------------------------------------------------------------------------- opening
    def _validate(self, f, num_frames, expected_dims):
        """Checks the file's layout and sets the store's ids, sizes and frame selection."""
        arrays, num_videos, stored = self._check_arrays(f)
        ids, index = self._read_ids(f, num_videos)
        if num_frames is not None:
            if num_frames < 1:
                raise DataError(f"num_frames must be >= 1, got {num_frames}")
            if num_frames > stored:
                raise DataError(
                    f"{self.path}: asked for {num_frames} frames per video but the file stores "
                    f"{stored}"
                )
        dim_a = f["appearance"].shape[2]
        dim_m = f["motion"].shape[2] if "motion" in f else 0
        if expected_dims is not None:
            self._check_dims(f, dim_a, dim_m, *expected_dims)
            if expected_dims[1] == 0:
                arrays, dim_m = ["appearance"], 0
        self._arrays = arrays
        self.ids: List[VideoId] = ids
        self._index = index
        self._int_ids = bool(ids) and isinstance(ids[0], int)
        self.stored_frames = stored
        self.num_frames = num_frames if num_frames is not None else stored
        self._frames = (
            None if self.num_frames == stored else uniform_frame_indices(stored, self.num_frames)
        )
        self.appearance_dim = dim_a
        self.motion_dim = dim_m

    def _check_arrays(self, f) -> Tuple[List[str], int, int]:
        """The feature arrays present, the number of videos and the stored frames per video."""
        p = self.path
        for name in ("appearance", "ids"):
            if name not in f:
                raise DataError(
                    f"{p}: missing dataset /{name} (expected /appearance [V, N, Da], "
                    "optional /motion [V, N, Dm], /ids [V])"
                )
        arrays = ["appearance"] + (["motion"] if "motion" in f else [])
        for name in arrays:
            d = f[name]
            if not isinstance(d, h5py.Dataset) or d.ndim != 3:
                raise DataError(
                    f"{p}: /{name} must be a 3-d dataset [V, N, D], "
                    f"found shape {getattr(d, 'shape', 'a group')}"
                )
            if d.dtype.kind != "f":
                raise DataError(f"{p}: /{name} must be float16/float32, found {d.dtype}")
        num_videos, stored = f["appearance"].shape[:2]
        if "motion" in f:
            mot = f["motion"]
            if mot.shape[0] != num_videos:
                raise DataError(
                    f"{p}: /appearance has {num_videos} videos but /motion has {mot.shape[0]}"
                )
            if mot.shape[1] != stored:
                raise DataError(
                    f"{p}: /appearance has {stored} frames per video but /motion has {mot.shape[1]}"
                )
        return arrays, num_videos, stored

    def _read_ids(self, f, num_videos: int) -> Tuple[List[VideoId], Dict[VideoId, int]]:
        """The video ids and their rows; one id per video, no duplicates."""
        p = self.path
        if not isinstance(f["ids"], h5py.Dataset) or f["ids"].ndim != 1:
            raise DataError(f"{p}: /ids must be a 1-d dataset [V]")
        try:
            ids = _decode_ids(f["ids"][()], p)
        except OSError as e:
            raise DataError(f"{p}: cannot read /ids (truncated file?): {e}") from None
        if len(ids) != num_videos:
            raise DataError(
                f"{p}: /ids has {len(ids)} entries but /appearance has {num_videos} videos"
            )
        index = {vid: row for row, vid in enumerate(ids)}
        if len(index) != len(ids):
            seen, dups = set(), []
            for vid in ids:
                if vid in seen:
                    dups.append(vid)
                seen.add(vid)
            raise DataError(
                f"{p}: /ids has {len(dups)} duplicate id(s), e.g. {', '.join(map(repr, dups[:5]))}"
            )
        return ids, index

    def _check_dims(self, f, dim_a: int, dim_m: int, exp_a, exp_m) -> None:
        """The feature sizes a model expects (``None``: any; motion 0: appearance only)."""
        p = self.path
        if exp_a is not None and exp_a != dim_a:
            raise DataError(f"{p}: appearance features are {dim_a}-d, expected {exp_a}")
        if exp_m is not None and exp_m != 0:
            if "motion" not in f:
                raise DataError(
                    f"{p}: no /motion dataset, but {exp_m}-d motion features "
                    "were expected (use motion_dim=0 for appearance only)"
                )
            if exp_m != dim_m:
                raise DataError(f"{p}: motion features are {dim_m}-d, expected {exp_m}")

    def _check_finite(self, f):
        for name in self._arrays:
            d = f[name]
            step = _rows_per_chunk(d)
            bad_rows = []
            for start in range(0, d.shape[0], step):
                try:
                    block = d[start : start + step]
                except OSError as e:
                    raise DataError(
                        f"{self.path}: cannot read /{name} rows {start}.."
                        f"{start + step - 1} (truncated file?): {e}"
                    ) from None
                ok = np.isfinite(block).reshape(block.shape[0], -1).all(axis=1)
                bad_rows.extend((start + np.flatnonzero(~ok)).tolist())
            if bad_rows:
                shown = ", ".join(repr(self.ids[r]) for r in bad_rows[:5])
                raise DataError(
                    f"{self.path}: /{name} has NaN or Inf values for "
                    f"{len(bad_rows)} video(s), e.g. id {shown} (recompute them; "
                    "FeatureStore(check_finite=False) skips this scan)"
                )

    def _h5(self):
        if self._file is None or self._pid != os.getpid():
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as e:
                raise DataError(f"{self.path}: cannot open feature file: {e}") from None
            self._pid = os.getpid()
        return self._file

    def _read(self, f, name, rows) -> np.ndarray:
        try:
            data = f[name][rows]
        except OSError as e:
            raise DataError(f"{self.path}: cannot read /{name} (truncated file?): {e}") from None
        if self._frames is not None:
            data = data[:, self._frames]
        return data

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_file"] = None
        state["_pid"] = None
        state["_staging"] = {}
        state["_pool"] = {}
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def close(self):
        if self._file is not None and self._pid == os.getpid():
            self._file.close()
        self._file = None
        for reader in self._readers.values():
            reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------------------------ lookup
    def __len__(self) -> int:
        return len(self.ids)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.path!r}, videos={len(self)}, "
            f"frames={self.num_frames}, appearance_dim={self.appearance_dim}, "
            f"motion_dim={self.motion_dim})"
        )

    @property
    def has_motion(self) -> bool:
        return self.motion_dim > 0

    @property
    def copies_only(self) -> bool:
        """A batch is a copy of bytes (in memory, or uncompressed rows read with ``preadv``):
        no CPU work that worker processes could share, only their cost of handing batches
        over through shared memory."""
        return self._memory is not None or all(r.direct for r in self._readers.values())

    def _key(self, video_id: VideoId):
        if self._int_ids and isinstance(video_id, str):
            try:
                return int(video_id)
            except ValueError:
                return video_id
        if not self._int_ids and isinstance(video_id, (int, np.integer)):
            return str(video_id)
        return video_id

    def __contains__(self, video_id: VideoId) -> bool:
        return self._key(video_id) in self._index

    def row(self, video_id: VideoId) -> int:
        """Row of ``video_id`` in the store (int ids also match their decimal string)."""
        try:
            return self._index[self._key(video_id)]
        except KeyError:
            raise DataError(f"{self.path}: no features for video id {video_id!r}") from None

    def rows(self, video_ids: Iterable[VideoId]) -> np.ndarray:
        return np.asarray([self.row(v) for v in video_ids], dtype=np.int64)

    def check_ids(self, video_ids: Iterable[VideoId], skip_missing: bool = False) -> Set[VideoId]:
        """Check that every id has features. Missing ids raise :class:`DataError` (how many,
        up to 5 shown) or, with ``skip_missing``, are returned for the caller to filter."""
        wanted = list(dict.fromkeys(video_ids))
        missing = [v for v in wanted if v not in self]
        if missing and not skip_missing:
            raise DataError(
                f"{self.path}: {len(missing)} of {len(wanted)} question videos have "
                f"no features, e.g. {', '.join(map(repr, missing[:5]))} "
                "(wrong feature file? --skip-missing / skip_missing=True drops their questions)"
            )
        return set(missing)

    # ------------------------------------------------------------------------------- reads
    def get(
        self,
        rows: Sequence[int],
        dtype: Optional[torch.dtype] = None,
        pin_memory: bool = False,
    ) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """Features of store rows ``rows`` (any order, repeats allowed) as tensors
        ``appearance [b, N, Da]`` and ``motion [b, N, Dm]`` (``None`` without motion) of
        ``dtype`` (default: the store's), in page-locked memory with ``pin_memory``.

        Each distinct row is read once, in file order, into a reused staging buffer (or,
        already of ``dtype``, straight into the batch); the conversion to ``dtype`` is one torch
        copy into the batch tensor, on this process's reader thread.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if rows.size and (rows.min() < 0 or rows.max() >= len(self)):
            bad = rows[(rows < 0) | (rows >= len(self))][0]
            raise DataError(f"{self.path}: row {int(bad)} out of range 0..{len(self) - 1}")
        dtype = dtype or self.dtype
        self._pool_rows = max(self._pool_rows, rows.size)
        with self._lock:  # one batch at a time: the staging buffers are shared
            return _reader_thread().submit(self._read_batch, rows, dtype, pin_memory).result()

    def _read_batch(self, rows: np.ndarray, dtype, pin_memory: bool):
        return tuple(
            self._batch(name, rows, dtype, pin_memory) if name in self._arrays else None
            for name in ("appearance", "motion")
        )

    def _batch(self, name: str, rows: np.ndarray, dtype, pin_memory: bool) -> torch.Tensor:
        dim = self.appearance_dim if name == "appearance" else self.motion_dim
        out = self._output(name, (rows.size, self.num_frames, dim), dtype, pin_memory)
        if self._memory is not None:
            source = self._memory[name]
            if out.numpy().dtype == source.dtype:  # numpy's gather: memcpy speed
                np.take(source, rows, axis=0, out=out.numpy())
            else:
                staging = self._staging_buffer(name, rows.size, source.shape[1:], source.dtype)
                np.take(source, rows, axis=0, out=staging)
                out.copy_(torch.from_numpy(staging))
            return out
        unique, inverse = np.unique(rows, return_inverse=True)
        reader = self._readers[name]
        h5 = None if reader.direct else self._h5()
        repeats = unique.size < rows.size
        if not repeats and self._frames is None and out.numpy().dtype == reader.dtype:
            reader.read(rows, out.numpy(), h5)  # already the batch's dtype: no staging copy
            return out
        staging = self._staging_buffer(name, unique.size, reader.row_shape, reader.dtype)
        reader.read(unique if repeats else rows, staging, h5)
        raw = torch.from_numpy(staging)
        if self._frames is not None:
            raw = raw[:, torch.from_numpy(self._frames)]
        if repeats:  # each distinct row was read once; repeat them in request order
            raw = raw[torch.from_numpy(inverse.reshape(-1))]
        out.copy_(raw)
        return out

    def _output(self, name: str, shape, dtype, pin_memory: bool) -> torch.Tensor:
        """A batch tensor. Fresh memory costs a page fault per 4 KiB on first write (measured
        a third of the batch's time), so batches come from a few recycled arrays: an array is
        free again once no tensor uses it (``torch.from_numpy`` storage holds a reference to
        its array until the last tensor or view of it is gone). Page-locked batches come from
        torch's caching host allocator, which recycles already."""
        if pin_memory:
            return torch.empty(shape, dtype=dtype, pin_memory=True)
        np_dtype = torch.empty(0, dtype=dtype).numpy().dtype
        pool = self._pool.setdefault((name, np_dtype), [])
        for array in pool:
            if sys.getrefcount(array) <= _FREE_REFERENCES and array.shape[0] >= shape[0]:
                break
        else:
            array = np.empty((max(shape[0], self._pool_rows),) + tuple(shape[1:]), np_dtype)
            if len(pool) < _POOL_SIZE:
                pool.append(array)
        if array.shape[1:] != tuple(shape[1:]):
            array = np.empty(shape, np_dtype)
        return torch.from_numpy(array[: shape[0]])

    def _staging_buffer(self, name: str, rows: int, row_shape, dtype) -> np.ndarray:
        """A reused buffer of ``rows`` file rows (allocating per batch costs page faults)."""
        buf = self._staging.get(name)
        if buf is None or buf.shape[0] < rows:
            buf = np.empty((rows,) + tuple(row_shape), dtype=dtype)
            self._staging[name] = buf
        return buf[:rows]


_READERS: Dict[int, ThreadPoolExecutor] = {}  # process id -> its reader thread
_READERS_LOCK = threading.Lock()


def _one_intra_op_thread() -> int:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)  # this thread's OpenMP team (a per-thread setting)
    return previous


def _reader_thread() -> ThreadPoolExecutor:
    """The thread of this process that reads and converts batches, with torch's intra-op
    parallelism at 1. The conversion is memory-bound; split over the intra-op threads it waits
    for threads the model or other processes hold (measured on 2 busy cores: 3-8 ms for a paper
    batch, against 0.5 ms on one thread)."""
    pid = os.getpid()
    with _READERS_LOCK:
        if pid not in _READERS:  # a new process (DataLoader worker) starts its own
            executor = ThreadPoolExecutor(1, thread_name_prefix="mspan-features")
            previous = executor.submit(_one_intra_op_thread).result()
            # set_num_threads also stored 1 as the default of threads started from now on:
            # restore the caller's value (the caller's own setting is unchanged by this)
            torch.set_num_threads(previous)
            _READERS[pid] = executor
        return _READERS[pid]


def _free_references() -> int:
    """``sys.getrefcount`` of a pooled array that nothing else uses, seen from a loop over the
    pool (measured, not assumed: the count of a loop variable differs between Pythons)."""
    pool = [np.empty(0)]
    for array in pool:
        return sys.getrefcount(array)
    raise AssertionError("unreachable")


_FREE_REFERENCES = _free_references()


# ---------------------------------------------------------------------------- converters
#: ``--compression`` values: none, or an HDF5 filter every h5py build has
COMPRESSIONS = ("none", "lzf", "gzip")


def check_compression(compression: Optional[str]) -> Optional[str]:
    """``--compression`` as h5py takes it (``None`` for none); unknown values raise."""
    if compression in (None, "none"):
        return None
    if compression not in COMPRESSIONS:
        raise DataError(f"unknown compression {compression!r}; valid: {', '.join(COMPRESSIONS)}")
    return compression


def create_features(f, name: str, shape: Sequence[int], dtype, compression: Optional[str] = None):
    """A feature array ``[V, ...]`` laid out for reading: one chunk per video, so a batch read
    touches only its videos' chunks (uncompressed ones are read straight into the batch, see
    :class:`~mspan_pyg.data.rowread.RowReader`); ``compression`` ("lzf" fast, "gzip" smaller)
    is decompressed by h5py at each read."""
    compression = check_compression(compression)
    shape = tuple(int(n) for n in shape)
    chunks = (1,) + shape[1:] if shape[0] > 0 and all(shape[1:]) else None
    if chunks is None and compression is not None:
        raise DataError(f"/{name}: cannot compress an empty array of shape {shape}")
    return f.create_dataset(name, shape, dtype=dtype, chunks=chunks, compression=compression)


@contextlib.contextmanager
def _atomic_h5(out_path):
    """An HDF5 file written under a temporary name and published only when complete."""
    with atomic_path(out_path) as tmp, h5py.File(tmp, "w") as f:
        yield f


def _write_ids(f, ids: Sequence[VideoId]):
    if ids and all(isinstance(v, (int, np.integer)) for v in ids):
        f.create_dataset("ids", data=np.asarray(ids, dtype=np.int64))
    else:
        f.create_dataset("ids", data=[str(v) for v in ids], dtype=h5py.string_dtype("utf-8"))


def convert_npy_folders(
    appearance_dir,
    motion_dir,
    out_path,
    ids_kind: str = "auto",
    dtype: str = "float32",
    compression: Optional[str] = None,
) -> int:
    """Pack per-video ``<id>.npy`` arrays (each ``(N, D)``) into one HDF5 feature file.

    ``ids_kind``: "int", "str", or "auto" (int when every file stem is an integer).
    ``motion_dir`` may be ``None``; otherwise it must hold the same ids. Returns the number
    of videos written. ``out_path`` is written atomically (layout: :func:`create_features`).
    """
    check_compression(compression)
    if ids_kind not in ("auto", "int", "str"):
        raise DataError(f"ids_kind must be auto, int or str, got {ids_kind!r}")

    def stems(folder):
        folder = os.fspath(folder)
        if not os.path.isdir(folder):
            raise DataError(f"{folder}: feature folder not found")
        found = {
            os.path.splitext(n)[0]: os.path.join(folder, n)
            for n in os.listdir(folder)
            if n.endswith(".npy")
        }
        if not found:
            raise DataError(f"{folder}: no .npy files")
        return found

    app_files = stems(appearance_dir)
    mot_files = stems(motion_dir) if motion_dir is not None else None
    if mot_files is not None and set(mot_files) != set(app_files):
        only_a = sorted(set(app_files) - set(mot_files))
        only_m = sorted(set(mot_files) - set(app_files))
        raise DataError(
            f"{appearance_dir} and {motion_dir} hold different videos: "
            f"{len(only_a)} only in appearance (e.g. {only_a[:5]}), "
            f"{len(only_m)} only in motion (e.g. {only_m[:5]})"
        )
    all_int = all(s.lstrip("-").isdigit() for s in app_files)
    if ids_kind == "int" and not all_int:
        bad = [s for s in app_files if not s.lstrip("-").isdigit()][:5]
        raise DataError(f"{appearance_dir}: ids_kind='int' but file stems {bad} are not integers")
    use_int = all_int if ids_kind == "auto" else ids_kind == "int"
    names = sorted(app_files, key=(lambda s: int(s)) if use_int else None)
    ids = [int(s) for s in names] if use_int else names

    def load(file, expect):
        try:
            arr = np.load(file, allow_pickle=False)
        except Exception as e:  # noqa: BLE001 - numpy raises several types for bad files
            raise DataError(f"{file}: cannot load .npy array: {e}") from None
        if arr.ndim != 2:
            raise DataError(f"{file}: expected a (frames, dim) array, found shape {arr.shape}")
        if expect is not None and arr.shape != expect:
            raise DataError(f"{file}: shape {arr.shape} differs from {expect} of the other videos")
        return arr

    first_a = load(app_files[names[0]], None)
    first_m = load(mot_files[names[0]], None) if mot_files else None
    if first_m is not None and first_m.shape[0] != first_a.shape[0]:
        raise DataError(
            f"{mot_files[names[0]]}: {first_m.shape[0]} frames but appearance has "
            f"{first_a.shape[0]}"
        )
    with _atomic_h5(out_path) as f:
        app = create_features(f, "appearance", (len(names),) + first_a.shape, dtype, compression)
        mot = (
            create_features(f, "motion", (len(names),) + first_m.shape, dtype, compression)
            if first_m is not None
            else None
        )
        for row, name in enumerate(names):
            app[row] = load(app_files[name], first_a.shape)
            if mot is not None:
                mot[row] = load(mot_files[name], first_m.shape)
        _write_ids(f, ids)
    return len(names)


def convert_hcrn(
    appearance_h5,
    motion_h5,
    out_path,
    num_frames: int = 16,
    dtype: str = "float32",
    id_map: Optional[Dict] = None,
    compression: Optional[str] = None,
) -> int:
    """Convert HCRN feature files to this library's layout.

    ``appearance_h5``: ``resnet_features [V, clips, frames, D]`` and ``ids``; clips and
    frames are flattened and ``num_frames`` picked uniformly. ``motion_h5`` (or ``None``):
    ``resnext_features [V, clips, D]`` and ``ids``; clip features are repeated / sampled to
    ``num_frames`` (frame i takes the clip that covers it). Motion rows are matched to
    appearance rows by id. Returns the number of videos written (atomically; layout:
    :func:`create_features`).
    """
    check_compression(compression)
    appearance_h5 = os.fspath(appearance_h5)

    def open_h5(path, dataset, ndim):
        if not os.path.isfile(path):
            raise DataError(f"{path}: HCRN feature file not found")
        try:
            f = h5py.File(path, "r")
        except OSError as e:
            raise DataError(f"{path}: not a readable HDF5 file: {e}") from None
        for name in (dataset, "ids"):
            if name not in f:
                f.close()
                raise DataError(f"{path}: missing dataset /{name} (HCRN layout expected)")
        if f[dataset].ndim != ndim:
            shape = f[dataset].shape
            f.close()
            raise DataError(
                f"{path}: /{dataset} should have {ndim} dimensions, found shape {shape}"
            )
        ids = _decode_ids(f["ids"][()], path)
        if len(ids) != f[dataset].shape[0]:
            n = f[dataset].shape[0]
            f.close()
            raise DataError(f"{path}: /ids has {len(ids)} entries but /{dataset} has {n}")
        return f, ids

    fa, ids = open_h5(appearance_h5, "resnet_features", 4)
    fm = None
    try:
        if len(set(ids)) != len(ids):
            raise DataError(f"{appearance_h5}: duplicate ids in /ids")
        app = fa["resnet_features"]
        num_videos, clips, frames, dim_a = app.shape
        app_idx = uniform_frame_indices(clips * frames, num_frames)
        mot_rows = mot_idx = None
        if motion_h5 is not None:
            motion_h5 = os.fspath(motion_h5)
            fm, mot_ids = open_h5(motion_h5, "resnext_features", 3)
            mot = fm["resnext_features"]
            where = {v: r for r, v in enumerate(mot_ids)}
            missing = [v for v in ids if v not in where]
            if missing:
                raise DataError(
                    f"{motion_h5}: {len(missing)} appearance video(s) have no "
                    f"motion features, e.g. {missing[:5]}"
                )
            mot_rows = np.asarray([where[v] for v in ids])
            mot_idx = uniform_frame_indices(mot.shape[1], num_frames)
        with _atomic_h5(out_path) as f:
            out_a = create_features(
                f, "appearance", (num_videos, num_frames, dim_a), dtype, compression
            )
            out_m = (
                create_features(
                    f, "motion", (num_videos, num_frames, mot.shape[2]), dtype, compression
                )
                if fm is not None
                else None
            )
            step = _rows_per_chunk(app)
            for start in range(0, num_videos, step):
                stop = min(start + step, num_videos)
                block = app[start:stop].reshape(stop - start, clips * frames, dim_a)
                out_a[start:stop] = block[:, app_idx]
                if out_m is not None:
                    rows = mot_rows[start:stop]
                    order = np.argsort(rows)
                    block = np.empty((stop - start,) + mot.shape[1:], dtype=mot.dtype)
                    block[order] = mot[rows[order]]
                    out_m[start:stop] = block[:, mot_idx]
            if id_map is not None:
                unmapped = [v for v in ids if v not in id_map]
                if unmapped:
                    raise DataError(
                        f"{appearance_h5}: {len(unmapped)} id(s) not in id_map, e.g. {unmapped[:5]}"
                    )
                ids = [id_map[v] for v in ids]
            _write_ids(f, ids)
    finally:
        fa.close()
        if fm is not None:
            fm.close()
    return num_videos


def convert_nextqa(
    inputs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    out_path,
    appearance_dim: int = 2048,
    num_frames: Optional[int] = None,
    dtype: str = "float32",
    compression: Optional[str] = None,
) -> int:
    """Convert NExT-QA's official ``app_mot_{split}.h5`` files into one feature file.

    Each input holds ``ids`` [V] (video ids) and ``feat`` [V, N, Da + Dm]: appearance in columns
    ``0..appearance_dim-1`` (ResNet, 2048) and motion after them (ResNeXt, 2048). Several inputs
    (train, val, test) are merged, first file first; a video in several of them is written once
    (up to 20 such videos are checked to have the same features in each).
    ``num_frames`` (default: all stored) picks frames uniformly. Returns the number of videos
    written (atomically; layout: :func:`create_features`).
    """
    check_compression(compression)
    paths = [os.fspath(p) for p in ([inputs] if isinstance(inputs, (str, os.PathLike)) else inputs)]
    if not paths:
        raise DataError("convert_nextqa needs at least one app_mot_{split}.h5 file")
    files = []
    try:
        for path in paths:
            if not os.path.isfile(path):
                raise DataError(f"{path}: NExT-QA feature file not found")
            try:
                f = h5py.File(path, "r")
            except OSError as e:
                raise DataError(f"{path}: not a readable HDF5 file: {e}") from None
            files.append(f)
            for name in ("ids", "feat"):
                if name not in f:
                    raise DataError(
                        f"{path}: missing dataset /{name} (NExT-QA app_mot layout: /ids [V], "
                        "/feat [V, 16, 4096])"
                    )
            feat = f["feat"]
            if feat.ndim != 3 or feat.shape[2] <= appearance_dim:
                raise DataError(
                    f"{path}: /feat should be [V, frames, {appearance_dim} + motion dims], "
                    f"found shape {feat.shape}"
                )
            if feat.shape[1:] != files[0]["feat"].shape[1:]:
                raise DataError(
                    f"{path}: /feat has shape {feat.shape[1:]} per video but {paths[0]} has "
                    f"{files[0]['feat'].shape[1:]}"
                )
        # first occurrence of each id wins; repeats are checked equal below
        order: Dict[VideoId, Tuple[int, int]] = {}
        repeats = []
        for k, (path, f) in enumerate(zip(paths, files)):
            ids = _decode_ids(f["ids"][()], path)
            if len(ids) != f["feat"].shape[0]:
                raise DataError(
                    f"{path}: /ids has {len(ids)} entries but /feat has {f['feat'].shape[0]}"
                )
            if len(set(ids)) != len(ids):
                raise DataError(f"{path}: duplicate ids in /ids")
            for row, vid in enumerate(ids):
                if vid in order:
                    repeats.append((vid, k, row))
                else:
                    order[vid] = (k, row)
        for vid, k, row in repeats[:20]:  # a spot check: same video, same features
            k0, row0 = order[vid]
            if not np.allclose(files[k]["feat"][row], files[k0]["feat"][row0], atol=1e-3):
                raise DataError(f"{paths[k]}: video {vid!r} has other features than in {paths[k0]}")
        stored, total_dim = files[0]["feat"].shape[1:]
        frames = uniform_frame_indices(stored, num_frames or stored)
        ids = list(order)
        with _atomic_h5(out_path) as out:
            shape = (len(ids), len(frames))
            app = create_features(out, "appearance", shape + (appearance_dim,), dtype, compression)
            mot = create_features(
                out, "motion", shape + (total_dim - appearance_dim,), dtype, compression
            )
            row_out = 0
            for k, f in enumerate(files):
                rows = np.asarray([row for vid, (kk, row) in order.items() if kk == k], np.int64)
                step = _rows_per_chunk(f["feat"])
                for start in range(0, len(rows), step):
                    block = f["feat"][rows[start : start + step]][:, frames]
                    stop = row_out + len(block)
                    app[row_out:stop] = block[..., :appearance_dim]
                    mot[row_out:stop] = block[..., appearance_dim:]
                    row_out = stop
            _write_ids(out, ids)  # insertion order of ``order``: file by file, row by row
    finally:
        for f in files:
            f.close()
    return len(ids)
