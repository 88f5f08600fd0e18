"""Property-based: for random N, K, lengths and strides every edge is justified by the clip
intervals and none is missing (hypothesis)."""

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mspan_pyg import build_multiscale_graph


@st.composite
def graph_inputs(draw):
    num_frames = draw(st.integers(1, 14))
    num_scales = draw(st.integers(1, num_frames))
    lengths = draw(st.lists(st.integers(0, num_frames), min_size=1, max_size=4))
    stride = draw(
        st.one_of(
            st.integers(1, 4),
            st.just("scale"),
            st.lists(st.integers(1, 4), min_size=num_scales, max_size=num_scales),
        )
    )
    return num_frames, num_scales, lengths, stride


def shares_frame(a, b, touch=False):
    pad = 1 if touch else 0
    return a[0] <= b[1] + pad and b[0] <= a[1] + pad


@settings(max_examples=60, deadline=None)
@given(graph_inputs())
def test_edges_are_exactly_the_interval_relations(args):
    num_frames, num_scales, lengths, stride = args
    frames = torch.randn(len(lengths), num_frames, 2)
    data = build_multiscale_graph(frames, num_scales, torch.tensor(lengths), clip_stride=stride)
    strides = (
        list(range(1, num_scales + 1))
        if stride == "scale"
        else ([stride] * num_scales if isinstance(stride, int) else stride)
    )
    clips = {}
    for s in range(1, num_scales + 1):
        store = data[f"scale_{s}"]
        interval, batch = store.interval.tolist(), store.batch.tolist()
        assert all(b - a == s - 1 for a, b in interval)
        assert all(b < lengths[v] for (_, b), v in zip(interval, batch))  # inside its video
        clips[s] = list(zip(interval, batch))
        expected = [
            [j, j + s - 1] for length in lengths for j in range(0, length - s + 1, strides[s - 1])
        ]
        assert interval == expected  # every clip that fits, in video order
        assert store.x.size(0) == len(interval)
        assert store.ptr.tolist()[-1] == len(interval)
    for s in range(1, num_scales + 1):
        got = set(map(tuple, data[f"scale_{s}", "near", f"scale_{s}"].edge_index.t().tolist()))
        want = {
            (x, y)
            for x, (a, va) in enumerate(clips[s])
            for y, (b, vb) in enumerate(clips[s])
            if x != y and va == vb and shares_frame(a, b, touch=True)
        }
        assert got == want
    for s in range(1, num_scales):
        edge_index = data[f"scale_{s}", "coarser", f"scale_{s + 1}"].edge_index
        got = set(map(tuple, edge_index.t().tolist()))
        assert len(got) == edge_index.size(1)
        want = {
            (x, y)
            for x, (a, va) in enumerate(clips[s])
            for y, (b, vb) in enumerate(clips[s + 1])
            if va == vb and shares_frame(a, b)
        }
        assert got == want
