"""convert_nextqa: the official app_mot_{split}.h5 files -> one feature store."""

import h5py
import numpy as np
import pytest

from mspan_pyg.cli.main import main
from mspan_pyg.data import FeatureStore
from mspan_pyg.data.features import convert_nextqa
from mspan_pyg.errors import DataError


def app_mot(path, ids, feat):
    with h5py.File(path, "w") as f:
        f.create_dataset("ids", data=np.asarray(ids, dtype=np.int64))
        f.create_dataset("feat", data=feat)
    return path


def test_splits_columns_and_merges_files(tmp_path):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 4, 10)).astype(np.float32)
    b = rng.standard_normal((2, 4, 10)).astype(np.float32)
    b[0] = a[1]  # a video in two files: the same features
    f1 = app_mot(tmp_path / "app_mot_train.h5", [4010069381, 2909445186], a)
    f2 = app_mot(tmp_path / "app_mot_val.h5", [2909445186, 11871253306], b)
    out = tmp_path / "features.h5"
    assert convert_nextqa([f1, f2], out, appearance_dim=6) == 3
    store = FeatureStore(out)
    assert store.ids == [4010069381, 2909445186, 11871253306]
    assert store.appearance_dim == 6 and store.motion_dim == 4 and store.num_frames == 4
    app, mot = store.get(store.rows([11871253306, 4010069381]))
    np.testing.assert_allclose(app.numpy(), np.stack([b[1, :, :6], a[0, :, :6]]))
    np.testing.assert_allclose(mot.numpy(), np.stack([b[1, :, 6:], a[0, :, 6:]]))
    assert "4010069381" in store  # the CSV's decimal text matches the integer id


def test_frames_are_sampled_uniformly(tmp_path):
    feat = np.arange(8, dtype=np.float32)[None, :, None].repeat(3, axis=2)
    f = app_mot(tmp_path / "a.h5", [1], feat)
    convert_nextqa(f, tmp_path / "o.h5", appearance_dim=2, num_frames=4)
    app, _ = FeatureStore(tmp_path / "o.h5").get([0])
    assert app[0, :, 0].tolist() == [1.0, 3.0, 5.0, 7.0]


def test_bad_inputs(tmp_path):
    f = app_mot(tmp_path / "a.h5", [1, 2], np.zeros((2, 4, 10), np.float32))
    with pytest.raises(DataError, match=r"a.h5: /feat should be \[V, frames, 2048"):
        convert_nextqa(f, tmp_path / "o.h5")
    with h5py.File(tmp_path / "b.h5", "w") as h:
        h.create_dataset("ids", data=np.array([1]))
    with pytest.raises(DataError, match="b.h5: missing dataset /feat"):
        convert_nextqa(tmp_path / "b.h5", tmp_path / "o.h5", appearance_dim=6)
    g = app_mot(tmp_path / "g.h5", [2], np.ones((1, 4, 10), np.float32))
    with pytest.raises(DataError, match="g.h5: video 2 has other features than in"):
        convert_nextqa([f, g], tmp_path / "o.h5", appearance_dim=6)
    d = app_mot(tmp_path / "d.h5", [1, 1], np.zeros((2, 4, 10), np.float32))
    with pytest.raises(DataError, match="d.h5: duplicate ids"):
        convert_nextqa(d, tmp_path / "o.h5", appearance_dim=6)
    assert not (tmp_path / "o.h5").exists()


def test_command_line(tmp_path, capsys):
    a = app_mot(tmp_path / "app_mot_train.h5", [1, 2], np.ones((2, 4, 10), np.float32))
    b = app_mot(tmp_path / "app_mot_test.h5", [3], np.ones((1, 4, 10), np.float32))
    out = tmp_path / "f.h5"
    argv = ["convert-features", "nextqa", "--appearance", f"{a},{b}", "--out", str(out)]
    assert main(argv + ["--appearance-dim", "6"]) == 0
    assert "wrote 3 videos" in capsys.readouterr().out
    assert FeatureStore(out).motion_dim == 4
