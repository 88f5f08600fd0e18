"""Optimisation: linear warmup, then ReduceLROnPlateau on the validation metric; gradient
clipping."""

import json
import math

import pytest
import torch
from training_utils import tiny_args

from mspan_pyg.errors import ConfigError
from mspan_pyg.training.runner import train


def test_linear_warmup_then_plateau_rule(tgif_data, tmp_path):
    out = tmp_path / "run"
    m = train(tiny_args(tgif_data, out, task="count", epochs=3, warmup_epochs=2, lr=4e-3))
    steps = math.ceil(m["num_questions"]["train"] / 16)
    log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    # after epoch e of a 2-epoch warmup the rate is lr * e / 2, then it holds
    assert [r["step"] for r in log] == [steps, 2 * steps, 3 * steps]
    assert [r["lr"] for r in log] == pytest.approx([2e-3, 4e-3, 4e-3], rel=1e-12)
    # the plateau rule saw epochs 2 and 3 (warmup ends with epoch 2), not epoch 1
    state = torch.load(out / "last.pt", weights_only=False)
    assert state["scheduler"]["last_epoch"] == 2


def test_no_warmup_on_real_data_by_default(tgif_data, tmp_path):
    out = tmp_path / "run"
    train(tiny_args(tgif_data, out, task="count", epochs=1, lr=4e-3))
    assert json.loads((out / "log.jsonl").read_text())["lr"] == 4e-3


@pytest.mark.parametrize("patience", [1, 3])
def test_plateau_patience(patience, tgif_data, tmp_path, monkeypatch):
    from mspan_pyg.training import engine

    # a validation metric that never improves after epoch 1: halve after `patience` more epochs
    original = engine.Trainer.evaluate

    def flat_validation(self, dataset, desc="eval", return_predictions=False):
        if desc.startswith("val"):
            return {"mse": 5.0, "count": len(dataset)}
        return original(self, dataset, desc, return_predictions)

    monkeypatch.setattr(engine.Trainer, "evaluate", flat_validation)
    out = tmp_path / "run"
    train(tiny_args(tgif_data, out, task="count", epochs=4, lr=4e-3, lr_patience=patience))
    lrs = [json.loads(l)["lr"] for l in (out / "log.jsonl").read_text().splitlines()]
    expected = [4e-3 if e <= patience + 1 else 2e-3 for e in range(1, 5)]
    assert lrs == pytest.approx(expected, rel=1e-12)


def test_negative_warmup_is_rejected(tgif_data, tmp_path):
    with pytest.raises(ConfigError, match="warmup-epochs"):
        train(tiny_args(tgif_data, tmp_path / "run", task="count", warmup_epochs=-1))


def _step_norms(monkeypatch):
    """Records the global gradient norm the optimizer sees at every step."""
    norms = []
    original = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        grads = [
            p.grad for group in self.param_groups for p in group["params"] if p.grad is not None
        ]
        norms.append(float(torch.linalg.vector_norm(torch.stack([g.norm() for g in grads]))))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    return norms


@pytest.mark.parametrize("clip", [0.0, 0.01])
def test_gradient_norm_is_clipped(clip, tgif_data, tmp_path, monkeypatch):
    norms = _step_norms(monkeypatch)
    train(tiny_args(tgif_data, tmp_path / "run", task="count", epochs=2, grad_clip=clip))
    assert len(norms) >= 4
    if clip:
        assert max(norms) <= clip * (1 + 1e-5)
    else:  # the tiny count model's gradients are far above 0.01 unclipped
        assert max(norms) > 0.1


@pytest.mark.parametrize("option", ["grad_clip", "lr_patience"])
def test_negative_option_is_rejected(option, tgif_data, tmp_path):
    with pytest.raises(ConfigError, match=option.replace("_", "-")):
        train(tiny_args(tgif_data, tmp_path / "run", task="count", **{option: -1}))
