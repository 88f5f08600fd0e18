"""RunConfig: one definition gives the flags, presets, checks, saved options and rows; the
dataset registry; rebuilding a run from its checkpoint."""

import argparse

import pytest
import torch
from training_utils import tiny_args

from mspan_pyg.cli.main import build_parser, main
from mspan_pyg.data import read_videoqa_json
from mspan_pyg.data import registry as R
from mspan_pyg.errors import ConfigError
from mspan_pyg.training import config as C
from mspan_pyg.training.config import PAPER, SYNTHETIC, RunConfig
from mspan_pyg.training.runner import load_run, train


def train_parser():
    sub = build_parser()._subparsers._group_actions[0]
    return sub.choices["train"]


def test_every_option_with_help_is_a_flag_with_the_field_default():
    parser = train_parser()
    dests = {a.dest: a for a in parser._actions}
    for name, f in C.config_fields().items():
        assert name in dests, name
        assert dests[name].default == f.default, name
    # the public flags of the specification keep their names
    flags = {s for a in parser._actions for s in a.option_strings}
    for flag in (
        "--task --data-dir --features --glove --epochs --batch-size --num-scales "
        "--num-iterations --visual-dim --module-dim --word-dim --num-frames --limit "
        "--question-only --seed --device --out --share-iterations --no-share-iterations "
        "--preset --no-gcn --no-progress"
    ).split():
        assert flag in flags, flag


def test_help_shows_the_preset_values():
    text = train_parser().format_help()
    assert f"paper {PAPER['num_scales']}; synthetic {SYNTHETIC['num_scales']}" in text


def test_presets_fill_only_unset_options():
    real = RunConfig.from_dict(dict(task="count", data_dir="d", features="f")).resolve()
    assert real.model.num_scales == 8 and real.train.lr == 1e-4 and real.train.batch_size == 64
    assert real.model.share_iterations is False  # the authors' code: weights per iteration
    builtin = RunConfig.from_dict(dict(task="count", lr=0.5)).resolve()
    assert builtin.data.synthetic and builtin.model.num_scales == 4
    assert builtin.model.share_iterations is True and builtin.train.lr == 0.5
    forced = RunConfig.from_dict(dict(task="count", preset="paper")).resolve()
    assert forced.model.num_scales == 8 and forced.data.synthetic
    msvd = RunConfig.from_dict(dict(dataset="msvd", data_dir="d", features="f")).resolve()
    assert msvd.data.task == "qa" and msvd.train.batch_size == 128 and msvd.head == "open"
    assert RunConfig.from_dict(real.to_dict()).resolve() == real  # resolving is idempotent


@pytest.mark.parametrize(
    "option, value, message",
    [
        ("epochs", 0, "--epochs must be at least 1"),
        ("batch_size", -1, "--batch-size must be at least 1"),
        ("num_scales", 0, "--num-scales must be at least 1"),
        ("num_iterations", -1, "--num-iterations must be >= 0"),
        ("lr", 0.0, "--lr must be positive"),
        ("lr_patience", -1, "--lr-patience must be >= 0"),
        ("warmup_epochs", -1.0, "--warmup-epochs must be >= 0"),
        ("grad_clip", -1.0, "--grad-clip must be >= 0"),
        ("limit", 0, "--limit must be at least 1"),
        ("val_fraction", 1.0, "--val-fraction must be in (0, 1)"),
        ("structure", "up", "unknown --structure 'up'"),
        ("pool", "sum", "unknown --pool 'sum'"),
        ("amp", "fp8", "--amp must be bf16 or fp16"),
        ("device", "tpu", "unknown --device 'tpu'"),
        ("clip_stride", "0", "--clip-stride values must be >= 1"),
        ("preset", "huge", "unknown --preset 'huge'"),
    ],
)
def test_one_place_checks_every_option(option, value, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        RunConfig.from_dict({"task": "count", option: value}).resolve()


def test_flat_names_round_trip_and_unknown_names_fail():
    config = RunConfig.from_dict(dict(task="count", num_scales=3, no_such=1), strict=False)
    assert config.model.num_scales == 3 and config["num_scales"] == 3
    assert RunConfig.from_dict(config.to_dict()) == config
    assert config.replace(seed=5).train.seed == 5 and config.train.seed == 0
    with pytest.raises(ConfigError, match="unknown option.*no_such"):
        RunConfig.from_dict(dict(no_such=1))


def test_share_iterations_flag_reaches_the_model(tgif_data, tmp_path):
    flags = [
        "train", "--task", "count", "--data-dir", tgif_data["data_dir"], "--features",
        tgif_data["features"], "--num-scales", "2", "--num-iterations", "2", "--visual-dim", "8",
        "--module-dim", "8", "--word-dim", "8", "--epochs", "1", "--batch-size", "16",
        "--no-progress",
    ]  # fmt: skip
    sizes = {}
    for choice in ("--share-iterations", "--no-share-iterations"):
        out = tmp_path / choice
        assert main([*flags, choice, "--out", str(out)]) == 0
        run = load_run(str(out / "best.pt"))
        assert run.model.config["share_iterations"] is (choice == "--share-iterations")
        sizes[choice] = sum(p.numel() for p in run.model.parameters())
    assert sizes["--no-share-iterations"] > sizes["--share-iterations"]


def test_a_new_dataset_is_one_registry_entry(msvd_data, tmp_path, monkeypatch):
    def read(data_dir, task, split):
        return read_videoqa_json(data_dir, split)

    spec = R.DatasetSpec(
        "mine", {"ask": "open"}, read, batch_size=8, answer_vocab_size=5, has_val_split=True
    )
    monkeypatch.setitem(R._REGISTRY, "mine", spec)
    m = train(tiny_args(msvd_data, tmp_path / "run", dataset="mine", batch_size=None))
    assert (m["dataset"], m["task"], m["metric"]) == ("mine", "ask", "accuracy")
    run = load_run(str(tmp_path / "run" / "best.pt"))
    assert run.config.train.batch_size == 8 and len(run.answer_vocab) <= 5 + 1
    with pytest.raises(ConfigError, match="tasks must map each task to a head"):
        R.DatasetSpec("bad", {"ask": "essay"}, read, batch_size=8)
    with pytest.raises(ConfigError, match="unknown dataset 'nope'; valid datasets: tgif"):
        R.get_dataset("nope")


def test_load_run_rebuilds_model_config_and_vocabularies(tgif_data, tmp_path):
    out = tmp_path / "run"
    train(tiny_args(tgif_data, out, task="frameqa"))
    run = load_run(str(out / "best.pt"))
    assert run.head == "open" and run.config.data.task == "frameqa"
    assert not run.model.training
    state = torch.load(out / "best.pt", weights_only=True)
    for k, v in state["model_state"].items():
        assert torch.equal(run.model.state_dict()[k], v)
    data = run.data(("test",))
    assert data.question_vocab.itos == run.question_vocab.itos
    assert data.answer_vocab.itos == run.answer_vocab.itos


def test_old_flat_checkpoint_options_still_load(tgif_data, tmp_path):
    out = tmp_path / "run"
    train(tiny_args(tgif_data, out, task="count"))
    state = torch.load(out / "best.pt", weights_only=True)
    # the options dict of earlier versions: flat, with keys this version does not know
    state["args"] = dict(state["args"], retired_option=1)
    del state["args"]["share_iterations"]
    del state["checksum"]  # nor did they store a checksum
    torch.save(state, out / "old.pt")
    run = load_run(str(out / "old.pt"))
    assert run.config.model.num_scales == 2 and run.config.data.task == "count"


def test_ablation_and_cli_flags_are_the_same_fields():
    from mspan_pyg.analysis.ablation import BASE_OPTIONS, add_ablate_arguments

    p = argparse.ArgumentParser()
    add_ablate_arguments(p)
    help_of = {a.dest: a.help for a in p._actions}
    train_help = {a.dest: a.help for a in train_parser()._actions}
    for name in BASE_OPTIONS:
        if name != "task":
            assert help_of[name] == train_help[name], name


def test_mc_query_flag_reaches_the_model(tgif_data, tmp_path):
    flags = [
        "train", "--task", "action", "--data-dir", tgif_data["data_dir"], "--features",
        tgif_data["features"], "--num-scales", "2", "--num-iterations", "1", "--visual-dim", "8",
        "--module-dim", "8", "--word-dim", "8", "--epochs", "1", "--batch-size", "16",
        "--no-progress", "--mc-query", "question+candidate", "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    assert main(flags) == 0
    run = load_run(str(tmp_path / "run" / "best.pt"))
    assert run.model.per_candidate and run.config.model.mc_query == "question+candidate"
    assert RunConfig.from_dict({"dataset": "tgif", "task": "action"}).resolve().model.mc_query == (
        "question"
    )  # the paper's mode by default
    with pytest.raises(ConfigError, match="--mc-query"):
        RunConfig.from_dict({"task": "action", "mc_query": "answer"}).resolve()
