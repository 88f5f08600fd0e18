"""TensorBoard events: written beside log.jsonl and read back with tensorboard's own reader."""

import glob
import json
import os

import pytest
from training_utils import tiny_args

from mspan_pyg.errors import ConfigError
from mspan_pyg.training import tensorboard
from mspan_pyg.training.runner import train

pytest.importorskip("tensorboard")


def read_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(folder, size_guidance={"scalars": 0})
    events.Reload()
    return events


def test_scalars_and_hparams_match_log_jsonl(tmp_path, tgif_data):
    out = tmp_path / "run"
    train(tiny_args(tgif_data, out, dataset="tgif", task="frameqa", epochs=2))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert all(r["samples_per_s"] > 0 for r in log)
    events = read_events(str(out / "tb"))  # the default folder: OUT/tb
    tags = set(events.Tags()["scalars"])
    assert {
        "train/loss",
        "train/accuracy",
        "val/loss",
        "val/accuracy",
        "lr",
        "samples_per_s",
    } <= tags
    per_type = {t for t in tags if t.startswith("val/accuracy_by_type/")}
    assert per_type == {f"val/accuracy_by_type/{q}" for q in log[0]["val"]["accuracy_by_type"]}
    for tag, value in [("val/accuracy", lambda r: r["val"]["accuracy"]), ("lr", lambda r: r["lr"])]:
        scalars = events.Scalars(tag)
        assert [s.step for s in scalars] == [1, 2]
        assert [s.value for s in scalars] == pytest.approx([value(r) for r in log], rel=1e-6)

    from tensorboard.plugins.hparams import plugin_data_pb2

    content = events.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(
        content["_hparams_/session_start_info"]
    ).session_start_info.hparams
    assert start["task"].string_value == "frameqa" and start["epochs"].number_value == 2
    assert start["lr"].number_value == pytest.approx(3e-3)


def test_off_and_chosen_folder(tmp_path, tgif_data):
    off = tmp_path / "off"
    train(tiny_args(tgif_data, off, dataset="tgif", task="frameqa", tensorboard="off"))
    assert not (off / "tb").exists() and (off / "log.jsonl").exists()
    chosen = tmp_path / "events"
    train(tiny_args(tgif_data, tmp_path / "run", dataset="tgif", task="frameqa",
                    tensorboard=str(chosen)))  # fmt: skip
    assert len(glob.glob(os.path.join(chosen, "events.out.tfevents.*"))) == 1
    assert not (tmp_path / "run" / "tb").exists()


def test_without_the_extra(monkeypatch, tmp_path):
    monkeypatch.setattr(tensorboard, "tensorboard_available", lambda: False)
    assert tensorboard.event_folder(None, str(tmp_path)) is None  # the default: quietly none
    with pytest.raises(ConfigError, match=r'pip install "mspan-pyg\[tensorboard\]"'):
        tensorboard.event_folder(str(tmp_path / "tb"), str(tmp_path))


def test_a_resumed_run_replaces_the_epochs_it_repeats(tmp_path, tgif_data):
    import shutil

    out = tmp_path / "run"
    args = dict(dataset="tgif", task="frameqa")
    train(tiny_args(tgif_data, out, epochs=1, **args))
    shutil.copy(out / "last.pt", tmp_path / "after_epoch_1.pt")
    train(tiny_args(tgif_data, out, epochs=2, resume=True, **args))
    # as if killed after epoch 2's events but before its checkpoint: epoch 2 runs again
    shutil.copy(tmp_path / "after_epoch_1.pt", out / "last.pt")
    train(tiny_args(tgif_data, out, epochs=2, resume=True, **args))
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    scalars = read_events(str(out / "tb")).Scalars("val/loss")
    assert [s.step for s in scalars] == [1, 2]
    assert [s.value for s in scalars] == pytest.approx([r["val"]["loss"] for r in log], rel=1e-6)
