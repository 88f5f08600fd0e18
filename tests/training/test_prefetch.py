"""The prefetching path gives the batches of the plain path, in the same order (on CPU)."""

import re
import threading

import h5py
import numpy as np
import pytest
import torch

from mspan_pyg.data import FeatureStore, VideoQADataset, Vocabulary, make_loader
from mspan_pyg.data.annotations import QARecord
from mspan_pyg.errors import ConfigError, DataError
from mspan_pyg.training.config import RunConfig
from mspan_pyg.training.prefetch import device_batches, prefetch_enabled

CPU = torch.device("cpu")


@pytest.fixture
def dataset(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f["appearance"] = rng.standard_normal((9, 4, 5)).astype(np.float16)
        f["motion"] = rng.standard_normal((9, 4, 3)).astype(np.float16)
        f["ids"] = np.arange(9, dtype=np.int64)
    records = [
        QARecord(
            video_id=i % 9,
            question="what " * (1 + i % 4),
            answer=i % 5 + 1.0,
            candidates=None,
            qtype="count",
            key=i,
        )
        for i in range(23)
    ]
    store = FeatureStore(path, dtype=torch.float16)
    return VideoQADataset(
        records,
        Vocabulary.from_records(records),
        None,
        store,
        "count",
        features_dtype=torch.float16,
    )


def test_prefetch_gives_the_same_batches_in_the_same_order(dataset):
    def batches(prefetch):
        loader = make_loader(dataset, batch_size=4, shuffle=True, seed=7)
        return list(device_batches(loader, CPU, prefetch=prefetch))

    plain, ahead = batches(False), batches(True)
    assert len(plain) == len(ahead) == 6
    for a, b in zip(plain, ahead):
        assert a["appearance"].dtype == torch.float32  # converted after the move
        for key, value in a.items():
            assert (value is None and b[key] is None) or torch.equal(value, b[key]), key
    assert not torch.equal(plain[0]["index"], torch.arange(4))  # shuffled, so order was tested


def test_an_error_of_the_loader_reaches_the_consumer_at_its_batch():
    def loader():
        yield {"x": torch.ones(1)}
        raise DataError("bad row 5")

    got = device_batches(loader(), CPU, prefetch=True)
    assert torch.equal(next(got)["x"], torch.ones(1))
    with pytest.raises(DataError, match="bad row 5"):
        next(got)


def test_stopping_early_ends_the_thread():
    before = threading.active_count()
    endless = ({"x": torch.tensor(i)} for i in range(10**9))
    got = device_batches(endless, CPU, prefetch=True)
    assert int(next(got)["x"]) == 0 and int(next(got)["x"]) == 1
    got.close()
    assert threading.active_count() == before


def test_prefetch_option():
    assert prefetch_enabled("auto", torch.device("cuda")) and not prefetch_enabled("auto", CPU)
    assert prefetch_enabled("on", CPU) and not prefetch_enabled("off", torch.device("cuda"))
    for name, value, message in (
        ("prefetch", "yes", "--prefetch must be auto | on | off, got 'yes'"),
        ("features_dtype", "bf16", "--features-dtype must be auto | float32 | float16, got 'bf16'"),
        ("features_in_memory", "1", "--features-in-memory must be auto | yes | no, got '1'"),
    ):
        with pytest.raises(ConfigError, match=re.escape(message)):
            RunConfig.from_dict({"task": "count", name: value}).resolve()


def test_features_dtype_auto_is_float16_only_for_a_float16_file_on_cuda(tmp_path):
    import h5py
    import numpy as np

    from mspan_pyg.training.config import RunConfig
    from mspan_pyg.training.runner import batch_features_dtype

    half, single = tmp_path / "half.h5", tmp_path / "single.h5"
    for path, dtype in ((half, np.float16), (single, np.float32)):
        with h5py.File(path, "w") as f:
            f["appearance"] = np.zeros((1, 2, 3), dtype)

    def resolved(path, device, chosen="auto"):
        config = RunConfig.from_dict(dict(features=str(path), device=device, features_dtype=chosen))
        return batch_features_dtype(config)

    assert resolved(half, "cuda") == "float16"
    assert resolved(single, "cuda") == "float32"
    assert resolved(half, "cpu") == "float32"  # the CPU model takes float32: convert once
    assert resolved(half, "cpu", "float16") == "float16"
    assert resolved(tmp_path / "missing.h5", "cuda") == "float32"  # the store reports it
