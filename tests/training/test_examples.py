"""The example scripts and `mspan-pyg convert-features` are thin layers over the same code."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from training_utils import REPO, cli_flags, subprocess_env

from mspan_pyg.cli.main import main
from mspan_pyg.data import FeatureStore


@pytest.mark.slow
@pytest.mark.parametrize(
    "script,dataset", [("msvd_qa.py", "msvd"), ("msrvtt_qa.py", "msrvtt"), ("videoqa.py", "msvd")]
)
def test_videoqa_wrappers(script, dataset, msvd_data, tmp_path):
    done = subprocess.run(
        [sys.executable, os.path.join(REPO, "examples", script), *cli_flags(msvd_data, tmp_path)],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    m = json.loads((tmp_path / "metrics.json").read_text())
    assert m["dataset"] == dataset and m["task"] == "qa" and "accuracy_by_type" in m["test"]


def test_msvd_rejects_a_tgif_task(capsys, msvd_data, tmp_path):
    assert (
        main(["train", "--dataset", "msvd", "--task", "count", *cli_flags(msvd_data, tmp_path)])
        == 2
    )
    assert "msvd has one open-ended task" in capsys.readouterr().err


def test_convert_features_npy(tmp_path, capsys):
    app, mot = tmp_path / "app", tmp_path / "mot"
    app.mkdir(), mot.mkdir()
    rng = np.random.default_rng(0)
    arrays = {}
    for vid in (3, 11, 7):
        arrays[vid] = rng.standard_normal((4, 5)).astype(np.float32)
        np.save(app / f"{vid}.npy", arrays[vid])
        np.save(mot / f"{vid}.npy", rng.standard_normal((4, 2)).astype(np.float32))
    out = tmp_path / "f.h5"
    assert (
        main(
            [
                "convert-features",
                "npy",
                "--appearance",
                str(app),
                "--motion",
                str(mot),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "wrote 3 videos" in capsys.readouterr().out
    store = FeatureStore(out)
    a, m = store.get([store.row(11)])
    np.testing.assert_array_equal(a[0].numpy(), arrays[11])
    assert m.shape == (1, 4, 2)
    assert main(["convert-features", "avi", "--appearance", str(app), "--out", str(out)]) == 2
    assert "valid formats: npy, hcrn" in capsys.readouterr().err
