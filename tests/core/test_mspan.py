import pytest
import torch
from torch_geometric.loader import DataLoader

from mspan_pyg import MSPAN, build_multiscale_graph
from mspan_pyg.errors import ConfigError
from mspan_pyg.testing.dense_reference import DenseMSPAN
from mspan_pyg.training.metrics import QAMetric

VOCAB, B, N = 40, 3, 9


def make_model(task="open", **kwargs):
    torch.manual_seed(0)
    options = dict(
        num_answers=6,
        appearance_dim=10,
        motion_dim=4,
        visual_dim=12,
        module_dim=8,
        word_dim=6,
        num_scales=4,
        num_iterations=2,
        dropout=0.0,
    )
    options.update(kwargs)
    return MSPAN(VOCAB, task=task, **options).double()


def make_inputs(seed=0, num_frames=N):
    gen = torch.Generator().manual_seed(seed)
    return dict(
        appearance=torch.randn(B, num_frames, 10, generator=gen).double(),
        motion=torch.randn(B, num_frames, 4, generator=gen).double(),
        question=torch.randint(2, VOCAB, (B, 7), generator=gen),
        question_len=torch.tensor([7, 4, 2]),
        candidates=torch.randint(2, VOCAB, (B, 5, 3), generator=gen),
        candidates_len=torch.tensor([[3, 2, 1, 3, 3]] * B),
    )


@pytest.mark.parametrize("structure", ["full", "top_down", "bottom_up", "dense"])
@pytest.mark.parametrize("pool", ["max", "mean"])
@pytest.mark.parametrize("task", ["open", "count", "multichoice"])
def test_matches_dense_oracle(structure, pool, task):
    model = make_model(task, structure=structure, pool=pool).eval()
    inputs = make_inputs()
    video_len = torch.tensor([N, 3, 6])  # one video shorter than K: empty coarse scales
    out = model(**inputs, video_len=video_len)
    expected = DenseMSPAN(model)(**inputs, video_len=video_len)
    shape = {"open": (B, 6), "count": (B,), "multichoice": (B, 5)}[task]
    assert out.shape == shape
    assert torch.allclose(out, expected, atol=1e-10)


@pytest.mark.parametrize(
    "options",
    [
        dict(clip_stride="scale"),
        dict(clip_stride=[1, 1, 2, 3]),
        dict(use_gcn=False),
        dict(share_iterations=False, num_iterations=3),
        dict(num_iterations=0),
        dict(scale_scores=True),
        dict(motion_dim=0),
    ],
)
def test_options_match_dense_oracle(options):
    model = make_model(**options).eval()
    inputs = make_inputs()
    if options.get("motion_dim") == 0:
        inputs["motion"] = None
    assert torch.allclose(model(**inputs), DenseMSPAN(model)(**inputs), atol=1e-10)


@pytest.mark.parametrize("structure", ["full", "dense"])
def test_video_shorter_than_k_alone_matches_dense_oracle(structure):
    model = make_model(structure=structure).eval()
    inputs = {k: v[:1] for k, v in make_inputs(num_frames=3).items()}  # N = 3 < K = 4
    assert torch.allclose(model(**inputs), DenseMSPAN(model)(**inputs), atol=1e-10)


def test_share_iterations_builds_one_block_per_iteration():
    assert len(make_model(share_iterations=False, num_iterations=3).blocks) == 3
    assert len(make_model(num_iterations=3).blocks) == 1


def test_stride_one_is_the_default():
    inputs = make_inputs()
    a = make_model().eval()(**inputs)
    b = make_model(clip_stride=[1, 1, 1, 1]).eval()(**inputs)
    assert torch.equal(a, b)


def test_question_padding_does_not_change_output():
    model = make_model().eval()
    inputs = make_inputs()
    out = model(**inputs)
    padded = dict(
        inputs, question=torch.cat([inputs["question"], torch.zeros(B, 5, dtype=torch.long)], 1)
    )
    assert torch.allclose(model(**padded), out, atol=1e-12)


@pytest.mark.parametrize("length", [5, 3])  # 3 < K = 4: the coarsest scale is empty
@pytest.mark.parametrize("structure", ["full", "top_down", "dense"])
def test_short_video_output_is_its_own(structure, length):
    # A video of L frames inside a batch padded to N (with garbage after L) answers
    # exactly as the same video given alone with N = L.
    model = make_model("multichoice", structure=structure).eval()
    inputs = make_inputs()
    inputs["appearance"][1, length:] = 1e3
    inputs["motion"][1, length:] = -1e3
    out = model(**inputs, video_len=torch.tensor([N, length, N]))
    alone = {k: v[1:2] for k, v in inputs.items()}
    alone["appearance"] = alone["appearance"][:, :length]
    alone["motion"] = alone["motion"][:, :length]
    assert torch.allclose(out[1:2], model(**alone), atol=1e-12)
    full = model(**inputs)  # ... and the padding frames do matter when they are real
    assert not torch.allclose(full[1], out[1])


def test_gradient_checkpointing_same_gradients():
    inputs = make_inputs()
    answer = torch.tensor([1, 2, 3])
    grads = []
    for flag in (False, True):
        model = make_model(gradient_checkpointing=flag).train()
        model.loss(model(**inputs), answer).backward()
        grads.append([p.grad.clone() for p in model.parameters() if p.grad is not None])
    assert len(grads[0]) == len(grads[1])
    for g0, g1 in zip(*grads):
        assert torch.allclose(g0, g1, atol=1e-12)


@pytest.mark.parametrize(
    "task,answer",
    [
        ("open", torch.tensor([0, 5, 2])),
        ("count", torch.tensor([3.0, 7.0, 1.0])),
        ("multichoice", torch.tensor([4, 0, 2])),
    ],
)
def test_every_head_trains(task, answer):
    model = make_model(task).float().train()
    inputs = {k: v.float() if v.is_floating_point() else v for k, v in make_inputs().items()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = model.loss(model(**inputs), answer)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]
    model.eval()
    prediction = model.predict(model(**inputs))
    assert torch.equal(prediction, answer.to(prediction.dtype))


def test_losses_and_predictions_by_hand():
    model = make_model("multichoice")
    scores = torch.tensor([[2.0, 1.5, -1.0], [0.0, 0.0, 3.0]])
    # hinge: row 0 right=0: max(0, 1 + 1.5 - 2) = .5, max(0, 1 - 1 - 2) = 0;
    # row 1 right=2: max(0, 1 + 0 - 3) = 0 twice
    assert model.loss(scores, torch.tensor([0, 2])).item() == pytest.approx(0.5 / 4)
    count = make_model("count")
    assert count.predict(torch.tensor([-3.0, 2.4, 2.6, 42.0])).tolist() == [1.0, 2.0, 3.0, 10.0]
    assert count.loss(torch.tensor([1.0, 3.0]), torch.tensor([2.0, 3.0])).item() == 0.5


def test_count_follows_the_benchmark_convention():
    """TGIF-QA Count as HCRN and the authors score it: ``(y + 0.5).long().clamp(1, 10)``
    (halves round up, not to even), answers of 0 taken as given in loss and MSE."""
    count = make_model("count")
    y = torch.tensor([-3.0, -0.7, 0.2, 0.5, 1.5, 2.5, 3.49, 9.6, 42.0])
    assert count.predict(y).tolist() == [1, 1, 1, 1, 2, 3, 3, 10, 10]
    hcrn = (y + 0.5).long().clamp(min=1, max=10)
    assert torch.equal(count.predict(y), hcrn.to(y.dtype))
    # an answer of 0 is learnt towards 0 (its loss is 0 there) but scored after the clamp
    assert count.loss(torch.tensor([0.0, 2.0]), torch.tensor([0, 2])).item() == 0.0
    m = QAMetric("count", ["count"])
    m.update(count.predict(torch.tensor([0.0, 0.0, 4.0])), torch.tensor([0.0, 2.0, 4.0]))
    assert m.compute()["mse"] == pytest.approx((1 + 1 + 0) / 3)


def test_config_rebuilds_model_and_glove_init():
    glove = torch.randn(VOCAB, 6)
    model = MSPAN(
        VOCAB,
        num_answers=3,
        visual_dim=8,
        module_dim=4,
        word_dim=6,
        num_scales=2,
        appearance_dim=5,
        motion_dim=0,
        clip_stride="scale",
        glove=glove,
    )
    assert torch.equal(model.question_encoder.embedding.weight.data, glove)
    clone = MSPAN(**model.config)
    assert clone.config == model.config
    clone.load_state_dict(model.state_dict())
    assert "MSPAN(task=open" in repr(model)


def test_paper_defaults():
    model = MSPAN(100, num_answers=10)
    c = model.config
    assert (
        c["num_scales"],
        c["num_iterations"],
        c["visual_dim"],
        c["module_dim"],
        c["word_dim"],
        c["appearance_dim"],
        c["motion_dim"],
    ) == (8, 3, 2048, 512, 300, 2048, 2048)
    assert model.question_encoder.lstm.num_layers == 3
    assert model.question_encoder.lstm.bidirectional


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(task="yesno"),
        dict(structure="ring"),
        dict(task="open", num_answers=None),
        dict(clip_stride="huge"),
    ],
)
def test_bad_configuration(kwargs):
    options = dict(num_answers=3)
    options.update(kwargs)
    with pytest.raises(ConfigError):
        MSPAN(10, **options)


def test_attention_log_records_every_call():
    model = make_model(num_iterations=2).eval()
    model.attention_log = []
    model(**make_inputs())
    directions = [entry[0] for entry in model.attention_log]
    assert directions == ["top_down"] * 3 + ["bottom_up"] * 3 + ["top_down"] * 3 + ["bottom_up"] * 3
    assert [entry[2:4] for entry in model.attention_log[:6]] == [
        (1, 2),
        (2, 3),
        (3, 4),
        (4, 3),
        (3, 2),
        (2, 1),
    ]


QUESTION_KEYS = ("question", "question_len", "candidates", "candidates_len")


@pytest.mark.parametrize("video_len", [None, [N, 3, 6]])
@pytest.mark.parametrize("structure", ["full", "top_down", "bottom_up", "dense"])
def test_forward_graph_equals_forward(structure, video_len):
    model = make_model("multichoice", structure=structure).eval()
    inputs = make_inputs()
    lengths = None if video_len is None else torch.tensor(video_len)
    expected = model(**inputs, video_len=lengths)
    questions = {k: inputs[k] for k in QUESTION_KEYS}
    appearance, motion = inputs["appearance"], inputs["motion"]

    data = model.video_graph(appearance, motion, lengths)  # the batched builder
    assert torch.allclose(model.forward_graph(data, **questions), expected, atol=1e-12)

    # per-video graphs collated by PyG's DataLoader (videos shorter than K included)
    singles = [
        model.video_graph(appearance[b : b + 1, :length], motion[b : b + 1, :length])[0]
        for b, length in enumerate(video_len or [N] * B)
    ]
    (loaded,) = DataLoader(singles, batch_size=B)
    assert torch.allclose(model.forward_graph(loaded, **questions), expected, atol=1e-12)
    first = {k: v[:1] for k, v in questions.items()}  # one plain HeteroData: one video
    assert torch.allclose(model.forward_graph(singles[0], **first), expected[:1], atol=1e-12)


def test_forward_graph_trains_and_rejects_unprojected_features():
    model = make_model().train()
    inputs = make_inputs()
    data = model.video_graph(inputs["appearance"], inputs["motion"])
    out = model.forward_graph(data, inputs["question"], inputs["question_len"])
    model.loss(out, torch.tensor([1, 2, 3])).backward()
    assert model.visual_proj.weight.grad.abs().sum() > 0  # frames projected before pooling
    raw = build_multiscale_graph(inputs["appearance"], 4)  # raw features: 10 wide, not 12
    with pytest.raises(ConfigError, match="visual_dim=12"):
        model.forward_graph(raw, inputs["question"], inputs["question_len"])


@pytest.mark.slow
def test_compile_inference_and_training_step_without_suppressed_errors():
    # As the trainer's --compile does it (dynamic shapes); graph construction runs eagerly.
    import torch._dynamo

    model = make_model("multichoice").float()
    inputs = {k: v.float() if v.is_floating_point() else v for k, v in make_inputs().items()}
    compiled = torch.compile(model, dynamic=True)
    model.eval()
    video_len = torch.tensor([N, 3, 6])  # a short video: empty coarse scale, no shape cache
    expected = model(**inputs, video_len=video_len)
    assert torch.allclose(compiled(**inputs, video_len=video_len), expected, atol=1e-5)
    model.train()
    answer = torch.tensor([1, 2, 3])
    model.loss(compiled(**inputs), answer).backward()
    compiled_grads = [p.grad.clone() for p in model.parameters() if p.grad is not None]
    model.zero_grad()
    model.loss(model(**inputs), answer).backward()
    eager_grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert len(compiled_grads) == len(eager_grads)
    for a, b in zip(compiled_grads, eager_grads):
        assert torch.allclose(a, b, atol=1e-5)
    assert not torch._dynamo.config.suppress_errors
