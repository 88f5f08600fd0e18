"""One-epoch train + evaluate per task on tiny synthetic data; the checkpoint alone reproduces
the logged test metric."""
import json
import math

import pytest
import torch

from training_utils import tiny_args
from mspan_pyg.training.checkpoint import load_checkpoint
from mspan_pyg.training.runner import evaluate_checkpoint, train

CASES = [("tgif", "action", "accuracy"), ("tgif", "transition", "accuracy"),
         ("tgif", "count", "mse"), ("tgif", "frameqa", "accuracy"), ("msvd", None, "accuracy")]


@pytest.mark.parametrize("dataset,task,metric", CASES, ids=[c[1] or c[0] for c in CASES])
def test_one_epoch_then_checkpoint_evaluation(dataset, task, metric, tgif_data, msvd_data, tmp_path):
    data = tgif_data if dataset == "tgif" else msvd_data
    out = tmp_path / "run"
    m = train(tiny_args(data, out, dataset=dataset, task=task))

    written = json.loads((out / "metrics.json").read_text())
    assert written["task"] == (task or "qa") and written["dataset"] == dataset
    assert metric in written["test"] and metric in written["val"]
    value = written["test"][metric]
    if metric == "accuracy":
        assert 0.0 <= value <= 1.0
    else:
        assert value >= 0.0
    assert written["test"]["count"] == m["num_questions"]["test"] > 0
    log = [json.loads(l) for l in (out / "log.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in log] == [1] and log[0]["step"] == math.ceil(m["num_questions"]["train"] / 16)
    assert metric in log[0]["train"] and "loss" in log[0]["train"]
    preds = (out / "test_predictions.jsonl").read_text().splitlines()
    assert len(preds) == written["test"]["count"]

    if task == "frameqa":
        assert set(written["test"]["accuracy_by_type"]) <= {"object", "number", "color", "location"}
        assert sum(written["test"]["count_by_type"].values()) == written["test"]["count"]
    if dataset == "msvd":
        assert set(written["test"]["accuracy_by_type"]) <= {"what", "who", "how", "when", "where", "other"}
        assert len(written["test"]["accuracy_by_type"]) >= 3

    state = load_checkpoint(str(out / "best.pt"))
    assert state["task"] == (task or "qa") and state["dataset"] == dataset
    assert state["model_config"]["num_scales"] == 2 and "glove" not in state["model_config"]
    again = evaluate_checkpoint(str(out / "best.pt"), progress=False)
    assert again[metric] == value  # exactly: same weights, data, batches
    assert again["count"] == written["test"]["count"]
