"""The GPU session's script (benchmarks/run_all.py --device cuda) runs end to end on CPU."""

import json

import pytest

from benchmarks import feed, run_all


@pytest.mark.slow
def test_gpu_session_runs_end_to_end_on_cpu(tmp_path):
    assert run_all.main(["--device", "cpu", "--small", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "feed.json").read_text())
    assert set(result["batches"]) == {"8", "16"}
    for rec in result["batches"].values():
        assert len(rec["model"]) == 8  # train/inference x fused/scatter x fp32/bf16
        assert set(rec["loader"]) == {"float16", "float32"} and rec["loader_feeds_model"]
    loading = json.loads((tmp_path / "data_loading.json").read_text())
    assert "memcpy (the limit)" in loading["samples_per_s"]
    report = (tmp_path / "RESULTS.md").read_text()
    assert "Does the loader feed the model?" in report and "Data loading against memcpy" in report


def test_feed_fails_when_the_loader_is_slower_than_the_model(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(feed, "loader_rates", lambda *a, **k: {"float16": 1e-3, "float32": 1e9})
    args = [
        "--small",
        "--batch-sizes",
        "4",
        "--videos",
        "8",
        "--frames",
        "4",
        "--dir",
        str(tmp_path),
    ]
    assert feed.main(args) == 1
    assert "DOES NOT feed the model" in capsys.readouterr().out
    monkeypatch.setattr(feed, "loader_rates", lambda *a, **k: {"float16": 1e9, "float32": 1e9})
    assert feed.main(args) == 0
