"""save_pretrained / from_pretrained and ``mspan-pyg export``: local folders only, no network."""

import json
import os
import subprocess
import sys

import pytest
import torch
from training_utils import REPO, subprocess_env, tiny_args

from mspan_pyg.cli.main import main
from mspan_pyg.errors import CheckpointError
from mspan_pyg.models.mspan import MSPAN
from mspan_pyg.training.checkpoint import load_checkpoint
from mspan_pyg.training.runner import evaluate_checkpoint, load_run, train

pytest.importorskip("huggingface_hub")
pytest.importorskip("safetensors")


def small_model(**kw):
    args = dict(
        vocab_size=30, task="multichoice", appearance_dim=8, motion_dim=4, visual_dim=16,
        module_dim=16, word_dim=8, num_scales=3, num_iterations=2, clip_stride=[1, 2, 2],
        share_iterations=False, dropout=0.0,
    )  # fmt: skip
    args.update(kw)
    return MSPAN(**args).eval()


def test_save_and_load_answer_identically(tmp_path):
    torch.manual_seed(0)
    model = small_model()
    model.run_info = {"note": "kept"}
    model.save_pretrained(tmp_path / "m")
    assert sorted(os.listdir(tmp_path / "m")) == [
        "README.md", "config.json", "model.safetensors", "run.json"
    ]  # fmt: skip
    assert json.loads((tmp_path / "m" / "config.json").read_text()) == model.config
    loaded = MSPAN.from_pretrained(str(tmp_path / "m"))
    assert not loaded.training and loaded.config == model.config
    assert loaded.run_info == {"note": "kept"}
    app, mot = torch.randn(3, 12, 8), torch.randn(3, 12, 4)
    q, ql = torch.randint(1, 30, (3, 6)), torch.tensor([6, 4, 2])
    cand, cl = torch.randint(1, 30, (3, 4, 3)), torch.full((3, 4), 3)
    vl = torch.tensor([12, 7, 3])
    with torch.no_grad():
        want = model(app, mot, q, ql, cand, cl, video_len=vl)
        got = loaded(app, mot, q, ql, cand, cl, video_len=vl)
    assert torch.equal(want, got)


def test_a_weight_that_does_not_fit_is_an_error(tmp_path):
    small_model().save_pretrained(tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["module_dim"] = 32
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="model.safetensors does not fit"):
        MSPAN.from_pretrained(str(tmp_path / "m"))


@pytest.fixture(scope="module")
def run(tmp_path_factory, msvd_data):
    out = tmp_path_factory.mktemp("pretrained") / "run"
    metrics = train(tiny_args(msvd_data, out, dataset="msvd", seed=1))
    return str(out / "best.pt"), metrics


def test_export_evaluates_and_explains_like_the_checkpoint(run, tmp_path, capsys):
    best, metrics = run
    folder = str(tmp_path / "exported")
    assert main(["export", best, folder]) == 0
    assert "wrote" in capsys.readouterr().out
    info = json.loads(open(os.path.join(folder, "run.json")).read())
    state = load_checkpoint(best)
    assert info["vocab"] == state["vocab"] and info["args"] == state["args"]

    from_pt, from_folder = load_run(best), load_run(folder)
    assert from_folder.config == from_pt.config and from_folder.head == from_pt.head
    assert from_folder.question_vocab.to_dict() == from_pt.question_vocab.to_dict()
    for a, b in zip(from_pt.model.state_dict().values(), from_folder.model.state_dict().values()):
        assert torch.equal(a, b)
    pt_metrics, pt_preds = evaluate_checkpoint(best, progress=False, return_predictions=True)
    dir_metrics, dir_preds = evaluate_checkpoint(folder, progress=False, return_predictions=True)
    assert dir_metrics == pt_metrics and torch.equal(dir_preds, pt_preds)
    assert dir_metrics["accuracy"] == metrics["test"]["accuracy"]

    png = str(tmp_path / "why.png")
    assert main(["explain", folder, "--index", "0", "--out", png]) == 0
    assert "prediction: " in capsys.readouterr().out and os.path.getsize(png) > 1000

    # a second export into the folder needs --overwrite; a foreign folder is never replaced
    assert main(["export", best, folder]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["export", best, folder, "--overwrite"]) == 0
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    assert main(["export", best, str(other), "--overwrite"]) == 2
    assert "is not a saved MSPAN folder" in capsys.readouterr().err
    assert (other / "keep.txt").read_text() == "mine"


def test_broken_folders_are_named(run, tmp_path, capsys):
    folder = tmp_path / "m"
    assert main(["export", run[0], str(folder)]) == 0
    (folder / "run.json").write_text("{not json")
    assert main(["evaluate", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "run.json is not readable JSON" in err and err.count("\n") == 1
    os.remove(folder / "run.json")
    assert main(["evaluate", str(folder)]) == 2
    assert "has no run.json" in capsys.readouterr().err


def test_missing_extra_names_the_install_command():
    code = (
        "import sys; sys.modules['huggingface_hub'] = None\n"
        "from mspan_pyg import MSPAN\n"
        "m = MSPAN(vocab_size=5, num_answers=2, appearance_dim=4, motion_dim=0, visual_dim=4,"
        " module_dim=4, word_dim=4, num_scales=1, num_iterations=0)\n"
        "try:\n    m.save_pretrained('x')\nexcept Exception as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=subprocess_env(), capture_output=True,
        text=True, check=True,
    ).stdout  # fmt: skip
    assert 'pip install "mspan-pyg[hub]"' in out
