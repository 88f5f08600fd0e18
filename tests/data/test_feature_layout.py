"""The batch read of every file layout the store meets: contiguous (older files), chunked by
video (the writers' layout), several videos per chunk, compressed; repeats, frame sampling,
dtypes, truncation."""

import os

import h5py
import numpy as np
import pytest
import torch

from mspan_pyg.data import FeatureStore, convert_npy_folders
from mspan_pyg.data.features import COMPRESSIONS, create_features
from mspan_pyg.errors import DataError

V, N, DA, DM = 7, 6, 5, 3


def write(path, layout, dtype="float16"):
    rng = np.random.default_rng(1)
    arrays = {
        "appearance": rng.standard_normal((V, N, DA)).astype(dtype),
        "motion": rng.standard_normal((V, N, DM)).astype(dtype),
    }
    with h5py.File(path, "w") as f:
        for name, data in arrays.items():
            if layout == "contiguous":
                f[name] = data
            elif layout == "chunks-of-3":
                f.create_dataset(name, data=data, chunks=(3,) + data.shape[1:])
            else:  # the writers' layout, uncompressed ("video") or compressed
                d = create_features(
                    f, name, data.shape, dtype, None if layout == "video" else layout
                )
                d[...] = data
        f["ids"] = np.arange(V, dtype=np.int64)
    return arrays


LAYOUTS = ["contiguous", "video", "chunks-of-3", "lzf", "gzip"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_every_layout_reads_the_same_batches(tmp_path, layout):
    path = tmp_path / "f.h5"
    arrays = write(path, layout)
    store = FeatureStore(path)
    assert store._readers["appearance"].direct == (layout not in ("lzf", "gzip"))
    for rows in ([6, 0, 3], [2, 2, 5, 2, 0], [4], list(range(V))[::-1], []):
        a, m = store.get(rows)
        assert a.dtype == torch.float32 and a.shape == (len(rows), N, DA)
        assert np.array_equal(a.numpy(), arrays["appearance"][rows].astype(np.float32))
        assert np.array_equal(m.numpy(), arrays["motion"][rows].astype(np.float32))
    half, _ = store.get([5, 1, 5], dtype=torch.float16)
    assert half.dtype == torch.float16
    assert np.array_equal(half.numpy(), arrays["appearance"][[5, 1, 5]])
    sampled = FeatureStore(path, num_frames=3)
    a, _ = sampled.get([3, 1, 3])
    frames = [1, 3, 5]
    assert np.array_equal(a.numpy(), arrays["appearance"][[3, 1, 3]][:, frames].astype(np.float32))


def test_in_memory_and_file_agree_in_both_dtypes(tmp_path):
    path = tmp_path / "f.h5"
    write(path, "video", dtype="float32")
    rows = [3, 0, 3, 6]
    for dtype in (torch.float32, torch.float16):
        disk = FeatureStore(path, dtype=dtype).get(rows)
        memory = FeatureStore(path, in_memory=True, dtype=dtype).get(rows)
        assert disk[0].dtype == dtype and torch.equal(disk[0], memory[0])
        assert torch.equal(disk[1], memory[1])


def test_truncated_file_names_file_and_row(tmp_path):
    path = tmp_path / "f.h5"
    write(path, "contiguous", dtype="float32")
    store = FeatureStore(path, check_finite=False)
    offsets = store._readers["motion"].offsets
    os.truncate(path, int(offsets[4]) + 10)  # rows 4.. of /motion cut off
    with pytest.raises(DataError, match=r"f\.h5: /motion row 4 .*truncated"):
        store.get([1, 5, 4])


def test_writer_chunks_by_video_and_compresses(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "app"
    folder.mkdir()
    for v in range(3):
        np.save(folder / f"{v}.npy", rng.standard_normal((N, DA)).astype(np.float32))
    for compression in COMPRESSIONS:
        out = tmp_path / f"{compression}.h5"
        convert_npy_folders(folder, None, out, dtype="float16", compression=compression)
        with h5py.File(out, "r") as f:
            assert f["appearance"].chunks == (1, N, DA)
            assert f["appearance"].compression == (None if compression == "none" else compression)
        stored = FeatureStore(out).get([2])[0].numpy()
        assert np.array_equal(stored[0], np.load(folder / "2.npy").astype(np.float16))
    with pytest.raises(DataError, match="unknown compression 'zstd'"):
        convert_npy_folders(folder, None, tmp_path / "x.h5", compression="zstd")


@pytest.mark.parametrize("in_memory", [False, True])
def test_recycled_batch_memory_is_never_handed_out_while_used(tmp_path, in_memory):
    path = tmp_path / "f.h5"
    arrays = write(path, "video")
    store = FeatureStore(path, in_memory=in_memory)
    first = store.get([0, 1])[0]
    view = store.get([2, 3])[0][1]  # only a view of the batch survives
    for _ in range(6):  # more batches than recycled arrays; the dropped ones are reused
        store.get([4, 5])
    assert np.array_equal(first.numpy(), arrays["appearance"][[0, 1]].astype(np.float32))
    assert np.array_equal(view.numpy(), arrays["appearance"][3].astype(np.float32))
    reused = store.get([6])[0]
    assert np.array_equal(reused.numpy(), arrays["appearance"][[6]].astype(np.float32))
    assert len(store._pool[("appearance", np.dtype(np.float32))]) <= 4


def test_reading_leaves_the_callers_torch_threads_alone(tmp_path):
    path = tmp_path / "f.h5"
    write(path, "video")
    before = torch.get_num_threads()
    FeatureStore(path).get([1, 0])
    assert torch.get_num_threads() == before
