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

and, given ``out``, draws them: frames on the time axis, each scale's clips as bars over their
frames coloured by ``sent``, and the read-out weights on top.

    mspan-pyg explain runs/ablation/rows/full-seed0/best.pt --index 3 --out q3.png
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from mspan_pyg.errors import ConfigError

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
    from mspan_pyg.training.engine import forward_batch, move_batch

    batch = _as_batch(batch_or_sample)
    B = batch["appearance"].size(0)
    if not -B <= index < B:
        raise ConfigError(f"index {index} out of range for a batch of {B} question(s)")
    index %= B
    model.eval()
    device = next(model.parameters()).device
    batch = move_batch(batch, device)
    y = forward_batch(model, batch)
    predicted = model.predict(y)[index]

    previous, model.attention_log = model.attention_log, []
    try:
        query = model.question_encoder(batch["question"], batch["question_len"])
        nodes, node_batch, graph = model.encode_video(
            batch["appearance"], batch.get("motion"), query, batch.get("video_len")
        )
        log = model.attention_log
    finally:
        model.attention_log = previous
    if model.task == "multichoice":
        cands = batch["candidates"]
        Bc, R, La = cands.shape
        enc = model.question_encoder(
            cands.reshape(Bc * R, La), batch["candidates_len"].reshape(Bc * R)
        )
        queries = torch.cat([query.unsqueeze(1), enc.view(Bc, R, -1)], dim=1)  # as in MSPAN
        _, weights = model.readout(nodes, queries, node_batch, return_weights=True)
        weights = weights[:, 1 + int(predicted)]  # the read-out for the predicted candidate
    else:
        _, weights = model.readout(nodes, query, node_batch, return_weights=True)

    K = graph.num_scales
    sizes = [x.size(0) for x in graph.x]
    offsets = np.cumsum([0] + sizes[:-1]).tolist()
    in_video = [(graph.batch[i] == index) for i in range(K)]
    starts = [int(graph.ptr[i][index]) for i in range(K)]
    intervals = [graph.interval[i][in_video[i]].cpu().numpy() for i in range(K)]
    num_frames = (
        int(batch["video_len"][index])
        if batch.get("video_len") is not None
        else int(batch["appearance"].size(1))
    )

    # Read-out nodes of this video: which scale and interval each one is.
    if model.structure == "dense":
        scale_of = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
        read_interval = torch.cat(graph.interval, dim=0)
    else:
        i = K - 1 if model.structure == "top_down" else 0
        scale_of = torch.full((sizes[i],), i, dtype=torch.long)
        read_interval = graph.interval[i]
    keep = (node_batch == index).cpu()
    readout_weights = weights[keep.to(weights.device)].cpu().numpy()

    iterations = sorted({entry[1] for entry in log})
    chosen = iterations[iteration] if iterations else None
    attention: Dict[str, List[Dict[str, Any]]] = {}
    sent: Dict[str, List[np.ndarray]] = {}  # summed outgoing alpha per clip
    is_source: Dict[str, List[bool]] = {}  # scales that send in that direction
    all_scale = torch.cat([torch.full((n,), i, dtype=torch.long) for i, n in enumerate(sizes)])
    for direction, t, s_src, s_dst, edge_index, alpha in log:
        if t != chosen:
            continue
        edge_index, alpha = edge_index.cpu(), alpha.cpu().float()
        sums = sent.setdefault(direction, [np.zeros(len(iv)) for iv in intervals])
        used = is_source.setdefault(direction, [False] * K)
        if direction == "dense":  # node ids index the concatenation of all scales
            all_batch = torch.cat(graph.batch).cpu()
            mask = all_batch[edge_index[1]] == index
            e, a = edge_index[:, mask], alpha[mask]
            src_scale, dst_scale = all_scale[e[0]], all_scale[e[1]]
            first = torch.tensor(offsets)[all_scale] + torch.tensor(starts)[all_scale]
            src_local, dst_local = e[0] - first[e[0]], e[1] - first[e[1]]
            for i in range(K):
                m = src_scale == i
                np.add.at(sums[i], src_local[m].numpy(), a[m].numpy())
                used[i] = used[i] or bool(m.any())
            attention.setdefault(direction, []).append(
                dict(
                    source_scale=src_scale.numpy() + 1,
                    target_scale=dst_scale.numpy() + 1,
                    edge_index=torch.stack([src_local, dst_local]).numpy(),
                    alpha=a.numpy(),
                )
            )
        else:
            src, dst = s_src - 1, s_dst - 1
            mask = graph.batch[dst].cpu()[edge_index[1]] == index
            e = edge_index[:, mask] - torch.tensor([[starts[src]], [starts[dst]]])
            a = alpha[mask]
            np.add.at(sums[src], e[0].numpy(), a.numpy())
            used[src] = True
            attention.setdefault(direction, []).append(
                dict(source_scale=s_src, target_scale=s_dst, edge_index=e.numpy(), alpha=a.numpy())
            )
    shares = {
        d: [
            v / v.sum() if is_source[d][i] and v.sum() > 0 else np.full(len(v), np.nan)
            for i, v in enumerate(sums)
        ]
        for d, sums in sent.items()
    }

    result = dict(
        intervals=intervals,
        attention=attention,
        sent=shares,
        readout_weights=readout_weights,
        readout_intervals=read_interval[keep.to(read_interval.device)].cpu().numpy(),
        readout_scale=scale_of[keep].numpy() + 1,
        iteration=chosen,
        output=y[index].detach().cpu().numpy(),
        predicted=predicted.cpu().numpy(),
        num_frames=num_frames,
        figure=None,
    )
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
    """Draws :func:`explain_question`'s arrays to a PNG; returns its path."""
    from mspan_pyg.analysis.plots import pyplot

    plt = pyplot()
    from matplotlib import cm, colors
    from matplotlib.patches import Rectangle

    N = result["num_frames"]
    intervals = result["intervals"]
    K = len(intervals)
    directions = [d for d in ("top_down", "bottom_up", "dense") if d in result["sent"]]
    rows_per_panel = sum(range(1, K + 1))
    heights = [0.5 if frame_labels is not None else 0.01, 1.6] + [
        max(1.6, 0.22 * rows_per_panel)
    ] * len(directions)
    fig, axes = plt.subplots(
        len(heights),
        1,
        figsize=(max(8.0, 0.55 * N + 2), sum(heights) + 2.0),
        sharex=True,
        gridspec_kw=dict(height_ratios=heights),
    )
    cmap = plt.get_cmap("viridis")
    norm = colors.Normalize(0.0, 1.0)

    ax = axes[0]
    ax.set_yticks([])
    if frame_labels is not None:
        palette = plt.get_cmap("tab20")
        names = sorted(set(frame_labels))
        for a, b, label in _events(list(frame_labels)[:N]):
            ax.add_patch(
                Rectangle(
                    (a - 0.5, 0),
                    b - a + 1,
                    1,
                    facecolor=palette(names.index(label) % 20),
                    edgecolor="white",
                    alpha=0.55,
                )
            )
            ax.text((a + b) / 2, 0.5, label, ha="center", va="center", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_ylabel("frames", rotation=0, ha="right", va="center")
    else:
        ax.axis("off")

    ax = axes[1]
    w, iv, sc = result["readout_weights"], result["readout_intervals"], result["readout_scale"]
    for k in range(len(w)):
        a, b = iv[k]
        ax.bar(
            (a + b) / 2,
            w[k],
            width=(b - a + 1) * 0.9,
            color=cmap(0.25 + 0.6 * (sc[k] - 1) / max(K - 1, 1)),
            alpha=0.8 if len(set(sc.tolist())) == 1 else 0.4,
            edgecolor="black",
            linewidth=0.4,
        )
    read_scales = sorted(set(sc.tolist()))
    ax.axhline(1.0 / max(len(w), 1), color="grey", ls=":", lw=1)
    ax.set_ylabel("read-out\nweight", rotation=0, ha="right", va="center")
    ax.set_title(
        "read-out weights over "
        + (f"G_{read_scales[0]}" if len(read_scales) == 1 else "all scales")
        + " (eq. 11; dotted: uniform)",
        fontsize=9,
        loc="left",
    )

    for ax, direction in zip(axes[2:], directions):
        y, ticks, labels = 0, [], []
        for i in range(K):
            s = i + 1
            share = result["sent"][direction][i]
            top = y
            peak = np.nanmax(share) if np.isfinite(share).any() else np.nan
            for j, (a, b) in enumerate(intervals[i]):
                row = top + (j % s)  # clips j and j + s never overlap: s sub-rows per scale
                if np.isnan(share[j]):
                    face, hatch = "#eeeeee", "//"
                else:
                    face, hatch = cmap(norm(share[j] / peak if peak > 0 else 0.0)), None
                ax.add_patch(
                    Rectangle(
                        (a - 0.5, row + 0.1),
                        b - a + 1,
                        0.8,
                        facecolor=face,
                        hatch=hatch,
                        edgecolor="white",
                        linewidth=0.6,
                    )
                )
            y = top + s
            ticks.append((top + y) / 2)
            labels.append(f"scale {s}" + ("" if np.isfinite(share).any() else "\n(no source)"))
            ax.axhline(y, color="black", lw=0.5)
        ax.set_ylim(y, 0)
        ax.set_yticks(ticks)
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_title(
            DIRECTION_TITLES[direction] + f", iteration {result['iteration'] + 1}",
            fontsize=9,
            loc="left",
        )
    axes[-1].set_xlim(-0.5, N - 0.5)
    axes[-1].set_xticks(range(N))
    axes[-1].set_xlabel("frame")
    if directions:
        sm = cm.ScalarMappable(norm=norm, cmap=cmap)
        fig.colorbar(
            sm,
            ax=list(axes[2:]),
            fraction=0.025,
            pad=0.01,
            label="attention sent, relative to the scale's most-attended clip",
        )

    title = []
    if question:
        title.append(f"Q: {question}")
    if candidates:
        title.append("candidates: " + " | ".join(f"{k}: {c}" for k, c in enumerate(candidates)))
    parts = []
    if answer is not None:
        parts.append(f"answer: {answer}")
    if prediction is not None:
        parts.append(f"prediction: {prediction}")
    if parts:
        title.append("    ".join(parts))
    if title:
        fig.suptitle("\n".join(title), fontsize=10)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


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


def explain_checkpoint(
    checkpoint: str,
    index: int,
    out: str,
    data_dir: Optional[str] = None,
    features: Optional[str] = None,
    split: str = "test",
    device: str = "cpu",
) -> Dict[str, Any]:
    """:func:`explain_question` for question ``index`` of ``split``, everything from a checkpoint."""
    from mspan_pyg.training.checkpoint import load_checkpoint
    from mspan_pyg.training.distributed import resolve_device
    from mspan_pyg.training.runner import (
        build_data,
        check_features,
        checkpoint_args,
        model_from_checkpoint,
    )

    state = load_checkpoint(checkpoint)
    args = checkpoint_args(state, data_dir, features)
    if not args.get("data_dir") or not os.path.isdir(args["data_dir"]):
        raise ConfigError(
            f"the checkpoint's data folder {args.get('data_dir')} does not exist; pass --data-dir "
            f"and --features"
        )
    model = model_from_checkpoint(state, checkpoint).to(resolve_device(device))
    data = build_data(
        args, splits=(split,), vocab_state=dict(state["vocab"], qtype_names=state["qtype_names"])
    )
    check_features(state["model_config"], data.store, checkpoint)
    dataset = getattr(data, split)
    if not -len(dataset) <= index < len(dataset):
        raise ConfigError(
            f"--index {index} out of range: the {split} split has {len(dataset)} questions"
        )
    record = dataset.records[index]
    sample = dataset[index]
    labels = synthetic_frame_labels(
        args["features"], int(dataset.rows[index]), sample["appearance"].size(0)
    )
    result = explain_question(
        model,
        sample,
        0,
        question=record.question,
        answer=_answer_text(record),
        candidates=record.candidates,
        frame_labels=labels,
        out=None,
    )
    pred = result["predicted"]
    if data.answer_vocab is not None:
        prediction = data.answer_vocab.decode(int(pred))
    elif record.candidates is not None:
        prediction = f"{int(pred)} ({record.candidates[int(pred)]})"
    else:
        prediction = f"{float(pred):g} (raw {float(result['output']):.2f})"
    result["figure"] = draw_explanation(
        result,
        out,
        question=record.question,
        answer=_answer_text(record),
        prediction=prediction,
        candidates=record.candidates,
        frame_labels=labels,
    )
    result["prediction_text"] = prediction
    return result


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
    p.add_argument("--out", required=True, help="PNG file to write")
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
    print(f"prediction {result['prediction_text']}; wrote {result['figure']}")
    return result
