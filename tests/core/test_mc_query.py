"""``mc_query="question+candidate"``: each candidate joined to the question queries the whole
reasoning, in one batched [B·R] pass that equals a candidate-by-candidate dense oracle."""

import pytest
import torch
from test_mspan import B, N, make_inputs, make_model

from mspan_pyg import MSPAN
from mspan_pyg.errors import ConfigError
from mspan_pyg.nn import join_question_candidates
from mspan_pyg.testing.dense_reference import DenseMSPAN


def test_join_question_candidates_drops_the_padding_between():
    question = torch.tensor([[5, 6, 7, 0], [8, 0, 0, 0]])
    candidates = torch.tensor([[[1, 2], [3, 0]], [[4, 4], [9, 0]]])
    joined, length = join_question_candidates(
        question, torch.tensor([3, 1]), candidates, torch.tensor([[2, 1], [2, 1]])
    )
    assert length.tolist() == [[5, 4], [3, 2]]
    assert joined.tolist() == [
        [[5, 6, 7, 1, 2, 0], [5, 6, 7, 3, 0, 0]],
        [[8, 4, 4, 0, 0, 0], [8, 9, 0, 0, 0, 0]],
    ]


@pytest.mark.parametrize("structure", ["full", "top_down", "dense"])
def test_batched_pass_matches_candidate_by_candidate_oracle(structure):
    model = make_model("multichoice", structure=structure, mc_query="question+candidate").eval()
    inputs = make_inputs()
    video_len = torch.tensor([N, 3, 6])
    out = model(**inputs, video_len=video_len)
    assert out.shape == (B, 5)
    assert torch.allclose(out, DenseMSPAN(model)(**inputs, video_len=video_len), atol=1e-10)


def test_candidate_reaches_the_cross_scale_attention():
    # The paper's mode reasons once per video, blind to the candidates; the joined query
    # reasons once per candidate, and the attention differs between candidates.
    inputs = make_inputs()
    for mc_query, graphs in (("question", B), ("question+candidate", B * 5)):
        model = make_model("multichoice", mc_query=mc_query).eval()
        model.attention_log = []
        model(**inputs)
        _, _, _, _, edge_index, alpha = model.attention_log[0]
        assert model.attention_log  # top-down and bottom-up calls were logged
        per_graph = alpha.view(graphs, -1)  # full-length videos: equal edges per graph
        if mc_query == "question+candidate":
            assert not torch.allclose(per_graph[0], per_graph[1])  # video 0, candidates 0 and 1
        assert per_graph.size(0) == graphs


def test_scores_follow_the_candidates_and_train():
    model = make_model("multichoice", mc_query="question+candidate").eval()
    inputs = make_inputs()
    out = model(**inputs)
    perm = torch.tensor([3, 0, 4, 1, 2])
    shuffled = dict(inputs, candidates=inputs["candidates"][:, perm])
    shuffled["candidates_len"] = inputs["candidates_len"][:, perm]
    assert torch.allclose(model(**shuffled), out[:, perm], atol=1e-12)
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    answer = torch.tensor([4, 0, 2])
    for _ in range(40):
        optimizer.zero_grad()
        model.loss(model(**inputs), answer).backward()
        optimizer.step()
    assert torch.equal(model.eval().predict(model(**inputs)), answer)


def test_config_round_trip_and_errors():
    model = make_model("multichoice", mc_query="question+candidate")
    assert MSPAN(**model.config).per_candidate
    assert "mc_query=question+candidate" in repr(model)
    assert not make_model("open", mc_query="question+candidate").per_candidate  # ignored
    with pytest.raises(ConfigError, match="mc_query"):
        make_model("multichoice", mc_query="candidate")
    with pytest.raises(ConfigError, match="candidates"):
        model(**{k: v for k, v in make_inputs().items() if not k.startswith("candidates")})
    inputs = make_inputs()
    graph = model.video_graph(inputs["appearance"], inputs["motion"])
    with pytest.raises(ConfigError, match="forward_graph does not support"):
        model.forward_graph(graph, inputs["question"], inputs["question_len"])


def test_explain_says_it_draws_the_papers_mode_only():
    from mspan_pyg.analysis.explain import explain_question

    model = make_model("multichoice", mc_query="question+candidate").eval()
    with pytest.raises(ConfigError, match="paper's multiple-choice mode only"):
        explain_question(model, make_inputs())
