"""README / docs/datasets.md: a handful of your own videos, end to end with the commands shown
(per-video .npy features -> convert-features npy -> train on own CSV / JSON-lines questions)."""

import json

import numpy as np
import pytest

from mspan_pyg.cli.main import main


@pytest.mark.slow
def test_handful_of_own_videos(tmp_path):
    rng = np.random.default_rng(0)
    videos = [f"clip_{i:02d}" for i in range(8)]
    for kind, dim in (("appearance", 8), ("motion", 4)):
        (tmp_path / "feats" / kind).mkdir(parents=True)
        for v in videos:
            np.save(tmp_path / "feats" / kind / f"{v}.npy", rng.standard_normal((16, dim)))
    features = tmp_path / "myqa_features.h5"
    assert (
        main(
            [
                "convert-features",
                "npy",
                "--appearance",
                str(tmp_path / "feats/appearance"),
                "--motion",
                str(tmp_path / "feats/motion"),
                "--ids",
                "str",
                "--out",
                str(features),
            ]
        )
        == 0
    )
    qa = tmp_path / "myqa"
    qa.mkdir()
    rows = ["video_id,question,answer,type,a0,a1,a2"]
    for i, v in enumerate(videos[:6]):
        rows.append(f"{v},what does the cook pick up first,{i % 3},order,knife,pan,spoon")
        rows.append(
            f"{v},why does the dog run,the postman arrives,why,the postman arrives,rain,a ball"
        )
    (qa / "train.csv").write_text("\n".join(rows) + "\n")
    with open(qa / "test.jsonl", "w") as f:
        for v in videos[6:]:
            item = {
                "video_id": v,
                "question": "what does the cook pick up first",
                "answer": "pan",
                "candidates": ["knife", "pan", "spoon"],
                "type": "order",
            }
            f.write(json.dumps(item) + "\n")
    out = tmp_path / "runs" / "myqa"
    flags = [
        "train",
        "--dataset",
        "own",
        "--data-dir",
        str(qa),
        "--features",
        str(features),
        "--task",
        "multichoice",
        "--num-scales",
        "4",
        "--epochs",
        "2",
        "--out",
        str(out),
    ]
    flags += ["--module-dim", "16", "--word-dim", "16", "--visual-dim", "16", "--no-progress"]
    assert main(flags) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["dataset"] == "own" and m["task"] == "multichoice"
    assert m["test"]["count"] == 2 and m["test"]["count_by_type"] == {"order": 2}
    assert m["num_questions"]["val"] > 0  # held-out training videos: no val file given
