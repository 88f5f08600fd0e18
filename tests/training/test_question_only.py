"""--question-only zeroes the video in training and evaluation: features cannot change anything."""

import json
import shutil

import h5py
import numpy as np
import pytest
from training_utils import tiny_args

from mspan_pyg.training.runner import evaluate_checkpoint, train


@pytest.fixture(scope="module")
def scrambled(tgif_data, tmp_path_factory):
    """A copy of the feature file with the same ids and fresh random features."""
    path = tmp_path_factory.mktemp("scrambled") / "features.h5"
    shutil.copy(tgif_data["features"], path)
    rng = np.random.default_rng(123)
    with h5py.File(path, "r+") as f:
        for name in ("appearance", "motion"):
            f[name][...] = 3 * rng.standard_normal(f[name].shape)
    return str(path)


def _eval(out, features):
    m, preds = evaluate_checkpoint(
        str(out / "best.pt"), features=features, progress=False, return_predictions=True
    )
    return m, preds


@pytest.mark.parametrize("task", ["frameqa", "count"])
def test_question_only_ignores_the_video(task, tgif_data, scrambled, tmp_path):
    blind, full = tmp_path / "blind", tmp_path / "full"
    train(tiny_args(tgif_data, blind, task=task, question_only=True))
    train(tiny_args(tgif_data, full, task=task))
    assert json.loads((blind / "metrics.json").read_text())["question_only"] is True

    m_a, p_a = _eval(blind, tgif_data["features"])
    m_b, p_b = _eval(blind, scrambled)
    assert (p_a == p_b).all()
    assert m_a == m_b  # metrics and loss alike

    # the control: the same model trained with the video does depend on the features
    f_a, _ = _eval(full, tgif_data["features"])
    f_b, _ = _eval(full, scrambled)
    assert f_a["loss"] != f_b["loss"]
