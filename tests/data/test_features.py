import os
import pickle

import h5py
import numpy as np
import pytest
import torch

from mspan_pyg.data import FeatureStore, convert_hcrn, convert_npy_folders, uniform_frame_indices
from mspan_pyg.errors import DataError


def make_h5(path, V=4, N=6, Da=5, Dm=3, ids=None, dtype="float32", seed=0):
    rng = np.random.default_rng(seed)
    app = rng.standard_normal((V, N, Da)).astype(dtype)
    mot = rng.standard_normal((V, N, Dm)).astype(dtype) if Dm else None
    ids = ids if ids is not None else [f"gif{i}" for i in range(V)]
    with h5py.File(path, "w") as f:
        f["appearance"] = app
        if mot is not None:
            f["motion"] = mot
        if isinstance(ids[0], str):
            f.create_dataset("ids", data=ids, dtype=h5py.string_dtype("utf-8"))
        else:
            f["ids"] = np.asarray(ids, dtype=np.int64)
    return app, mot


def test_get_unsorted_rows_with_repeats(tmp_path):
    path = tmp_path / "f.h5"
    app, mot = make_h5(path, dtype="float16")
    store = FeatureStore(path)
    assert (len(store), store.num_frames, store.appearance_dim, store.motion_dim) == (4, 6, 5, 3)
    rows = [3, 0, 3, 2]
    a, m = store.get(rows)
    assert a.dtype == torch.float32 and a.shape == (4, 6, 5) and m.shape == (4, 6, 3)
    assert np.array_equal(a.numpy(), app[rows].astype(np.float32))
    assert np.array_equal(m.numpy(), mot[rows].astype(np.float32))
    assert store.row("gif2") == 2 and "gif9" not in store
    mem = FeatureStore(path, in_memory=True)
    a2, m2 = mem.get(rows)
    assert torch.equal(a, a2) and torch.equal(m, m2)


def test_int_ids_and_no_motion(tmp_path):
    path = tmp_path / "f.h5"
    make_h5(path, Dm=0, ids=[10, 3, 7, 1])
    store = FeatureStore(path)
    assert store.row(7) == 2 and store.row("7") == 2 and not store.has_motion
    assert store.get([1])[1] is None


def test_fewer_frames_sampled_uniformly_and_more_is_error(tmp_path):
    path = tmp_path / "f.h5"
    app, _ = make_h5(path, N=8)
    store = FeatureStore(path, num_frames=4)
    assert uniform_frame_indices(8, 4).tolist() == [1, 3, 5, 7]
    a, m = store.get([1])
    assert a.shape == (1, 4, 5) and m.shape == (1, 4, 3)
    assert np.array_equal(a[0].numpy(), app[1, [1, 3, 5, 7]])
    with pytest.raises(DataError, match="asked for 9 frames.*stores 8"):
        FeatureStore(path, num_frames=9)


def test_expected_dims(tmp_path):
    path = tmp_path / "f.h5"
    make_h5(path)
    FeatureStore(path, expected_dims=(5, 3))
    with pytest.raises(DataError, match=r"f.h5: appearance features are 5-d, expected 2048"):
        FeatureStore(path, expected_dims=(2048, 3))
    with pytest.raises(DataError, match="motion features are 3-d, expected 4"):
        FeatureStore(path, expected_dims=(5, 4))
    no_motion = FeatureStore(path, expected_dims=(5, 0))  # motion present but not used
    assert no_motion.get([0])[1] is None and no_motion.motion_dim == 0


def test_nan_detected_and_check_can_be_disabled(tmp_path):
    path = tmp_path / "f.h5"
    make_h5(path)
    with h5py.File(path, "a") as f:
        f["motion"][2, 1, 0] = np.inf
    with pytest.raises(DataError, match=r"f.h5: /motion has NaN or Inf values for 1 video.*'gif2'"):
        FeatureStore(path)
    FeatureStore(path, check_finite=False)


@pytest.mark.parametrize(
    "edit,message",
    [
        (lambda f: f.__delitem__("appearance"), "missing dataset /appearance"),
        (lambda f: f.__delitem__("ids"), "missing dataset /ids"),
        (
            lambda f: (
                f.__delitem__("motion"),
                f.create_dataset("motion", data=np.zeros((3, 6, 3))),
            ),
            "4 videos but /motion has 3",
        ),
        (
            lambda f: (f.__delitem__("ids"), f.create_dataset("ids", data=[1, 2, 1, 3])),
            "duplicate id",
        ),
    ],
)
def test_structural_errors(tmp_path, edit, message):
    path = tmp_path / "f.h5"
    make_h5(path)
    with h5py.File(path, "a") as f:
        edit(f)
    with pytest.raises(DataError, match=message) as e:
        FeatureStore(path)
    assert str(path) in str(e.value)


def test_not_hdf5_and_truncated(tmp_path):
    bad = tmp_path / "notes.h5"
    bad.write_text("not hdf5")
    with pytest.raises(DataError, match="notes.h5: not a readable HDF5 file"):
        FeatureStore(bad)
    path = tmp_path / "f.h5"
    make_h5(path, V=64, N=16, Da=64)
    data = path.read_bytes()
    cut = tmp_path / "cut.h5"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.h5: not a readable HDF5 file .truncated"):
        FeatureStore(cut)
    with pytest.raises(DataError, match="not found"):
        FeatureStore(tmp_path / "missing.h5")


def test_check_ids(tmp_path):
    path = tmp_path / "f.h5"
    make_h5(path)
    store = FeatureStore(path)
    wanted = ["gif0", "gif1", "x1", "x2", "x1", "x3", "x4", "x5", "x6"]
    with pytest.raises(DataError) as e:
        store.check_ids(wanted)
    msg = str(e.value)
    assert "6 of 8 question videos" in msg and "'x5'" in msg and "'x6'" not in msg
    assert store.check_ids(wanted, skip_missing=True) == {"x1", "x2", "x3", "x4", "x5", "x6"}
    assert store.check_ids(["gif3"]) == set()


def test_pickle_carries_no_handle(tmp_path):
    path = tmp_path / "f.h5"
    app, _ = make_h5(path)
    store = FeatureStore(path)
    store.get([0])  # opens the file in this process (uncompressed: a plain descriptor)
    assert store._readers["appearance"]._fd is not None
    clone = pickle.loads(pickle.dumps(store))
    assert clone._file is None and clone._readers["appearance"]._fd is None
    assert np.array_equal(clone.get([2])[0].numpy(), app[[2]])


def test_convert_npy_folders_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    a_dir, m_dir = tmp_path / "app", tmp_path / "mot"
    a_dir.mkdir(), m_dir.mkdir()
    arrays = {}
    for vid in (12, 3, 100):
        arrays[vid] = (
            rng.standard_normal((4, 6)).astype(np.float32),
            rng.standard_normal((4, 2)).astype(np.float32),
        )
        np.save(a_dir / f"{vid}.npy", arrays[vid][0])
        np.save(m_dir / f"{vid}.npy", arrays[vid][1])
    out = tmp_path / "out.h5"
    assert convert_npy_folders(a_dir, m_dir, out) == 3
    assert not os.path.exists(str(out) + ".tmp")
    store = FeatureStore(out)
    assert store.ids == [3, 12, 100]
    a, m = store.get([store.row(12), store.row(100)])
    assert np.array_equal(a.numpy(), np.stack([arrays[12][0], arrays[100][0]]))
    assert np.array_equal(m.numpy(), np.stack([arrays[12][1], arrays[100][1]]))
    # string ids, appearance only
    convert_npy_folders(a_dir, None, out, ids_kind="str")
    assert FeatureStore(out).ids == ["100", "12", "3"] and not FeatureStore(out).has_motion


def test_convert_npy_folders_errors_leave_nothing(tmp_path):
    a_dir, m_dir = tmp_path / "app", tmp_path / "mot"
    a_dir.mkdir(), m_dir.mkdir()
    np.save(a_dir / "a.npy", np.zeros((4, 6), np.float32))
    np.save(a_dir / "b.npy", np.zeros((5, 6), np.float32))
    out = tmp_path / "out.h5"
    with pytest.raises(DataError, match=r"b.npy: shape \(5, 6\) differs"):
        convert_npy_folders(a_dir, None, out)
    assert not out.exists() and not os.path.exists(str(out) + ".tmp")
    np.save(a_dir / "b.npy", np.zeros((4, 6), np.float32))
    np.save(m_dir / "a.npy", np.zeros((4, 6), np.float32))
    with pytest.raises(DataError, match="1 only in appearance"):
        convert_npy_folders(a_dir, m_dir, out)


def test_convert_hcrn_roundtrip(tmp_path):
    rng = np.random.default_rng(0)
    V, C, F, D = 3, 4, 2, 5
    res = rng.standard_normal((V, C, F, D)).astype(np.float32)
    rxt = rng.standard_normal((V, C, 7)).astype(np.float32)
    with h5py.File(tmp_path / "app.h5", "w") as f:
        f["resnet_features"] = res
        f["ids"] = np.array([5, 9, 2])
    with h5py.File(tmp_path / "mot.h5", "w") as f:  # same videos, another order
        f["resnext_features"] = rxt[[2, 0, 1]]
        f["ids"] = np.array([2, 5, 9])
    out = tmp_path / "out.h5"
    assert convert_hcrn(tmp_path / "app.h5", tmp_path / "mot.h5", out, num_frames=4) == 3
    store = FeatureStore(out)
    assert store.ids == [5, 9, 2] and store.num_frames == 4
    a, m = store.get([0, 1, 2])
    flat = res.reshape(V, C * F, D)
    assert np.array_equal(a.numpy(), flat[:, [1, 3, 5, 7]])
    assert np.array_equal(m.numpy(), rxt)  # 4 frames from 4 clips: one per clip
    convert_hcrn(tmp_path / "app.h5", tmp_path / "mot.h5", out, num_frames=8)
    m8 = FeatureStore(out).get([1])[1]
    assert np.array_equal(m8[0].numpy(), np.repeat(rxt[1], 2, axis=0))  # each clip twice


def test_convert_hcrn_errors(tmp_path):
    with h5py.File(tmp_path / "app.h5", "w") as f:
        f["resnet_features"] = np.zeros((2, 2, 2, 3), np.float32)
        f["ids"] = np.array([1, 2])
    with h5py.File(tmp_path / "mot.h5", "w") as f:
        f["resnext_features"] = np.zeros((1, 2, 3), np.float32)
        f["ids"] = np.array([1])
    out = tmp_path / "out.h5"
    with pytest.raises(DataError, match=r"mot.h5: 1 appearance video\(s\) have no motion"):
        convert_hcrn(tmp_path / "app.h5", tmp_path / "mot.h5", out)
    assert not out.exists() and not os.path.exists(str(out) + ".tmp")
    with pytest.raises(DataError, match="mot.h5: missing dataset /resnet_features"):
        convert_hcrn(tmp_path / "mot.h5", None, out)


def test_convert_hcrn_tgif_id_map(tmp_path):
    from mspan_pyg.data import tgif_key_map

    # as in the release: HCRN's feature ids are the GIF's `key`; vid_id names the question
    header = "gif_name\tquestion\tanswer\tvid_id\tkey"
    (tmp_path / "Train_count_question.csv").write_text(
        f"{header}\ntumblr_x\thow many ?\t2\tCOUNT1\t5\ntumblr_y\thow many ?\t3\tCOUNT2\t9\n"
    )
    (tmp_path / "Test_frameqa_question.csv").write_text(
        "gif_name\tquestion\tanswer\ttype\tvid_id\tkey\tdescription\n"
        "tumblr_x\twhat is it ?\tdog\t0\tFRAMEQA1\t5\ta dog\n"
    )
    id_map = tgif_key_map(tmp_path)
    assert id_map == {5: "tumblr_x", 9: "tumblr_y"}
    with h5py.File(tmp_path / "app.h5", "w") as f:
        f["resnet_features"] = np.zeros((2, 2, 2, 3), np.float32)
        f["ids"] = np.array([9, 5])
    out = tmp_path / "out.h5"
    convert_hcrn(tmp_path / "app.h5", None, out, num_frames=4, id_map=id_map)
    assert FeatureStore(out).ids == ["tumblr_y", "tumblr_x"]
    from mspan_pyg.cli.main import main

    cli_out = tmp_path / "cli.h5"
    flags = ["--appearance", str(tmp_path / "app.h5"), "--out", str(cli_out), "--num-frames", "4"]
    assert main(["convert-features", "hcrn", *flags, "--tgif-dir", str(tmp_path)]) == 0
    assert FeatureStore(cli_out).ids == ["tumblr_y", "tumblr_x"]
    with pytest.raises(DataError, match=r"app.h5: 1 id\(s\) not in id_map, e.g. \[9\]"):
        convert_hcrn(tmp_path / "app.h5", None, out, id_map={5: "tumblr_x"})
    (tmp_path / "Test_count_question.csv").write_text(
        f"{header}\ntumblr_z\thow many ?\t2\tCOUNT3\t5\n"
    )
    with pytest.raises(DataError, match="Test_count_question.csv, row 1: key 5 is 'tumblr_z'"):
        tgif_key_map(tmp_path)
