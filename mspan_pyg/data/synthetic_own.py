"""Built-in own-question files (docs/datasets.md, "Your own questions").

The own-questions format has no release to imitate, so the built-in copy is made from other
built-in videos: multiple-choice and open-ended questions from the synthetic NExT-QA videos
(the candidates, or the right candidate's text as the answer, with NExT-QA's question types),
counting questions from the synthetic TGIF-QA count task. The files are JSON lines
(``train.jsonl``, ``test.jsonl``; no ``val``, so the run holds out training videos).
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict

from ..errors import ConfigError
from ..files import atomic_open
from ..tasks import HEADS


def _own_item(record, head: str) -> Dict[str, Any]:
    item: Dict[str, Any] = {"video_id": record.video_id, "question": record.question}
    if head == "multichoice":
        item.update(answer=record.answer, candidates=record.candidates, type=record.qtype)
    elif head == "open":
        item.update(answer=record.candidates[record.answer], type=record.qtype)
    else:
        item.update(answer=record.answer)
    return item


def make_synthetic_own(
    out_dir,
    head: str = "multichoice",
    num_videos: int = 2000,
    num_frames: int = 16,
    appearance_dim: int = 64,
    motion_dim: int = 32,
    seed: int = 0,
) -> Dict[str, str]:
    """Write own-question files for ``head`` into ``out_dir/own_<head>``; returns
    ``{"data_dir", "features"}``. Files that already hold the same questions are left as they
    are, so every process of a distributed run may call it."""
    if head not in HEADS:
        raise ConfigError(f"unknown head {head!r}; valid: {', '.join(HEADS)}")
    kw = dict(
        num_videos=num_videos,
        num_frames=num_frames,
        appearance_dim=appearance_dim,
        motion_dim=motion_dim,
        seed=seed,
    )
    if head == "count":
        from .annotations import read_tgif_csv
        from .synthetic import make_synthetic_tgif

        made = make_synthetic_tgif(
            os.path.join(out_dir, "tgif_count"),
            tasks=["count"],
            **dict(kw, num_videos={"count": num_videos}),
        )
        rows = {
            s: read_tgif_csv(made["annotations"][("count", s)], "count") for s in ("train", "test")
        }
    else:
        from .nextqa import read_nextqa
        from .synthetic_nextqa import prepare_synthetic_nextqa

        made = prepare_synthetic_nextqa(os.path.join(out_dir, "nextqa"), **kw)
        rows = {s: read_nextqa(made["data_dir"], s) for s in ("train", "test")}
    own_dir = os.path.join(out_dir, f"own_{head}")
    os.makedirs(own_dir, exist_ok=True)
    for split, records in rows.items():
        path = os.path.join(own_dir, f"{split}.jsonl")
        text = "".join(json.dumps(_own_item(r, head)) + "\n" for r in records)
        if os.path.isfile(path):
            with open(path, encoding="utf-8") as f:
                if f.read() == text:
                    continue
        with atomic_open(path, "w", encoding="utf-8") as f:
            f.write(text)
    return {"data_dir": os.path.abspath(own_dir), "features": os.path.abspath(made["features"])}
