"""Numerics: bf16 autocast trains without NaN; MSPAN stays finite for huge or identical features.

(The layer-level check of CrossScaleAttention with huge / equal scores is in
tests/core/test_cross_scale_attention.py; same-seed determinism in tests/training.)
"""

import json

import pytest
import torch
from conftest import TINY

from mspan_pyg import MSPAN
from mspan_pyg.training.checkpoint import load_checkpoint


def test_bf16_autocast_one_epoch_on_builtin_data(cli, tmp_path):
    runs = {}
    for name, extra in (("fp32", []), ("bf16", ["--amp"])):
        out = tmp_path / name
        status, _, err = cli.run(
            ["train", "--task", "count", "--num-videos", "40", "--out", out, *TINY, *extra]
        )
        assert status == 0, err
        log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
        metrics = json.loads((out / "metrics.json").read_text())
        weights = load_checkpoint(str(out / "last.pt"))["model_state"]
        assert all(torch.isfinite(v).all() for v in weights.values())
        values = [log[0]["train"]["loss"], log[0]["val"]["loss"], metrics["test"]["mse"]]
        assert all(v == v and abs(v) != float("inf") for v in values), values
        runs[name] = log[0]["train"]["loss"]
    assert runs["bf16"] != runs["fp32"]  # autocast really ran in bf16


def inputs(task, scale, constant=False, batch=3, frames=8):
    gen = torch.Generator().manual_seed(0)
    if constant:  # every frame and video the same: all cross-scale scores of a node are equal
        appearance = torch.full((batch, frames, 10), scale)
        motion = torch.full((batch, frames, 4), -scale)
    else:
        appearance = torch.randn(batch, frames, 10, generator=gen) * scale
        motion = torch.randn(batch, frames, 4, generator=gen) * scale
    kw = dict(
        appearance=appearance,
        motion=motion,
        question=torch.randint(2, 30, (batch, 5), generator=gen),
        question_len=torch.tensor([5, 3, 1]),
    )
    if task == "multichoice":
        kw.update(
            candidates=torch.randint(2, 30, (batch, 5, 3), generator=gen),
            candidates_len=torch.full((batch, 5), 3),
        )
    answer = {
        "open": torch.tensor([0, 1, 4]),
        "count": torch.tensor([1.0, 5.0, 10.0]),
        "multichoice": torch.tensor([0, 2, 4]),
    }[task]
    return kw, answer


@pytest.mark.parametrize("scale_scores", [False, True])
@pytest.mark.parametrize("task", ["open", "count", "multichoice"])
def test_huge_and_identical_features_stay_finite(task, scale_scores):
    torch.manual_seed(0)
    model = MSPAN(
        30,
        task=task,
        num_answers=5,
        appearance_dim=10,
        motion_dim=4,
        visual_dim=12,
        module_dim=8,
        word_dim=6,
        num_scales=4,
        num_iterations=2,
        dropout=0.0,
        scale_scores=scale_scores,
    )
    for scale, constant, amp in ((1e6, False, False), (1e4, True, False), (1e4, False, True)):
        kw, answer = inputs(task, scale, constant)
        model.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=amp):
            y = model(**kw)
            loss = model.loss(y, answer)
        loss.backward()
        where = f"scale {scale}, constant {constant}, bf16 {amp}"
        assert torch.isfinite(y).all() and torch.isfinite(loss), where
        grads = [p.grad for p in model.parameters() if p.grad is not None]
        assert grads and all(torch.isfinite(g).all() for g in grads), where


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_glove_vectors_are_checked_for_nan_and_inf(value, tgif, cli, tmp_path):
    """Like the features: a vocabulary word's vector with NaN/Inf is an error naming the line."""
    path = tmp_path / "glove.txt"
    path.write_text(
        "how " + " ".join(["0.1"] * 8) + "\n" + "many " + " ".join(["0.2"] * 7 + [value]) + "\n"
    )
    cli.error(
        cli.train(tgif, tmp_path / "out", "--glove", path),
        "glove.txt, line 2",
        "NaN or Inf value in the vector of 'many'",
        label=f"GloVe {value}",
    )


def test_nan_loss_in_the_first_epoch_names_no_missing_checkpoint(tgif, cli, tmp_path, monkeypatch):
    """The stop message names the last good checkpoint only when it exists."""
    loss = MSPAN.loss
    monkeypatch.setattr(MSPAN, "loss", lambda self, y, a: loss(self, y, a) * float("nan"))
    out = tmp_path / "run"
    line = cli.error(cli.train(tgif, out), "loss is nan at epoch 1, step 1", label="NaN epoch 1")
    assert ".pt" not in line and "No checkpoint was written" in line, line
    assert not (out / "last.pt").exists()


def test_nan_loss_later_names_the_checkpoint_that_exists(tgif, cli, tmp_path, monkeypatch):
    calls = {"n": 0}
    loss = MSPAN.loss

    def poisoned(self, y, answer):
        value = loss(self, y, answer)
        if self.training:
            calls["n"] += 1
            if calls["n"] == 4:  # 17 questions / batch 8 = 3 steps per epoch: epoch 2
                return value * float("nan")
        return value

    monkeypatch.setattr(MSPAN, "loss", poisoned)
    out = tmp_path / "run"
    line = cli.error(cli.train(tgif, out, "--epochs", "3"), "at epoch 2", label="NaN epoch 2")
    assert f"{out / 'last.pt'} (epoch 1)" in line and (out / "last.pt").exists(), line
