import json
import os

import pytest
import torch

from mspan_pyg.cli.main import main
from mspan_pyg.errors import ConfigError
from mspan_pyg.testing.video_run import train_tiny_video_model
from mspan_pyg.training.checkpoint import load_checkpoint, save_checkpoint
from mspan_pyg.video.answer import answer


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_tiny_video_model(tmp_path_factory.mktemp("answer"))


def test_checkpoint_keeps_the_extraction_record(trained):
    state = load_checkpoint(trained[0])
    record = json.loads(state["features_provenance"])
    assert record["appearance"]["name"] == "pixels" and record["num_frames"] == 16


def test_answer_end_to_end(trained, tmp_path):
    ckpt, paths = trained
    video = os.path.join(paths["videos"], "v0000.mp4")
    png = str(tmp_path / "why.png")
    r = answer(ckpt, video, "what color is the first shape ?", top_k=3, explain=png)
    assert r["head"] == "open" and len(r["answers"]) == 3
    probs = [p for _, p in r["answers"]]
    assert probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1.0 + 1e-6
    vocab = set(load_checkpoint(ckpt)["vocab"]["answer"]["itos"])
    assert {a for a, _ in r["answers"]} <= vocab
    assert len(r["frame_indices"]) == 16 and r["num_source_frames"] == 12
    assert os.path.getsize(png) > 1000
    again = answer(ckpt, video, "what color is the first shape ?", top_k=3)
    assert again["answers"] == r["answers"]  # the same extraction, the same answer


def test_answer_cli_and_errors(trained, tmp_path, capsys):
    ckpt, paths = trained
    video = os.path.join(paths["videos"], "v0001.mp4")
    assert main(["answer", ckpt, "--video", video, "--question", "what color ?"]) == 0
    assert "%" in capsys.readouterr().out
    assert main(["answer", ckpt, "--video", video, "--question", "x", "--candidates", "a"]) == 2
    assert "takes no --candidates" in capsys.readouterr().err
    bad = str(tmp_path / "not_a_video.mp4")
    open(bad, "w").write("text")
    assert main(["answer", ckpt, "--video", bad, "--question", "what ?"]) == 2
    assert "not a readable video" in capsys.readouterr().err

    state = load_checkpoint(ckpt)
    record = json.loads(state["features_provenance"])
    record["appearance"]["weights"] = {
        "source": "file",
        "file": "resnet152.pth",
        "sha256": "ab" * 32,
    }
    state["features_provenance"] = json.dumps(record)
    needs = str(tmp_path / "needs_weights.pt")
    save_checkpoint(state, needs)
    with pytest.raises(ConfigError, match="--appearance-weights PATH"):
        answer(needs, video, "what color ?")
    state["features_provenance"] = None
    save_checkpoint(state, needs)
    with pytest.raises(ConfigError, match="without an extraction record"):
        answer(needs, video, "what color ?")


@pytest.mark.slow
def test_learns_from_pixels(tmp_path):
    """Rendered videos -> extract-features -> train: the colour answers are only in the pixels."""
    torch.manual_seed(0)
    import examples.learn_from_pixels as example

    table = example.run(["--out", str(tmp_path), "--videos", "200", "--epochs", "30",
                         "--no-progress"])  # fmt: skip
    assert table["MSPAN on extracted features"] > table["question only"] + 0.3


def test_exported_folder_answers_identically(trained, tmp_path):
    pytest.importorskip("safetensors")
    ckpt, paths = trained
    folder = str(tmp_path / "pretrained")
    assert main(["export", ckpt, folder]) == 0
    video = os.path.join(paths["videos"], "v0002.mp4")
    from_pt = answer(ckpt, video, "what color is the first shape ?", top_k=4)
    from_folder = answer(folder, video, "what color is the first shape ?", top_k=4)
    assert from_folder == from_pt
