"""The demo page's logic without a browser: it answers as `answer` does, with one model load."""

import os

import numpy as np
import pytest

from mspan_pyg.demo.app import DemoAnswers
from mspan_pyg.video import answer as answer_module
from mspan_pyg.video.answer import answer


def test_answers_like_the_command_line_and_loads_once(tiny_video_model, tmp_path, monkeypatch):
    ckpt, videos = tiny_video_model
    loads = []
    real = answer_module.VideoAnswerer.__init__
    monkeypatch.setattr(
        answer_module.VideoAnswerer,
        "__init__",
        lambda self, *a, **k: (loads.append(1), real(self, *a, **k))[1],
    )
    demo = DemoAnswers(ckpt, videos=videos)
    assert "v0003.mp4" in demo.videos
    question = "what color is the first shape ?"
    want = answer(ckpt, os.path.join(videos, "v0003.mp4"), question, top_k=5)
    loads.clear()
    for upload, picked in ((os.path.join(videos, "v0003.mp4"), None), (None, "v0003.mp4")):
        line, scores, frames, picture = demo.ask(upload, picked, question)
        best, p = want["answers"][0]
        assert line.startswith(f"answer: {best} ({p:.1%})")
        assert scores == {name: pytest.approx(q) for name, q in want["answers"]}
        assert [c for _, c in frames] == [f"frame {i}" for i in want["frame_indices"]]
        assert all(isinstance(f, np.ndarray) and f.ndim == 3 for f, _ in frames)
        assert os.path.getsize(picture) > 1000
    assert loads == []  # no reload per question


def test_errors_are_the_command_lines_lines(tiny_video_model, tmp_path, capsys):
    from mspan_pyg.cli.main import main

    ckpt, videos = tiny_video_model
    demo = DemoAnswers(ckpt)
    bad = tmp_path / "not_a_video.mp4"
    bad.write_text("text, not a video\n" * 10)
    line, scores, frames, picture = demo.ask(str(bad), None, "what color ?")
    assert main(["answer", ckpt, "--video", str(bad), "--question", "what color ?"]) == 2
    assert line == capsys.readouterr().err.strip()
    assert "not a readable video" in line and (scores, frames, picture) == (None, [], None)
    assert demo.ask(None, None, "what ?")[0] == "error: upload a video or pick one"
    line = demo.ask(os.path.join(videos, "v0000.mp4"), None, "  ")[0]
    assert line == "error: the question is empty"
    line = demo.ask(os.path.join(videos, "v0000.mp4"), None, "what ?", "a\nb")[0]
    assert line.startswith("error: ") and "takes no --candidates" in line
