"""A trained checkpoint answers a question about one's own video.

    from mspan_pyg.video import answer
    result = answer.answer("runs/tgif_frameqa/best.pt", "my.mp4", "what color is the car ?")
    result["answers"]  # [("red", 0.81), ("blue", 0.07), ...]

    answerer = answer.VideoAnswerer("runs/tgif_frameqa/best.pt")  # loaded once
    answerer.answer("my.mp4", "what color is the car ?")

The features are extracted exactly as those the model was trained on: the checkpoint keeps the
feature file's extraction record (backbones and their weights' SHA-256, preprocessing, frame
rule, N), and the same backbones are rebuilt from it. A weights file must be given again
(``appearance_weights`` / ``motion_weights``); random and parameter-free backbones are rebuilt as
they were.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import torch

from mspan_pyg.errors import ConfigError, DataError


def _extraction_record(state: Dict[str, Any], path: str) -> Dict[str, Any]:
    raw = state.get("features_provenance")
    if not raw:
        raise ConfigError(
            f"checkpoint {path} was trained on features without an extraction record (made "
            "before `mspan-pyg extract-features`, or by another tool), so a new video cannot be "
            "turned into the same kind of features; train on a file from extract-features"
        )
    record = json.loads(raw)
    if record.get("layout") != "mspan":
        raise ConfigError(
            f"checkpoint {path} was trained on {record.get('layout')!r}-layout features; answer "
            "needs the mspan layout"
        )
    return record


def answer(
    checkpoint: str,
    video: str,
    question: str,
    candidates: Optional[Sequence[str]] = None,
    top_k: int = 5,
    appearance_weights: Optional[str] = None,
    motion_weights: Optional[str] = None,
    device: str = "cpu",
    explain: Optional[str] = None,
    decoder: Optional[str] = None,
) -> Dict[str, Any]:
    """Answers ``question`` about ``video`` with a trained checkpoint.

    Args:
        checkpoint: a checkpoint of ``mspan-pyg train`` on features from ``extract-features``,
            or a folder of ``mspan-pyg export`` / ``save_pretrained``.
        video: the video file.
        question: the question text.
        candidates: the candidate answers (multiple-choice checkpoints only; required there).
        top_k: how many answers to return (open-ended and multiple-choice).
        appearance_weights, motion_weights: the weights files the features were extracted with.
        device: where the backbones and the model run.
        explain: a PNG path: the attention picture with thumbnails of the sampled frames.
        decoder: ``pyav`` / ``torchcodec`` / ``auto`` (default; both give the same frames, so
            it need not be the one the features were extracted with).

    Returns:
        ``{"head", "answers": [(answer, probability), ...] (open / multichoice), "count"
        (count), "raw", "frame_indices", "num_source_frames", "figure"}``.

    To answer several questions, :class:`VideoAnswerer` loads the model and backbones once.
    """
    answerer = VideoAnswerer(checkpoint, appearance_weights, motion_weights, device, decoder)
    return answerer.answer(video, question, candidates, top_k=top_k, explain=explain)


class VideoAnswerer:
    """A checkpoint and the backbones its features came from, loaded once; :meth:`answer`
    answers one question about one video (:func:`answer` is one call of it; the demo page keeps
    one for all its questions)."""

    def __init__(
        self,
        checkpoint: str,
        appearance_weights: Optional[str] = None,
        motion_weights: Optional[str] = None,
        device: str = "cpu",
        decoder: Optional[str] = None,
    ):
        from mspan_pyg.training.runner import load_run

        from .extract import Extractor

        self.checkpoint, self.device = checkpoint, device
        self.run = load_run(checkpoint, device=device)
        self.record = _extraction_record(self.run.state, checkpoint)
        self.extractor = Extractor.from_provenance(
            self.record, appearance_weights, motion_weights, device, decoder
        )

    @property
    def head(self) -> str:
        """``"open"``, ``"count"`` or ``"multichoice"`` (which needs candidates)."""
        return self.run.model.task

    def answer(
        self,
        video: str,
        question: str,
        candidates: Optional[Sequence[str]] = None,
        top_k: int = 5,
        explain: Optional[str] = None,
        thumbnails: bool = False,
    ) -> Dict[str, Any]:
        """:func:`answer`'s result for one question; ``thumbnails`` adds the sampled frames'
        thumbnails (``"thumbnails"``: a list of ``H x W x 3`` uint8 arrays)."""
        from mspan_pyg.data.datasets import _encode, collate
        from mspan_pyg.data.features import uniform_frame_indices
        from mspan_pyg.training.engine import forward_batch, move_batch

        checkpoint, device = self.checkpoint, self.device
        state, model = self.run.state, self.run.model
        qv, av = self.run.question_vocab, self.run.answer_vocab
        head = model.task
        if head == "multichoice":
            if not candidates:
                raise ConfigError(
                    f"checkpoint {checkpoint} answers multiple-choice questions: give the "
                    "candidate answers (--candidates 'a' 'b' ...)"
                )
        elif candidates:
            raise ConfigError(
                f"checkpoint {checkpoint} is a {head} model: it takes no --candidates"
            )
        if not question or not question.strip():
            raise ConfigError("the question is empty")
        extractor = self.extractor
        item = extractor.load(video)
        arrays = extractor.features([item])
        app = torch.from_numpy(arrays["appearance"][0].astype(np.float32))
        mot = arrays.get("motion")
        mot = torch.from_numpy(mot[0].astype(np.float32)) if mot is not None else None
        frames = item["frame_indices"]
        thumbs = item["thumbnails"]
        cfg = state["model_config"]
        wanted = self.run.config.data.num_frames
        if wanted and wanted < app.size(0):  # the run read a subset of the stored frames
            keep = uniform_frame_indices(app.size(0), wanted)
            app, frames, thumbs = app[keep], frames[keep], thumbs[keep]
            mot = mot[keep] if mot is not None else None
        if cfg.get("motion_dim", 0) == 0:
            mot = None
        if app.size(-1) != cfg["appearance_dim"] or (
            mot is not None and mot.size(-1) != cfg["motion_dim"]
        ):
            raise DataError(
                f"the re-extracted features of {video} are {app.size(-1)}/"
                f"{0 if mot is None else mot.size(-1)}-d but the model expects "
                f"{cfg['appearance_dim']}/{cfg['motion_dim']}-d"
            )
        sample = {
            "appearance": app,
            "motion": mot,
            "question": _encode(qv, question),
            "candidates": [_encode(qv, c) for c in candidates] if candidates else None,
            "answer": torch.tensor(0.0 if head == "count" else 0),
            "qtype": torch.tensor(0),
            "index": torch.tensor(0),
        }
        batch = collate([sample])
        with torch.no_grad():
            batch = move_batch(batch, torch.device(device))
            y = forward_batch(model, batch)[0].float().cpu()
        result: Dict[str, Any] = {
            "head": head,
            "question": question,
            "frame_indices": frames.tolist(),
            "num_source_frames": int(item["num_source_frames"]),
            "figure": None,
        }
        if head == "count":
            result["raw"] = float(y)
            result["count"] = int(model.predict(y.view(1))[0])
            shown = f"{result['count']} (raw {result['raw']:.2f})"
        else:
            probs = torch.softmax(y, dim=-1)
            order = torch.argsort(probs, descending=True)[: max(1, top_k)].tolist()
            names: List[str] = (
                [av.decode(i) for i in order] if head == "open" else [candidates[i] for i in order]
            )
            result["answers"] = [(n, float(probs[i])) for n, i in zip(names, order)]
            shown = f"{names[0]} ({float(probs[order[0]]):.2f})"
        if explain:
            result["figure"] = _draw(
                model, batch, explain, question, shown, candidates, thumbs, frames
            )
        if thumbnails:
            result["thumbnails"] = [np.asarray(t) for t in thumbs]
        return result


def _draw(model, batch, out, question, shown, candidates, thumbs, frames) -> str:
    """The attention picture of :mod:`mspan_pyg.analysis.explain` under a strip of the sampled
    frames' thumbnails, one per time step."""
    import tempfile

    from mspan_pyg.analysis.explain import explain_question
    from mspan_pyg.analysis.plots import pyplot

    plt = pyplot()
    with tempfile.TemporaryDirectory() as tmp:
        inner = os.path.join(tmp, "attention.png")
        explain_question(
            model, batch, 0, question=question, prediction=shown, candidates=candidates,
            frame_labels=[str(int(f)) for f in frames], out=inner,
        )  # fmt: skip
        picture = plt.imread(inner)
    n = len(thumbs)
    h, w = picture.shape[:2]
    fig = plt.figure(figsize=(w / 110, h / 110 + 1.4))
    strip = fig.add_axes([0.0, 1 - 1.2 / (h / 110 + 1.4), 1.0, 1.1 / (h / 110 + 1.4)])
    strip.imshow(np.concatenate(list(thumbs), axis=1))
    strip.set_axis_off()
    strip.set_title(f"the {n} sampled frames (source frame index on the axis below)", fontsize=8)
    body = fig.add_axes([0.0, 0.0, 1.0, 1 - 1.3 / (h / 110 + 1.4)])
    body.imshow(picture)
    body.set_axis_off()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out
