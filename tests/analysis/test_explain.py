"""explain_question: arrays of the right shapes, attention softmax per target, read-out
softmax, top clips, PNG."""

import sys

import numpy as np
import pytest
import torch

from mspan_pyg.analysis.explain import explain_question
from mspan_pyg.analysis.plots import MissingMatplotlibError, have_matplotlib
from mspan_pyg.models.mspan import MSPAN

N, K, B = 7, 3, 3


def tiny_model(structure="full", task="open", num_iterations=2):
    torch.manual_seed(0)
    model = MSPAN(
        vocab_size=20,
        task=task,
        num_answers=4 if task == "open" else None,
        appearance_dim=6,
        motion_dim=3,
        visual_dim=8,
        module_dim=8,
        word_dim=8,
        num_scales=K,
        num_iterations=num_iterations,
        structure=structure,
        question_layers=1,
    )
    # larger weights than the default init, so the attention is far from uniform
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(1.5)
    return model


def tiny_batch(task="open"):
    g = torch.Generator().manual_seed(1)
    batch = {
        "appearance": torch.randn(B, N, 6, generator=g),
        "motion": torch.randn(B, N, 3, generator=g),
        "question": torch.randint(2, 20, (B, 5), generator=g),
        "question_len": torch.tensor([5, 3, 4]),
        "video_len": None,
    }
    if task == "multichoice":
        batch["candidates"] = torch.randint(2, 20, (B, 5, 2), generator=g)
        batch["candidates_len"] = torch.full((B, 5), 2)
    return batch


def check_arrays(res, structure, num_iterations=2):
    # clips of scale s cover frames [j, j + s - 1]
    assert len(res["intervals"]) == K
    for i, iv in enumerate(res["intervals"]):
        s = i + 1
        assert iv.shape == (N - s + 1, 2)
        np.testing.assert_array_equal(iv[:, 0], np.arange(N - s + 1))
        np.testing.assert_array_equal(iv[:, 1] - iv[:, 0], s - 1)
    # read-out weights: a softmax over this video's read-out nodes
    n_read = {
        "full": N,
        "bottom_up": N,
        "top_down": N - K + 1,
        "dense": sum(N - s + 1 for s in range(1, K + 1)),
    }[structure]
    w = res["readout_weights"]
    assert w.shape == (n_read,) and res["readout_intervals"].shape == (n_read, 2)
    assert (w >= 0).all() and w.sum() == pytest.approx(1.0, abs=1e-5)
    assert res["iteration"] == num_iterations - 1
    # attention: per target clip, the weights of its incoming edges sum to 1
    directions = {
        "full": {"top_down", "bottom_up"},
        "top_down": {"top_down"},
        "bottom_up": {"bottom_up"},
        "dense": {"dense"},
    }[structure]
    assert set(res["attention"]) == directions and set(res["sent"]) == directions
    for direction, pairs in res["attention"].items():
        assert len(pairs) == (1 if direction == "dense" else K - 1)
        for pair in pairs:
            e, alpha = pair["edge_index"], pair["alpha"]
            assert e.shape == (2, alpha.shape[0]) and alpha.shape[0] > 0
            tgt_scale = np.broadcast_to(pair["target_scale"], alpha.shape)
            keys = list(zip(tgt_scale.tolist(), e[1].tolist()))
            sums = {}
            for k, a in zip(keys, alpha.tolist()):
                sums[k] = sums.get(k, 0.0) + a
            for (s, j), total in sums.items():
                assert 0 <= j < N - s + 1
                assert total == pytest.approx(1.0, abs=1e-5)
            # every clip of a target scale receives (the graphs are connected across scales)
            if direction != "dense":
                assert len(sums) == N - pair["target_scale"] + 1
            assert not np.allclose(alpha, alpha[0])  # not trivially uniform
        # sent shares: sum to 1 over a scale that sends, NaN on one that does not
        for i, share in enumerate(res["sent"][direction]):
            assert share.shape == (N - i,)
            no_source = (direction == "top_down" and i == K - 1) or (
                direction == "bottom_up" and i == 0
            )
            if no_source:
                assert np.isnan(share).all()
            else:
                assert share.sum() == pytest.approx(1.0, abs=1e-5) and (share >= 0).all()


@pytest.mark.parametrize("structure", ["full", "top_down", "bottom_up", "dense"])
def test_arrays_every_structure(structure):
    res = explain_question(tiny_model(structure), tiny_batch(), index=1)
    check_arrays(res, structure)
    assert res["figure"] is None


def test_sent_mass_matches_alpha_by_hand():
    """The sent share of a fine clip = its outgoing alpha summed, over all alpha of the pair."""
    res = explain_question(tiny_model("full"), tiny_batch(), index=2)
    pair = res["attention"]["top_down"][0]  # scale 1 -> 2
    e, alpha = pair["edge_index"], pair["alpha"]
    expected = np.array([alpha[e[0] == j].sum() for j in range(N)])
    np.testing.assert_allclose(res["sent"]["top_down"][0], expected / expected.sum(), atol=1e-6)


def test_selects_the_right_video():
    """Question index b of a batch gives the same arrays as that question alone."""
    model, batch = tiny_model("full"), tiny_batch()
    res = explain_question(model, batch, index=2)
    single = {k: (v[2:3] if torch.is_tensor(v) else v) for k, v in batch.items()}
    alone = explain_question(model, single, index=0)
    np.testing.assert_allclose(res["readout_weights"], alone["readout_weights"], atol=1e-5)
    for a, b in zip(res["attention"]["bottom_up"], alone["attention"]["bottom_up"]):
        np.testing.assert_array_equal(a["edge_index"], b["edge_index"])
        np.testing.assert_allclose(a["alpha"], b["alpha"], atol=1e-5)


def test_multichoice_and_one_sample():
    model = tiny_model("full", task="multichoice")
    batch = tiny_batch("multichoice")
    sample = {
        "appearance": batch["appearance"][0],
        "motion": batch["motion"][0],
        "question": batch["question"][0, :5],
        "candidates": batch["candidates"][0],
        "answer": torch.tensor(1),
        "qtype": torch.tensor(0),
        "index": torch.tensor(0),
    }
    res = explain_question(model, sample)
    check_arrays(res, "full")
    assert res["output"].shape == (5,) and 0 <= int(res["predicted"]) < 5


def test_attention_log_is_restored():
    model = tiny_model("full")
    explain_question(model, tiny_batch())
    assert model.attention_log is None
    assert "encode_video" not in vars(model) and not model.readout._forward_hooks


def test_one_forward_and_the_models_own_output():
    """The explanation runs the model once, and its output is the model's plain output."""
    model, batch = tiny_model("full", task="multichoice"), tiny_batch("multichoice")
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    res = explain_question(model, batch, index=1)
    assert len(calls) == 1
    plain = model(
        batch["appearance"],
        batch["motion"],
        batch["question"],
        batch["question_len"],
        candidates=batch["candidates"],
        candidates_len=batch["candidates_len"],
    )
    np.testing.assert_allclose(res["output"], plain[1].detach().numpy(), atol=1e-6)


def test_top_clips_are_the_largest_weights():
    res = explain_question(tiny_model("full"), tiny_batch(), index=0)
    tops = res["top_clips"]
    w = res["readout_weights"]
    assert [c["weight"] for c in tops["readout"]] == pytest.approx(sorted(w)[::-1][:3])
    for c in tops["readout"]:
        assert tuple(res["readout_intervals"][c["clip"]]) == c["frames"]
    assert set(tops) == {"readout"} | {f"scale_{s}" for s in range(1, K + 1)}
    for s in range(1, K + 1):
        weights = [c["weight"] for c in tops[f"scale_{s}"]]
        assert weights == sorted(weights, reverse=True)
        first, last = tops[f"scale_{s}"][0]["frames"]
        assert last - first == s - 1


@pytest.mark.skipif(not have_matplotlib(), reason="matplotlib not installed")
def test_png(tmp_path):
    out = tmp_path / "q.png"
    res = explain_question(
        tiny_model("full"),
        tiny_batch(),
        index=0,
        question="what does the man do?",
        answer="jump",
        frame_labels=["jump"] * 3 + ["run"] * 4,
        out=str(out),
    )
    assert res["figure"] == str(out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000


def test_without_matplotlib(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    model, batch = tiny_model("full"), tiny_batch()
    res = explain_question(model, batch)  # the arrays need no matplotlib
    check_arrays(res, "full")
    with pytest.raises(MissingMatplotlibError, match="pip install"):
        explain_question(model, batch, out=str(tmp_path / "q.png"))
    assert not (tmp_path / "q.png").exists()


@pytest.mark.slow
@pytest.mark.skipif(not have_matplotlib(), reason="matplotlib not installed")
def test_cli_explain_from_checkpoint(tmp_path, capsys):
    from mspan_pyg.cli.main import main
    from mspan_pyg.training.runner import train

    out = tmp_path / "run"
    train(
        dict(
            task="action",
            epochs=1,
            num_videos=30,
            visual_dim=8,
            module_dim=8,
            word_dim=8,
            num_scales=3,
            num_iterations=1,
            out=str(out),
            progress=False,
        )
    )
    png = tmp_path / "q.png"
    assert main(["explain", str(out / "best.pt"), "--index", "2", "--out", str(png)]) == 0
    printed = capsys.readouterr().out
    assert "answer: " in printed and "prediction: " in printed and "scale 1" in printed
    assert png.read_bytes()[:4] == b"\x89PNG"
    # by default the picture goes into the run folder, not the current one
    assert main(["explain", str(out / "best.pt"), "--index", "1"]) == 0
    assert (out / "explain_test_1.png").read_bytes()[:4] == b"\x89PNG"
    capsys.readouterr()
    assert main(["explain", str(out / "best.pt"), "--index", "9999", "--out", str(png)]) == 2
    assert "--index 9999 out of range" in capsys.readouterr().err
