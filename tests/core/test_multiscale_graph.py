import itertools

import pytest
import torch
from torch_geometric.data import Batch
from torch_geometric.loader import DataLoader

from mspan_pyg import build_multiscale_graph
from mspan_pyg.errors import ConfigError
from mspan_pyg.graphs import build_video_graph, multiscale_graph, resolve_strides
from mspan_pyg.graphs.multiscale import device_template


def brute_force(length, num_scales, strides):
    """Clips and edges of one video straight from the definitions, by comparing intervals."""
    clips = []
    for s, r in zip(range(1, num_scales + 1), strides):
        clips.append([(j, j + s - 1) for j in range(0, length - s + 1, r)])
    near = []
    for c in clips:
        near.append(
            {
                (x, y)
                for (x, a), (y, b) in itertools.product(enumerate(c), repeat=2)
                if x != y and a[0] <= b[1] + 1 and b[0] <= a[1] + 1
            }
        )
    coarser = []
    for fine, coarse in zip(clips, clips[1:]):
        coarser.append(
            {
                (x, y)
                for (x, a), (y, b) in itertools.product(enumerate(fine), enumerate(coarse))
                if a[0] <= b[1] and b[0] <= a[1]
            }
        )
    return clips, near, coarser


def edge_set(edge_index):
    return set(map(tuple, edge_index.t().tolist()))


def check_against_brute_force(num_frames, num_scales, lengths, clip_stride=1):
    torch.manual_seed(0)
    frames = torch.randn(len(lengths), num_frames, 3)
    data = build_multiscale_graph(
        frames, num_scales, torch.tensor(lengths), clip_stride=clip_stride
    )
    strides = resolve_strides(num_scales, clip_stride)
    offsets = [0] * num_scales
    expected_near = [set() for _ in range(num_scales)]
    expected_coarser = [set() for _ in range(num_scales - 1)]
    expected_interval = [[] for _ in range(num_scales)]
    expected_x = [[] for _ in range(num_scales)]
    expected_batch = [[] for _ in range(num_scales)]
    for b, length in enumerate(lengths):
        clips, near, coarser = brute_force(length, num_scales, strides)
        for i in range(num_scales):
            expected_near[i] |= {(x + offsets[i], y + offsets[i]) for x, y in near[i]}
            expected_interval[i] += clips[i]
            expected_batch[i] += [b] * len(clips[i])
            expected_x[i] += [frames[b, a : e + 1].max(0).values for a, e in clips[i]]
        for i in range(num_scales - 1):
            expected_coarser[i] |= {(x + offsets[i], y + offsets[i + 1]) for x, y in coarser[i]}
        for i in range(num_scales):
            offsets[i] += len(clips[i])
    for i in range(num_scales):
        s = f"scale_{i + 1}"
        assert data[s].interval.tolist() == [list(c) for c in expected_interval[i]]
        assert data[s].batch.tolist() == expected_batch[i]
        assert data[s].ptr.tolist()[-1] == len(expected_batch[i])
        if expected_x[i]:
            assert torch.equal(data[s].x, torch.stack(expected_x[i]))
        else:
            assert data[s].x.shape == (0, 3)
        assert edge_set(data[s, "near", s].edge_index) == expected_near[i]
    for i in range(num_scales - 1):
        fine, coarse = f"scale_{i + 1}", f"scale_{i + 2}"
        got = data[fine, "coarser", coarse].edge_index
        assert edge_set(got) == expected_coarser[i]
        assert got.size(1) == len(expected_coarser[i])  # no duplicates
        assert torch.equal(data[coarse, "finer", fine].edge_index, got.flip(0))


@pytest.mark.parametrize(
    "num_frames,num_scales,lengths",
    [
        (16, 8, [16, 16]),
        (6, 6, [6]),  # K = N
        (8, 5, [3]),  # L < K: the coarse scales are empty
        (10, 4, [10, 1, 7, 4, 0]),  # mixed lengths, one empty video
    ],
)
def test_edges_match_intervals(num_frames, num_scales, lengths):
    check_against_brute_force(num_frames, num_scales, lengths)


@pytest.mark.parametrize("clip_stride", ["scale", [1, 2, 2, 3], 2])
def test_strided_edges_match_intervals(clip_stride):
    check_against_brute_force(13, 4, [13, 9, 2], clip_stride)


def test_paper_rule_for_stride_one():
    # docs/graphs.md: same-scale |x - y| <= s; the authors' |x - y| <= s - 1 misses a pair.
    data = build_multiscale_graph(torch.randn(1, 10, 2), 3)
    near = edge_set(data["scale_3", "near", "scale_3"].edge_index)
    assert near == {(x, y) for x in range(8) for y in range(8) if x != y and abs(x - y) <= 3}
    coarser = edge_set(data["scale_2", "coarser", "scale_3"].edge_index)
    # fine [x, x+1] and coarse [y, y+2] share a frame iff y - 1 <= x <= y + 2
    assert coarser == {(x, y) for x in range(9) for y in range(8) if y - 1 <= x <= y + 2}
    assert (0, 1) in coarser and (3, 1) in coarser


def assert_same_graph(a, b):
    assert sorted(a.node_types) == sorted(b.node_types)
    assert sorted(a.edge_types) == sorted(b.edge_types)
    for store_type in a.node_types + a.edge_types:
        assert sorted(a[store_type].keys()) == sorted(b[store_type].keys()), store_type
        for key, value in a[store_type].items():
            assert torch.equal(value, b[store_type][key]), (store_type, key)


@pytest.mark.parametrize("lengths", [[9, 9, 9], [9, 4, 6, 2, 0]])
def test_equals_batch_of_single_videos(lengths):
    # Per-video graphs (short ones with empty coarse scales) collate with PyG's own Batch
    # and DataLoader, and the batched builder returns that very Batch.
    frames = torch.randn(len(lengths), 9, 4)
    batched = build_multiscale_graph(frames, 5, torch.tensor(lengths), pool="mean")
    singles = [
        build_video_graph(frames[b, :length], 5, pool="mean") for b, length in enumerate(lengths)
    ]
    for single, length in zip(singles, lengths):  # shorter than K: runs on its own
        assert single["scale_5"].x.shape == (max(length - 4, 0), 4)
    expected = Batch.from_data_list(singles)
    assert isinstance(batched, Batch) and batched.num_graphs == len(lengths)
    assert_same_graph(batched, expected)
    (loaded,) = DataLoader(singles, batch_size=len(lengths))
    assert_same_graph(batched, loaded)
    for b, single in enumerate(singles):
        assert_same_graph(batched.get_example(b), single)
    for single, example in zip(singles, batched.to_data_list()):
        assert_same_graph(single, example)


def test_mean_and_max_pooling():
    frames = torch.arange(6.0).view(1, 6, 1)
    data = build_multiscale_graph(frames, 3, pool="mean")
    assert data["scale_3"].x.view(-1).tolist() == [1.0, 2.0, 3.0, 4.0]
    data = build_multiscale_graph(frames.flip(1), 2, pool="max")
    assert data["scale_2"].x.view(-1).tolist() == [5.0, 4.0, 3.0, 2.0, 1.0]


def test_template_cache_and_gradients():
    device_template.cache_clear()
    frames = torch.randn(2, 7, 3, requires_grad=True)
    first = multiscale_graph(frames, 3)
    assert device_template.cache_info().misses == 1
    second = multiscale_graph(torch.randn(4, 7, 3), 3, torch.tensor([7, 5, 2, 7]))
    info = device_template.cache_info()
    assert (info.hits, info.misses) == (1, 1)  # the same (N, strides): one template
    multiscale_graph(torch.randn(2, 8, 3), 3)
    assert device_template.cache_info().misses == 2  # a new N builds a new one
    # the GCN adjacency of full-length batches is cached per shape, not per call
    assert first.gcn_adjacency() is multiscale_graph(torch.randn(2, 7, 3), 3).gcn_adjacency()
    assert second.gcn_adjacency() is not second.gcn_adjacency()  # depends on the lengths
    first.x[2].sum().backward()
    assert frames.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(num_scales=0), "num_scales"),
        (dict(num_scales=2, pool="min"), "pool"),
        (dict(num_scales=2, clip_stride="wide"), "clip_stride"),
        (dict(num_scales=2, clip_stride=[1]), "strides"),
        (dict(num_scales=2, lengths=torch.tensor([9, 1])), "lengths"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        build_multiscale_graph(torch.randn(2, 8, 3), **kwargs)
