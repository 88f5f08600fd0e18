"""--augment-features: training reads one frame sampling per epoch, seeded; val/test the first."""

import json
import os
import shutil

import h5py
import numpy as np
import pytest
import torch
from training_utils import another_sampling, tiny_args

from mspan_pyg.data import FeatureStore
from mspan_pyg.errors import ConfigError, DataError
from mspan_pyg.training import engine
from mspan_pyg.training.checkpoint import load_checkpoint
from mspan_pyg.training.config import RunConfig
from mspan_pyg.training.runner import build_data, evaluate_checkpoint, train

ARGS = dict(task="frameqa", dropout=0.1, epochs=3)


@pytest.fixture(scope="module")
def samplings(tgif_data, tmp_path_factory):
    """The tiny data's feature file and two other samplings (+100, +200)."""
    folder = tmp_path_factory.mktemp("samplings")
    extra = [another_sampling(tgif_data["features"], folder / f"s{k}.h5", 100 * k) for k in (1, 2)]
    return [tgif_data["features"]] + extra


def weights(out):
    return load_checkpoint(str(out / "last.pt"))["model_state"]


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def log(out):
    rows = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    for r in rows:
        r.pop("time_s"), r.pop("samples_per_s")
    return rows


def test_epoch_sampling_is_a_seeded_shuffled_cycle():
    for seed in (0, 1, 7):
        order = [engine.epoch_sampling(seed, e, 3) for e in range(12)]
        assert order == [engine.epoch_sampling(seed, e, 3) for e in range(12)]
        for cycle in range(4):  # every file once per 3 epochs
            assert sorted(order[3 * cycle : 3 * cycle + 3]) == [0, 1, 2]
    orders = {tuple(engine.epoch_sampling(s, e, 3) for e in range(12)) for s in range(5)}
    assert len(orders) > 1  # the seed decides
    assert all(engine.epoch_sampling(s, e, 1) == 0 for s in range(3) for e in range(5))


def test_a_sampling_reads_its_own_file_by_video_id(tgif_data, samplings):
    config = RunConfig.from_dict(
        tiny_args(tgif_data, "unused", task="frameqa", augment_features=samplings[1:])
    ).resolve()
    data = build_data(config)
    train_set = data.train
    assert train_set.num_samplings == 3 and data.val.num_samplings == data.test.num_samplings == 1
    indices = list(range(0, len(train_set), 3))
    ids = [train_set.records[i].video_id for i in indices]
    for k, path in enumerate(samplings):
        train_set.use_sampling(k)
        batch = train_set.__getitems__(indices)
        with h5py.File(path, "r") as f:  # the file's rows of these videos (another order)
            row = {v.decode(): i for i, v in enumerate(f["ids"][...])}
            want = f["appearance"][...][[row[v] for v in ids]]
        torch.testing.assert_close(batch["appearance"], torch.from_numpy(want).float())
        assert float(batch["appearance"].mean()) > 100 * k - 50  # the offset of file k


@pytest.mark.parametrize("prefetch", ["off", "on"])  # on: a thread reads the next batch
def test_each_epoch_trains_on_the_seeded_file_and_evaluation_on_the_first(
    tgif_data, samplings, tmp_path, monkeypatch, prefetch
):
    reads, phase = [], ["eval"]
    get, train_epoch = FeatureStore.get, engine.Trainer.train_epoch

    def spy_get(self, *args, **kwargs):
        reads.append((phase[0], self.path))
        return get(self, *args, **kwargs)

    def spy_train_epoch(trainer):
        phase[0] = trainer.epoch  # the 0-based epoch being trained
        try:
            return train_epoch(trainer)
        finally:
            phase[0] = "eval"

    monkeypatch.setattr(FeatureStore, "get", spy_get)
    monkeypatch.setattr(engine.Trainer, "train_epoch", spy_train_epoch)
    out = tmp_path / "three"
    extra = ",".join(samplings[1:])
    train(tiny_args(tgif_data, out, augment_features=extra, prefetch=prefetch, **ARGS))

    chosen = [samplings[engine.epoch_sampling(0, e, 3)] for e in range(3)]
    assert sorted(chosen) == sorted(samplings)  # one cycle: every file once
    for e in range(3):
        assert {p for ph, p in reads if ph == e} == {chosen[e]}
    evaluation = {p for ph, p in reads if ph == "eval"}
    assert evaluation == {samplings[0]}  # validation every epoch, then the test
    assert [r["features"] for r in log(out)] == chosen
    stored = load_checkpoint(str(out / "last.pt"))["args"]
    assert stored["augment_features"] == samplings[1:]

    # evaluate / load_run read the first file, as the run's test did
    metrics = json.loads((out / "metrics.json").read_text())
    again = evaluate_checkpoint(str(out / "best.pt"), progress=False)
    assert again["accuracy"] == metrics["test"]["accuracy"]
    assert again["loss"] == pytest.approx(metrics["test"]["loss"], rel=1e-6)


def test_runs_are_reproducible_resumable_and_trained_on_the_other_files(
    tgif_data, samplings, tmp_path
):
    extra = ",".join(samplings[1:])
    straight, again, resumed, single = (tmp_path / n for n in ("a", "b", "c", "d"))
    train(tiny_args(tgif_data, straight, augment_features=extra, **ARGS))
    train(tiny_args(tgif_data, again, augment_features=extra, **ARGS))
    assert log(again) == log(straight)
    assert same_weights(weights(again), weights(straight))

    train(tiny_args(tgif_data, resumed, augment_features=extra, **dict(ARGS, epochs=1)))
    train(tiny_args(tgif_data, resumed, resume=True, **ARGS))  # the files come from last.pt
    assert log(resumed) == log(straight)
    assert same_weights(weights(resumed), weights(straight))

    train(tiny_args(tgif_data, single, **ARGS))
    assert not same_weights(weights(single), weights(straight))  # the shifted files were read


def test_copies_of_the_first_file_change_nothing(tgif_data, tmp_path):
    """Switching between identical samplings leaves every number as without the option: the
    choice draws from no random stream of the run, and its batches are the same."""
    copy = another_sampling(tgif_data["features"], tmp_path / "copy.h5", 0)  # reordered only
    without, with_copy = tmp_path / "without", tmp_path / "with"
    train(tiny_args(tgif_data, without, **ARGS))
    train(tiny_args(tgif_data, with_copy, augment_features=[copy], **ARGS))
    rows = log(with_copy)
    assert all(r.pop("features") in (tgif_data["features"], copy) for r in rows)
    assert rows == log(without)
    assert same_weights(weights(with_copy), weights(without))
    assert "features" not in log(without)[0]


def test_a_resumed_run_keeps_its_files(tgif_data, samplings, tmp_path):
    train(tiny_args(tgif_data, tmp_path, augment_features=samplings[1:], **dict(ARGS, epochs=1)))
    with pytest.raises(ConfigError, match="--augment-features .* contradicts the checkpoint"):
        train(tiny_args(tgif_data, tmp_path, augment_features=samplings[1:2], resume=True, **ARGS))


def write_variant(main, path, change):
    shutil.copy(main, path)
    with h5py.File(path, "r+") as f:
        change(f)
    return str(path)


def fewer_frames(f):
    for name in ("appearance", "motion"):
        values = f[name][:, :8]
        del f[name]
        f[name] = values


def other_dim(f):
    values = f["appearance"][..., :6]
    del f["appearance"]
    f["appearance"] = values


def fewer_videos(f):
    ids = f["ids"][...]
    drop = np.flatnonzero([b"frameqa" in v for v in ids])[::2]  # half of the task's videos
    rows = np.setdiff1d(np.arange(len(ids)), drop)
    keep = {name: f[name][...][rows] for name in ("appearance", "motion", "ids")}
    for name, values in keep.items():
        del f[name]
        f[name] = values


@pytest.mark.parametrize(
    "change, message",
    [
        (fewer_frames, r"frames per video is 8 but 16 in "),
        (other_dim, r"appearance dim is 6 but 8 in "),
        (fewer_videos, r"\d+ question video\(s\) with features in .* have none here, e.g. "),
    ],
)
def test_a_mismatched_sampling_is_a_clear_error(tgif_data, tmp_path, change, message):
    bad = write_variant(tgif_data["features"], tmp_path / "bad.h5", change)
    with pytest.raises(DataError, match=f"^{bad}: {message}"):
        train(tiny_args(tgif_data, tmp_path / "out", augment_features=bad, **ARGS))


def test_the_flag_takes_comma_separated_files(tgif_data, tmp_path):
    import argparse

    from mspan_pyg.training.config import add_config_arguments, config_from_namespace

    parser = argparse.ArgumentParser()
    add_config_arguments(parser)
    ns = parser.parse_args(["--augment-features", "a.h5,b.h5", "--task", "count"])
    config = config_from_namespace(ns).resolve()
    assert config.data.augment_features == [os.path.abspath(n) for n in ("a.h5", "b.h5")]
    ns = parser.parse_args(["--augment-features", "a.h5,,b.h5", "--task", "count"])
    with pytest.raises(ConfigError, match="--augment-features has an empty file name"):
        config_from_namespace(ns).resolve()
    missing = str(tmp_path / "missing.h5")
    with pytest.raises(DataError, match=f"{missing}: feature file not found"):
        train(tiny_args(tgif_data, tmp_path / "out", augment_features=missing, **ARGS))
