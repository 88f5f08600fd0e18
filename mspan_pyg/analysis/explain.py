"""Which clips did the model use? Cross-scale attention and read-out weights of one question.

:func:`explain_question` runs MSPAN on one question with :attr:`MSPAN.attention_log` switched on
and returns, for the video of that question:

- ``intervals[s]``: ``[M_s, 2]`` first/last frame of every clip of scale ``s + 1``;
- ``attention[direction]``: per scale pair of the chosen iteration (default: the last), the
  edges ``[2, E]`` (source clip, target clip; local clip indices) and their weights ``alpha [E]``
  (a softmax over the incoming edges of each target clip: they sum to 1 per target);
- ``sent[direction][s]``: ``[M_s]`` the attention mass each clip of scale ``s + 1`` sends in that
  direction (sum of its outgoing ``alpha``), normalised to sum to 1 over the scale (NaN where the
  scale is no source in that direction) — the clips the other scale drew from;
- ``readout_weights``: ``[n]`` the read-out softmax (eq. 11) over the read-out nodes (G_1 for
  ``full``/``bottom_up``, G_K for ``top_down``, all scales for ``dense``), which sums to 1, with
  their ``readout_intervals`` ``[n, 2]`` and ``readout_scale`` ``[n]``;

- ``top_clips``: the clips that mattered, strongest first: the read-out's top nodes, and per
  scale the clips that sent the most cross-scale attention, each with its frame span;

and, given ``out``, draws them: frames on the time axis, the read-out weights on top (the answer
is read from these nodes), then each scale's clips as bars over their frames coloured by ``sent``,
with the top clips outlined and labelled with their frames.

Everything comes from one forward pass of the model itself: the attention through
:attr:`MSPAN.attention_log`, the read-out weights through hooks on ``model.readout`` (for
multiple choice, the read-out queried by the predicted candidate).

    mspan-pyg explain runs/builtin/action/best.pt --index 3   # writes explain_test_3.png there
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from mspan_pyg.errors import ConfigError
from mspan_pyg.files import atomic_path

DIRECTION_TITLES = {
    "top_down": "top-down (fine → coarse): attention each clip sends to the next coarser scale",
    "bottom_up": "bottom-up (coarse → fine): attention each clip sends to the next finer scale",
    "dense": "dense: attention each clip sends to the other scales",
}


def _as_batch(batch_or_sample: Dict[str, Any]) -> Dict[str, Any]:
    if batch_or_sample["appearance"].dim() == 2:  # one sample of VideoQADataset
        from mspan_pyg.data import collate

        return collate([batch_or_sample])
    return batch_or_sample


#: clips listed per scale (and read-out nodes) in ``top_clips``
TOP_CLIPS = 3


@torch.no_grad()
def explain_question(
    model,
    batch_or_sample: Dict[str, Any],
    index: int = 0,
    *,
    question: Optional[str] = None,
    answer: Any = None,
    prediction: Any = None,
    candidates: Optional[Sequence[str]] = None,
    frame_labels: Optional[Sequence[str]] = None,
    iteration: int = -1,
    out: Optional[str] = None,
) -> Dict[str, Any]:
    """Attention and read-out weights of question ``index`` of a batch (or of one sample).

    Args:
        model: a trained :class:`~mspan_pyg.models.mspan.MSPAN` (put in eval mode here).
        batch_or_sample: a collated batch dict or one ``VideoQADataset`` sample.
        index: position of the question in the batch.
        question, answer, prediction, candidates: text for the picture's title (``prediction``
            defaults to the model's raw prediction).
        frame_labels: one label per frame drawn on the time axis (e.g. ground-truth actions).
        iteration: which iteration's attention (default: the last).
        out: PNG path to draw to (needs matplotlib); ``None`` only computes.

    Returns:
        A dict with the arrays listed in the module docstring, plus ``output`` (the model's raw
        output for this question), ``predicted`` (``model.predict``), ``num_frames`` and
        ``figure`` (the PNG path or ``None``).
    """
    if getattr(model, "per_candidate", False):  # R graphs per question: not drawn yet
        raise ConfigError(
            "explain supports the paper's multiple-choice mode only; this model reasons once "
            "per candidate (mc_query='question+candidate')"
        )
    batch = _as_batch(batch_or_sample)
    B = batch["appearance"].size(0)
    if not -B <= index < B:
        raise ConfigError(f"index {index} out of range for a batch of {B} question(s)")
    index %= B
    run = _forward_with_weights(model, batch)
    predicted = model.predict(run["output"])[index]
    weights = run["readout_weights"]
    if weights.dim() == 2:  # multichoice: column 0 is the question's read-out, 1 + r candidate r
        weights = weights[:, 1 + int(predicted)]
    graph, node_batch = run["graph"], run["node_batch"]
    intervals = [
        graph.interval[i][graph.batch[i] == index].cpu().numpy() for i in range(len(graph.x))
    ]
    keep = (node_batch == index).cpu()
    read_scale, read_interval = _readout_nodes(model.structure, graph)
    attention, shares, chosen = _attention_of_video(run["log"], graph, index, intervals, iteration)
    num_frames = (
        int(batch["video_len"][index])
        if batch.get("video_len") is not None
        else int(batch["appearance"].size(1))
    )
    result = dict(
        intervals=intervals,
        attention=attention,
        sent=shares,
        readout_weights=weights[keep.to(weights.device)].cpu().numpy(),
        readout_intervals=read_interval[keep.to(read_interval.device)].cpu().numpy(),
        readout_scale=read_scale[keep].numpy() + 1,
        iteration=chosen,
        output=run["output"][index].detach().cpu().numpy(),
        predicted=predicted.cpu().numpy(),
        num_frames=num_frames,
        figure=None,
    )
    result["top_clips"] = top_clips(result)
    if out is not None:
        result["figure"] = draw_explanation(
            result,
            out,
            question=question,
            answer=answer,
            prediction=prediction if prediction is not None else result["predicted"].tolist(),
            candidates=candidates,
            frame_labels=frame_labels,
        )
    return result


def _forward_with_weights(model, batch: Dict[str, Any]) -> Dict[str, Any]:
    """One forward of ``model`` that also returns its read-out weights, read-out nodes, graph
    and attention log (the model's own read-out: hooks ask it for its weights)."""
    from mspan_pyg.training.engine import forward_batch, move_batch

    model.eval()
    batch = move_batch(batch, next(model.parameters()).device)
    seen: Dict[str, Any] = {}

    def ask_weights(module, args, kwargs):
        return args, dict(kwargs, return_weights=True)

    def keep_weights(module, args, kwargs, output):
        seen["readout_weights"] = output[1]
        seen["nodes"], seen["node_batch"] = args[0], args[2]
        return output[0]

    encode_video = model.encode_video

    def keep_graph(*args, **kwargs):
        nodes, node_batch, graph = encode_video(*args, **kwargs)
        seen["graph"] = graph
        return nodes, node_batch, graph

    hooks = [
        model.readout.register_forward_pre_hook(ask_weights, with_kwargs=True),
        model.readout.register_forward_hook(keep_weights, with_kwargs=True),
    ]
    previous, model.attention_log = model.attention_log, []
    model.encode_video = keep_graph  # an instance attribute shadows the method for this call
    try:
        seen["output"] = forward_batch(model, batch)
        seen["log"] = model.attention_log
    finally:
        del model.encode_video
        model.attention_log = previous
        for h in hooks:
            h.remove()
    return seen


def _readout_nodes(structure: str, graph):
    """Scale index ``[n]`` and interval ``[n, 2]`` of every read-out node of the batch."""
    sizes = [x.size(0) for x in graph.x]
    if structure == "dense":
        scale = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
        return scale, torch.cat(graph.interval, dim=0)
    i = len(sizes) - 1 if structure == "top_down" else 0
    return torch.full((sizes[i],), i, dtype=torch.long), graph.interval[i]


def _attention_of_video(log, graph, index: int, intervals, iteration: int):
    """The attention log entries of video ``index`` at the chosen iteration, in local clip
    indices, and the share of attention each clip sends (see the module docstring)."""
    K = len(graph.x)
    sizes = [x.size(0) for x in graph.x]
    offsets = np.cumsum([0] + sizes[:-1]).tolist()
    starts = [int(graph.ptr[i][index]) for i in range(K)]
    all_scale = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
    iterations = sorted({entry[1] for entry in log})
    chosen = iterations[iteration] if iterations else None
    attention: Dict[str, List[Dict[str, Any]]] = {}
    sent: Dict[str, List[np.ndarray]] = {}  # summed outgoing alpha per clip
    is_source: Dict[str, List[bool]] = {}  # scales that send in that direction
    for direction, t, s_src, s_dst, edge_index, alpha in log:
        if t != chosen:
            continue
        edge_index, alpha = edge_index.cpu(), alpha.cpu().float()
        sums = sent.setdefault(direction, [np.zeros(len(iv)) for iv in intervals])
        used = is_source.setdefault(direction, [False] * K)
        if direction == "dense":  # node ids index the concatenation of all scales
            mask = torch.cat(graph.batch).cpu()[edge_index[1]] == index
            e, a = edge_index[:, mask], alpha[mask]
            src_scale, dst_scale = all_scale[e[0]], all_scale[e[1]]
            first = torch.tensor(offsets)[all_scale] + torch.tensor(starts)[all_scale]
            src_local, dst_local = e[0] - first[e[0]], e[1] - first[e[1]]
            for i in range(K):
                m = src_scale == i
                np.add.at(sums[i], src_local[m].numpy(), a[m].numpy())
                used[i] = used[i] or bool(m.any())
            entry = dict(
                source_scale=src_scale.numpy() + 1,
                target_scale=dst_scale.numpy() + 1,
                edge_index=torch.stack([src_local, dst_local]).numpy(),
                alpha=a.numpy(),
            )
        else:
            src, dst = s_src - 1, s_dst - 1
            mask = graph.batch[dst].cpu()[edge_index[1]] == index
            e = edge_index[:, mask] - torch.tensor([[starts[src]], [starts[dst]]])
            a = alpha[mask]
            np.add.at(sums[src], e[0].numpy(), a.numpy())
            used[src] = True
            entry = dict(
                source_scale=s_src, target_scale=s_dst, edge_index=e.numpy(), alpha=a.numpy()
            )
        attention.setdefault(direction, []).append(entry)
    shares = {
        d: [
            v / v.sum() if is_source[d][i] and v.sum() > 0 else np.full(len(v), np.nan)
            for i, v in enumerate(sums)
        ]
        for d, sums in sent.items()
    }
    return attention, shares, chosen


def top_clips(result: Dict[str, Any], k: int = TOP_CLIPS) -> Dict[str, List[Dict[str, Any]]]:
    """The clips that mattered most, strongest first, each ``{scale, clip, frames, weight}``
    (``frames``: first and last frame):

    - ``"readout"``: the ``k`` read-out nodes with the largest read-out weight (the answer is
      read from these);
    - ``"scale_s"``: the ``k`` clips of scale ``s`` that sent the largest share of cross-scale
      attention, averaged over the directions in which the scale sends.
    """
    out: Dict[str, List[Dict[str, Any]]] = {}
    w, iv, sc = result["readout_weights"], result["readout_intervals"], result["readout_scale"]
    out["readout"] = [
        dict(scale=int(sc[j]), clip=int(j), frames=tuple(int(f) for f in iv[j]), weight=float(w[j]))
        for j in np.argsort(-w, kind="stable")[:k]
    ]
    for i, intervals in enumerate(result["intervals"]):
        shares = [result["sent"][d][i] for d in result["sent"]]
        shares = [v for v in shares if np.isfinite(v).any()]
        if not shares:
            continue
        mean = np.mean(shares, axis=0)
        out[f"scale_{i + 1}"] = [
            dict(
                scale=i + 1,
                clip=int(j),
                frames=tuple(int(f) for f in intervals[j]),
                weight=float(mean[j]),
            )
            for j in np.argsort(-mean, kind="stable")[:k]
        ]
    return out


def format_top_clips(tops: Dict[str, List[Dict[str, Any]]]) -> str:
    """``top_clips`` as text lines, e.g. ``read-out   frames 3-3 (0.41), 4-4 (0.22)``."""

    def span(c):
        a, b = c["frames"]
        return f"{a}" if a == b else f"{a}-{b}"

    lines = []
    for name, clips in tops.items():
        label = "read-out" if name == "readout" else name.replace("_", " ")
        lines.append(
            f"  {label:<9} frames " + ", ".join(f"{span(c)} ({c['weight']:.2f})" for c in clips)
        )
    return "\n".join(lines)


def _events(labels: Sequence[str]):
    """Runs of equal consecutive labels: (first frame, last frame, label)."""
    runs, start = [], 0
    for f in range(1, len(labels) + 1):
        if f == len(labels) or labels[f] != labels[start]:
            runs.append((start, f - 1, labels[start]))
            start = f
    return runs


def draw_explanation(
    result: Dict[str, Any],
    out: str,
    question: Optional[str] = None,
    answer: Any = None,
    prediction: Any = None,
    candidates: Optional[Sequence[str]] = None,
    frame_labels: Optional[Sequence[str]] = None,
) -> str:
    """Draws :func:`explain_question`'s arrays to a PNG; returns its path.

    Panels, top to bottom, on one frame axis: the frame labels (when given), the read-out
    weights (the answer is read from these nodes; the top ones labelled), and per direction each
    scale's clips coloured by the attention they send, the top clips of each scale outlined in
    red with their frame span.
    """
    from mspan_pyg.analysis.plots import pyplot

    plt = pyplot()
    K = len(result["intervals"])
    directions = [d for d in ("top_down", "bottom_up", "dense") if d in result["sent"]]
    heights = [0.5 if frame_labels is not None else 0.01, 1.6] + [
        max(1.6, 0.22 * sum(range(1, K + 1)))
    ] * len(directions)
    N = result["num_frames"]
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(max(8.0, 0.55 * N + 2), sum(heights) + 2.0),
        sharex=True,
        gridspec_kw=dict(height_ratios=heights),
    )
    _draw_frame_labels(axes[0], frame_labels, N, plt)
    _draw_readout(axes[1], result, plt)
    for ax, direction in zip(axes[2:], directions):
        _draw_attention(ax, result, direction, plt)
    axes[-1].set_xlim(-0.5, N - 0.5)
    axes[-1].set_xticks(range(N))
    axes[-1].set_xlabel("frame")
    if directions:
        from matplotlib import cm, colors

        sm = cm.ScalarMappable(norm=colors.Normalize(0.0, 1.0), cmap=plt.get_cmap("viridis"))
        fig.colorbar(
            sm,
            ax=list(axes[2:]),
            fraction=0.025,
            pad=0.01,
            label="attention sent, relative to the scale's most-attended clip",
        )
    title = _title(question, answer, prediction, candidates)
    if title:
        fig.suptitle(title, fontsize=10)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    return out


def _draw_frame_labels(ax, frame_labels: Optional[Sequence[str]], N: int, plt) -> None:
    from matplotlib.patches import Rectangle

    ax.set_yticks([])
    if frame_labels is None:
        ax.axis("off")
        return
    palette = plt.get_cmap("tab20")
    names = sorted(set(frame_labels))
    for a, b, label in _events(list(frame_labels)[:N]):
        color = palette(names.index(label) % 20)
        ax.add_patch(
            Rectangle((a - 0.5, 0), b - a + 1, 1, facecolor=color, edgecolor="white", alpha=0.55)
        )
        ax.text((a + b) / 2, 0.5, label, ha="center", va="center", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("frames", rotation=0, ha="right", va="center")


def _draw_readout(ax, result: Dict[str, Any], plt) -> None:
    cmap = plt.get_cmap("viridis")
    K = len(result["intervals"])
    w, iv, sc = result["readout_weights"], result["readout_intervals"], result["readout_scale"]
    one_scale = len(set(sc.tolist())) == 1
    for k in range(len(w)):
        a, b = iv[k]
        ax.bar(
            (a + b) / 2,
            w[k],
            width=(b - a + 1) * 0.9,
            color=cmap(0.25 + 0.6 * (sc[k] - 1) / max(K - 1, 1)),
            alpha=0.8 if one_scale else 0.4,
            edgecolor="black",
            linewidth=0.4,
        )
    for rank, clip in enumerate(result["top_clips"]["readout"], start=1):
        a, b = clip["frames"]
        ax.annotate(
            f"#{rank}",
            ((a + b) / 2, clip["weight"]),
            ha="center",
            va="bottom",
            fontsize=8,
            color="tab:red",
        )
    read_scales = sorted(set(sc.tolist()))
    ax.axhline(1.0 / max(len(w), 1), color="grey", ls=":", lw=1)
    ax.set_ylabel("read-out\nweight", rotation=0, ha="right", va="center")
    where = f"G_{read_scales[0]}" if len(read_scales) == 1 else "all scales"
    ax.set_title(
        f"the answer is read from these clips: read-out weights over {where} "
        "(eq. 11; #1 = strongest; dotted: uniform)",
        fontsize=9,
        loc="left",
    )


def _draw_attention(ax, result: Dict[str, Any], direction: str, plt) -> None:
    """Each scale's clips as bars over their frames, coloured by the attention they send in
    ``direction``; the scale's top clips outlined in red and labelled with their frames."""
    from matplotlib import colors
    from matplotlib.patches import Rectangle

    cmap, norm = plt.get_cmap("viridis"), colors.Normalize(0.0, 1.0)
    y, ticks, labels = 0, [], []
    for i, intervals in enumerate(result["intervals"]):
        s = i + 1
        share = result["sent"][direction][i]
        top = y
        peak = np.nanmax(share) if np.isfinite(share).any() else np.nan
        best = set(np.argsort(-np.nan_to_num(share, nan=-1.0), kind="stable")[:TOP_CLIPS])
        for j, (a, b) in enumerate(intervals):
            row = top + (j % s)  # clips j and j + s never overlap: s sub-rows per scale
            if np.isnan(share[j]):
                face, hatch = "#eeeeee", "//"
            else:
                face, hatch = cmap(norm(share[j] / peak if peak > 0 else 0.0)), None
            highlight = j in best and not np.isnan(share[j])
            ax.add_patch(
                Rectangle(
                    (a - 0.5, row + 0.1),
                    b - a + 1,
                    0.8,
                    facecolor=face,
                    hatch=hatch,
                    edgecolor="tab:red" if highlight else "white",
                    linewidth=1.8 if highlight else 0.6,
                    zorder=3 if highlight else 2,
                )
            )
            if highlight:
                span = f"{a}" if a == b else f"{a}-{b}"
                ax.text(
                    (a + b) / 2, row + 0.5, span, ha="center", va="center", fontsize=6, zorder=4
                )
        y = top + s
        ticks.append((top + y) / 2)
        labels.append(f"scale {s}" + ("" if np.isfinite(share).any() else "\n(no source)"))
        ax.axhline(y, color="black", lw=0.5)
    ax.set_ylim(y, 0)
    ax.set_yticks(ticks)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_title(
        DIRECTION_TITLES[direction]
        + f", iteration {result['iteration'] + 1} (red: the scale's top clips, frames shown)",
        fontsize=9,
        loc="left",
    )


def _title(question, answer, prediction, candidates) -> str:
    lines = []
    if question:
        lines.append(f"Q: {question}")
    if candidates:
        lines.append("candidates: " + " | ".join(f"{k}: {c}" for k, c in enumerate(candidates)))
    parts = []
    if answer is not None:
        parts.append(f"answer: {answer}")
    if prediction is not None:
        parts.append(f"prediction: {prediction}")
    if parts:
        lines.append("    ".join(parts))
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# From a checkpoint (``mspan-pyg explain``)
# ----------------------------------------------------------------------------------------------


def synthetic_frame_labels(features: str, video_row: int, num_frames: int) -> Optional[List[str]]:
    """Ground-truth action per frame from a synthetic feature file (``None`` for real features)."""
    import h5py

    from mspan_pyg.data.features import uniform_frame_indices
    from mspan_pyg.data.synthetic import ACTIONS

    with h5py.File(features, "r") as f:
        if "synthetic" not in f or "frame_action" not in f["synthetic"]:
            return None
        actions = f["synthetic"]["frame_action"][video_row]
    if len(actions) != num_frames:
        actions = actions[uniform_frame_indices(len(actions), num_frames)]
    return [ACTIONS[int(a)] for a in actions]


def default_picture_path(checkpoint: str, split: str, index: int) -> str:
    """``explain_<split>_<index>.png`` next to the checkpoint (inside the run folder)."""
    folder = os.path.dirname(os.path.abspath(checkpoint))
    return os.path.join(folder, f"explain_{split}_{index}.png")


def explain_checkpoint(
    checkpoint: str,
    index: int,
    out: Optional[str] = None,
    data_dir: Optional[str] = None,
    features: Optional[str] = None,
    split: str = "test",
    device: str = "cpu",
) -> Dict[str, Any]:
    """:func:`explain_question` for question ``index`` of ``split``, everything from a checkpoint
    (:func:`~mspan_pyg.training.runner.load_run`); the picture goes to ``out`` (default
    :func:`default_picture_path`)."""
    from mspan_pyg.training.runner import load_run

    run = load_run(checkpoint, data_dir, features, device=device)
    dataset = getattr(run.data((split,)), split)
    if not -len(dataset) <= index < len(dataset):
        raise ConfigError(
            f"--index {index} out of range: the {split} split has {len(dataset)} questions"
        )
    record, sample = dataset.records[index], dataset[index]
    labels = synthetic_frame_labels(
        run.config.data.features, int(dataset.rows[index]), sample["appearance"].size(0)
    )
    result = explain_question(run.model, sample, 0)
    prediction = _prediction_text(result, record, run.answer_vocab)
    result["prediction_text"], result["answer_text"] = prediction, _answer_text(record)
    result["figure"] = draw_explanation(
        result,
        out or default_picture_path(checkpoint, split, index),
        question=record.question,
        answer=result["answer_text"],
        prediction=prediction,
        candidates=record.candidates,
        frame_labels=labels,
    )
    result["question"] = record.question
    return result


def _prediction_text(result: Dict[str, Any], record, answer_vocab) -> str:
    pred = result["predicted"]
    if answer_vocab is not None:
        return answer_vocab.decode(int(pred))
    if record.candidates is not None:
        return f"{int(pred)} ({record.candidates[int(pred)]})"
    return f"{float(pred):g} (raw {float(result['output']):.2f})"


def _answer_text(record) -> str:
    if record.candidates is not None:
        return f"{record.answer} ({record.candidates[int(record.answer)]})"
    return str(record.answer)


def add_explain_arguments(p) -> None:
    p.add_argument("checkpoint", help="a checkpoint, e.g. OUT/best.pt")
    p.add_argument("--data-dir", default=None, help="default: the checkpoint's")
    p.add_argument("--features", default=None, help="default: the checkpoint's")
    p.add_argument("--split", default="test", help="train | val | test (default test)")
    p.add_argument(
        "--index", type=int, default=0, help="question position in the split (default 0)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="PNG file to write (default: explain_<split>_<index>.png in the checkpoint's folder)",
    )
    p.add_argument("--device", default="cpu")


def explain_from_args(ns) -> Dict[str, Any]:
    result = explain_checkpoint(
        ns.checkpoint,
        ns.index,
        ns.out,
        data_dir=ns.data_dir,
        features=ns.features,
        split=ns.split,
        device=ns.device,
    )
    print(f"question: {result['question']}")
    print(f"answer: {result['answer_text']}    prediction: {result['prediction_text']}")
    print("clips that mattered (weight):")
    print(format_top_clips(result["top_clips"]))
    print(f"wrote {result['figure']}")
    return result
