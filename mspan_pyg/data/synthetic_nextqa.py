"""Built-in synthetic NExT-QA data, written in the release's own files.

Writes ``train.csv`` / ``val.csv`` / ``test.csv`` (the release's columns), ``map_vid_vidorID.json``
and the official feature files ``app_mot_{train,val,test}.h5`` (``/ids``, ``/feat`` with
appearance then motion columns), so a run goes through the same reader and the same
``convert-features nextqa`` step as the real data. Videos are the event timelines of
:mod:`mspan_pyg.data.synthetic` (one question per video); the question types ask:

- CW "why does the <subject> stop <X>?" -> the action that follows X (it interrupts X);
- CH "how does the <subject> <X>?" -> slowly / quickly (from the motion's magnitude; three
  other adverbs are never right);
- TN "what does the <subject> do after <X>?" / TP "... before <X>?" -> the next / previous
  action; one lure is the action on the other side of X (when there is one), three are
  actions absent from the video;
- TC "what does the <subject> do when the <object> appears?" -> the action on the frame where
  the object flashes;
- DC "how many times does the <subject> <X>?" -> one..five;
- DL "where is the <object>?" -> one of five locations; DO "what color is the <object>?".

No answer is recoverable from the question or the candidates alone (answers are uniform over
the candidates' positions and, within a type, over their values).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Tuple

import h5py
import numpy as np

from ..errors import ConfigError
from ..files import atomic_open, atomic_path, write_json
from . import synthetic as S

NEXTQA_CSV_HEADER = (
    "video",
    "frame_count",
    "width",
    "height",
    "question",
    "answer",
    "qid",
    "type",
    "a0",
    "a1",
    "a2",
    "a3",
    "a4",
)
#: share of each raw type among the generated questions
TYPE_SHARES: Dict[str, float] = {
    "CW": 0.25,
    "CH": 0.08,
    "TN": 0.2,
    "TP": 0.1,
    "TC": 0.15,
    "DC": 0.07,
    "DL": 0.07,
    "DO": 0.08,
}
ADVERBS = ("slowly", "quickly", "loudly", "sadly", "carefully")
_VERSION = 2


def _sequence(rng, num_frames: int, min_events: int = 3) -> List[Tuple[int, int]]:
    """Distinct actions covering ``num_frames`` frames, at most 6 events (each at least
    ``ceil(N / 6)`` frames), so that four actions are always absent from the video."""
    shortest = max(2, -(-num_frames // 6))
    durs: List[int] = []
    while sum(durs) < num_frames:
        durs.append(int(rng.integers(shortest, shortest + 3)))
    durs[-1] -= sum(durs) - num_frames
    if durs[-1] < 1:
        durs.pop()
        durs[-1] += num_frames - sum(durs)
    while len(durs) < min_events:
        i = int(np.argmax(durs))
        durs[i : i + 1] = [durs[i] // 2, durs[i] - durs[i] // 2]
    acts = rng.choice(len(S.ACTIONS), len(durs), replace=False).tolist()
    return list(zip(acts, durs))


def _choice(rng, answer: str, lures: List[str]) -> Tuple[List[str], int]:
    cands = [answer] + lures[:4]
    perm = rng.permutation(5)
    return [cands[i] for i in perm], int(np.argmax(perm == 0))


def _action_lures(rng, video_actions: List[int], answer: int, first: List[int]) -> List[str]:
    """Four lures: one other action of the video (``first`` when given: the event on the other
    side, so that the direction matters), then three absent actions."""
    lures = [a for a in first if a != answer][:1]
    rest = [a for a in video_actions if a not in lures and a != answer]
    rng.shuffle(rest)
    lures += rest[: 1 - len(lures)]
    absent = [a for a in range(len(S.ACTIONS)) if a not in video_actions]
    lures += rng.choice(absent, 4 - len(lures), replace=False).tolist()
    return [S.ACTIONS[a] for a in lures]


def _question(rng, qtype: str, num_frames: int):
    """(events, per-event speed, flash [frame, object, color, number, location] or None,
    question, candidates, answer index)."""
    subject = S.SUBJECTS[rng.integers(len(S.SUBJECTS))]
    flash = None
    if qtype == "DC":
        target = int(rng.integers(len(S.ACTIONS)))
        c = int(rng.integers(1, min(5, S._max_events(num_frames)) + 1))
        events = S._layout(rng, num_frames, [target] * c, [target])
        q = f"how many times does the {subject} {S.ACTIONS[target]}"
        cands, idx = _choice(rng, S.NUMBERS[c - 1], [n for n in S.NUMBERS if n != S.NUMBERS[c - 1]])
        speed = rng.uniform(0.5, 1.5, len(events))
        return events, speed, flash, q, cands, idx
    events = _sequence(rng, num_frames)
    acts = [a for a, _ in events]
    speed = rng.uniform(0.5, 1.5, len(events))
    if qtype in ("TC", "DL", "DO"):
        obj, col = int(rng.integers(len(S.OBJECTS))), int(rng.integers(len(S.COLORS)))
        num, loc = int(rng.integers(len(S.NUMBERS))), int(rng.integers(len(S.LOCATIONS)))
        flash = np.array([int(rng.integers(num_frames)), obj, col, num, loc])
    if qtype in ("CW", "TN", "TP"):
        if qtype == "TP":
            x = int(rng.integers(1, len(acts)))
            ans, near = acts[x - 1], acts[x + 1 : x + 2]
            q = f"what does the {subject} do before {S.ACTIONS[acts[x]]}"
        else:
            x = int(rng.integers(0, len(acts) - 1))
            ans, near = acts[x + 1], acts[max(x - 1, 0) : x] if x > 0 else []
            q = (
                f"why does the {subject} stop {S.ACTIONS[acts[x]]}"
                if qtype == "CW"
                else f"what does the {subject} do after {S.ACTIONS[acts[x]]}"
            )
        cands, idx = _choice(rng, S.ACTIONS[ans], _action_lures(rng, acts, ans, list(near)))
    elif qtype == "CH":
        e = int(rng.integers(len(acts)))
        quick = int(rng.integers(2))
        speed[e] = 1.5 if quick else 0.5
        q = f"how does the {subject} {S.ACTIONS[acts[e]]}"
        cands, idx = _choice(rng, ADVERBS[quick], [a for a in ADVERBS if a != ADVERBS[quick]])
    elif qtype == "TC":
        frame = int(flash[0])
        e = int(np.repeat(np.arange(len(events)), [d for _, d in events])[frame])
        q = f"what does the {subject} do when the {S.OBJECTS[flash[1]]} appears"
        cands, idx = _choice(rng, S.ACTIONS[acts[e]], _action_lures(rng, acts, acts[e], []))
    elif qtype == "DL":
        q = f"where is the {S.OBJECTS[flash[1]]}"
        right = S.LOCATIONS[flash[4]]
        cands, idx = _choice(rng, right, [x for x in S.LOCATIONS if x != right])
    elif qtype == "DO":
        q = f"what color is the {S.OBJECTS[flash[1]]}"
        right = S.COLORS[flash[2]]
        others = [x for x in S.COLORS if x != right]
        cands, idx = _choice(rng, right, rng.permutation(others).tolist())
    else:
        raise ConfigError(f"unknown NExT-QA type {qtype!r}")
    return events, speed, flash, q, cands, idx


def make_synthetic_nextqa(
    out_dir,
    num_videos: int = 3000,
    num_frames: int = 16,
    appearance_dim: int = 64,
    motion_dim: int = 32,
    seed: int = 0,
    val_fraction: float = 0.15,
    test_fraction: float = 0.1,
    noise: float = 0.5,
) -> dict:
    """Write a synthetic NExT-QA release into ``out_dir`` (one question per video).

    Returns ``{"data_dir", "map", "feature_files": {split: app_mot_{split}.h5}}``. ``feat`` has
    ``appearance_dim + motion_dim`` columns (convert with ``appearance_dim=``); video ids are
    10-digit integers as in the release. A complete folder made with the same parameters is
    reused as it is.
    """
    S._check(num_videos, num_frames, appearance_dim, motion_dim, test_fraction)
    if motion_dim < 1:
        raise ConfigError("NExT-QA features have motion columns: motion_dim must be >= 1")
    if not 0.0 < val_fraction < 1.0 - test_fraction:
        raise ConfigError(f"val_fraction must be in (0, 1 - test_fraction), got {val_fraction}")
    out_dir = Path(out_dir)
    params = S.synthetic_params(
        "nextqa",
        _VERSION,
        num_frames,
        appearance_dim,
        motion_dim,
        seed,
        noise,
        test_fraction,
        num_videos=int(num_videos),
        val_fraction=float(val_fraction),
    )
    splits = ("train", "val", "test")
    files = [f"{s}.csv" for s in splits] + [f"app_mot_{s}.h5" for s in splits]
    files.append("map_vid_vidorID.json")
    result = {
        "data_dir": out_dir,
        "map": out_dir / "map_vid_vidorID.json",
        "feature_files": {s: out_dir / f"app_mot_{s}.h5" for s in splits},
    }
    if S._reuse(out_dir, params, files):
        return result
    out_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng([seed, 200])
    protos = S._Prototypes(rng, appearance_dim, motion_dim)
    types = list(TYPE_SHARES)
    shares = np.array([TYPE_SHARES[t] for t in types])
    V = num_videos
    frame_action = np.zeros((V, num_frames), np.int64)
    frame_event = np.zeros((V, num_frames), np.int64)
    speed = np.ones((V, num_frames), np.float32)
    flash = np.full((V, 5), -1, np.int64)
    rows = []
    for v in range(V):
        qtype = types[int(rng.choice(len(types), p=shares / shares.sum()))]
        events, spd, fl, q, cands, idx = _question(rng, qtype, num_frames)
        frame_action[v], frame_event[v] = S._frames(events)
        speed[v, : len(spd)] = spd
        if fl is not None:
            flash[v] = fl
        rows.append([q, idx, 0, qtype, *cands])
    render_rng = np.random.default_rng([seed, 201])
    app, mot = S._render(render_rng, protos, frame_action, frame_event, speed, noise)
    has = np.nonzero(flash[:, 0] >= 0)[0]
    f = flash[has]
    app[has, f[:, 0]] += (
        protos.object[f[:, 1]]
        + protos.color[f[:, 2]]
        + protos.number[f[:, 3]]
        + protos.location[f[:, 4]]
    )
    feat = np.concatenate([app, mot], axis=2).astype(np.float32)

    videos = 4000000000 + np.arange(V, dtype=np.int64) * 7919  # 10-digit ids like the release
    rank = rng.permutation(V)
    n_test = max(1, int(round(V * test_fraction)))
    n_val = max(1, int(round(V * val_fraction)))
    split_of = np.where(rank < n_test, 2, np.where(rank < n_test + n_val, 1, 0))
    for k, split in enumerate(splits):
        members = np.nonzero(split_of == k)[0]
        with atomic_open(out_dir / f"{split}.csv", "w", newline="", encoding="utf-8") as fh:
            fh.write(",".join(NEXTQA_CSV_HEADER) + "\n")
            for v in members:
                fields = [videos[v], num_frames * 30, 640, 480, *rows[v]]
                fh.write(",".join(str(x) for x in fields) + "\n")
        with atomic_path(out_dir / f"app_mot_{split}.h5") as tmp, h5py.File(tmp, "w") as h5:
            h5.create_dataset("ids", data=videos[members])
            h5.create_dataset("feat", data=feat[members])
    video_map = {str(int(v)): f"{int(v) % 97:04d}/{int(v)}" for v in videos}
    S._write_json(out_dir / "map_vid_vidorID.json", video_map)
    S._write_manifest(out_dir, params, files)
    return result


def prepare_synthetic_nextqa(out_dir, features_path=None, **kwargs) -> Dict[str, str]:
    """:func:`make_synthetic_nextqa` followed by ``convert_nextqa`` of its three feature files
    into one store (``out_dir/features.h5``); returns ``{"data_dir", "features"}``."""
    from .features import convert_nextqa

    made = make_synthetic_nextqa(out_dir, **kwargs)
    features = Path(features_path or Path(out_dir) / "features.h5")
    stamp = features.with_suffix(".json")
    params = json.loads((Path(out_dir) / S._MANIFEST).read_text())["params"]
    if not (features.is_file() and stamp.is_file() and json.loads(stamp.read_text()) == params):
        convert_nextqa(
            [made["feature_files"][s] for s in ("train", "val", "test")],
            features,
            appearance_dim=params["appearance_dim"],
        )
        write_json(stamp, params, indent=None)
    return {"data_dir": str(Path(out_dir).resolve()), "features": str(features.resolve())}
