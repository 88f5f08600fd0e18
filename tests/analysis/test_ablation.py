"""Ablation runner on tiny synthetic data: table files, shared rows, resume without retraining."""

import csv
import json
import os

import pytest

import mspan_pyg.training.runner as runner
from mspan_pyg.analysis.ablation import ABLATION_ROWS, run_ablation, select_rows
from mspan_pyg.analysis.plots import have_matplotlib
from mspan_pyg.errors import ConfigError

TINY = dict(
    task="action",
    epochs=1,
    num_videos=40,
    visual_dim=8,
    module_dim=8,
    word_dim=8,
    batch_size=16,
    num_scales=2,
    num_iterations=1,
)


def test_rows_cover_the_paper():
    names = [r.name for r in ABLATION_ROWS]
    assert names[:6] == ["full", "mean_pool", "no_gcn", "dense", "top_down", "bottom_up"]
    assert [f"T{t}" for t in range(5)] == names[6:11]
    assert [f"K{k}" for k in range(1, 9)] == names[11:]
    assert [r.name for r in select_rows(["K2", "full", "K2"])] == ["full", "K2"]
    assert len(select_rows(["k_sweep"])) == 8
    with pytest.raises(ConfigError, match="unknown ablation row 'K9'"):
        select_rows(["K9"])


@pytest.mark.slow
def test_table_files_and_resume(tmp_path, monkeypatch):
    out = tmp_path / "abl"
    logs = []
    # T1 equals the base (num_iterations=1): it must reuse full's run, not train again
    results = run_ablation(
        str(out), rows=["full", "no_gcn", "T1"], seeds=1, base=TINY, log=logs.append
    )
    assert [r["row"] for r in results] == ["full", "no_gcn", "T1"]
    assert results[2]["same_as"] == "full" and results[2]["seeds"] == results[0]["seeds"]
    assert sorted(os.listdir(out / "rows")) == ["full-seed0", "no_gcn-seed0"]
    for row in ("full", "no_gcn"):
        m = json.loads((out / "rows" / f"{row}-seed0" / "metrics.json").read_text())
        assert m["metric"] == "accuracy" and m["model_config"]["use_gcn"] == (row == "full")
        if have_matplotlib():  # the runner draws the training curves after each run
            assert (out / "rows" / f"{row}-seed0" / "training_curves.png").is_file()
    with open(out / "ablation.csv") as f:
        table = list(csv.DictReader(f))
    assert [r["row"] for r in table] == ["full", "no_gcn", "T1"]
    assert float(table[1]["test_mean"]) == pytest.approx(results[1]["test_mean"], abs=1e-4)
    assert table[1]["test_std"] == "0.0000" and table[1]["seeds"] == "1"
    md = (out / "ablation.md").read_text()
    assert "| no_gcn | without GCN |" in md and "(= full)" in md

    # Rerun: nothing is trained again, the same table comes back.
    stamp = (out / "rows" / "full-seed0" / "metrics.json").stat().st_mtime_ns

    def no_training(*a, **k):
        raise AssertionError("a finished (row, seed) was trained again")

    monkeypatch.setattr(runner, "train", no_training)
    again = run_ablation(
        str(out), rows=["full", "no_gcn", "T1"], seeds=1, base=TINY, log=logs.append
    )
    assert [r["test_mean"] for r in again] == [r["test_mean"] for r in results]
    assert (out / "rows" / "full-seed0" / "metrics.json").stat().st_mtime_ns == stamp
    assert any("2 finished" in line for line in logs)

    # A second seed trains only the missing (row, seed) runs.
    trained = []
    monkeypatch.setattr(
        runner,
        "train",
        lambda args: trained.append(os.path.basename(args["out"])) or _fake_run(args),
    )
    two = run_ablation(str(out), rows=["full", "no_gcn"], seeds=2, base=TINY, log=logs.append)
    assert sorted(trained) == ["full-seed1", "no_gcn-seed1"]
    assert len(two[0]["seeds"]) == 2


def _fake_run(args):
    os.makedirs(args["out"], exist_ok=True)
    with open(os.path.join(args["out"], "metrics.json"), "w") as f:
        json.dump({"metric": "accuracy", "test": {"accuracy": 0.5}, "val": {"accuracy": 0.5}}, f)


def test_k_sweep_plot_and_table_without_training(tmp_path, monkeypatch):
    monkeypatch.setattr(runner, "train", _fake_run)
    results = run_ablation(
        str(tmp_path), rows=["K1", "K2"], seeds=2, base=dict(TINY, num_videos=20)
    )
    assert [r["test_mean"] for r in results] == [0.5, 0.5]
    assert (tmp_path / "ablation.md").is_file() and (tmp_path / "ablation.csv").is_file()
    if have_matplotlib():
        assert (tmp_path / "k_sweep.png").read_bytes()[:4] == b"\x89PNG"


def test_bad_options(tmp_path):
    with pytest.raises(ConfigError, match="unknown option"):
        run_ablation(str(tmp_path), rows=["full"], seeds=1, base={"no_such_option": 1})
    with pytest.raises(ConfigError, match="--seeds"):
        run_ablation(str(tmp_path), rows=["full"], seeds=0)
