"""Built-in synthetic ActivityNet-QA data, written in the release's own files.

Writes ``{train,val,test}_q.json`` / ``{train,val,test}_a.json`` (the release's keys) and
``features.h5`` with string ids (``video_name``). A video is a timeline of 3..5 events (distinct
actions, each by a distinct actor, slowly or quickly) in a place, with one object shown for
three frames with a colour, a number and a location. Questions cover the nine types:

=========  ===========================================  ==============================
type       question                                     answer
=========  ===========================================  ==============================
motion     what does the <actor> do                     an action
spatial    where is the <object>                        a location
temporal   what does the <actor> do after <action>      the next action
yes_no     does the <actor> <action>                    yes / no (half each)
color      what color is the <object>                   a colour
object     what appears on the screen                   an object
location   where is this                                a place
number     how many <object>s are there                 a number word
other      who does the <action>                        an actor
=========  ===========================================  ==============================
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict

import numpy as np

from ..errors import ConfigError
from . import synthetic as S
from .activitynet import ACTIVITYNET_TYPES

PLACES = ("park", "kitchen", "beach", "street", "gym")
_VERSION = 3


def _video(rng, num_frames: int, questions_per_video: int):
    m = int(rng.integers(3, len(S.ACTORS) + 1))  # distinct actors: "who"/"what does" are unique
    cuts = np.sort(rng.choice(np.arange(1, num_frames), m - 1, replace=False))
    durs = np.diff(np.concatenate([[0], cuts, [num_frames]])).tolist()
    acts = rng.choice(len(S.ACTIONS), m, replace=False).tolist()
    actors = rng.choice(len(S.ACTORS), m, replace=False).tolist()
    place = int(rng.integers(len(PLACES)))
    flash = np.array(
        [
            int(rng.integers(num_frames)),
            int(rng.integers(len(S.OBJECTS))),
            int(rng.integers(len(S.COLORS))),
            int(rng.integers(len(S.NUMBERS))),
            int(rng.integers(len(S.LOCATIONS))),
        ]
    )
    obj = S.OBJECTS[flash[1]]
    qas = []
    for t in rng.choice(len(ACTIVITYNET_TYPES), questions_per_video, replace=False).tolist():
        e = int(rng.integers(m))
        actor, act = S.ACTORS[actors[e]], S.ACTIONS[acts[e]]
        if t == 0:
            q, a = f"what does the {actor} do", act
        elif t == 1:
            q, a = f"where is the {obj}", S.LOCATIONS[flash[4]]
        elif t == 2:
            e = int(rng.integers(m - 1))
            q, a = f"what happens after the {S.ACTIONS[acts[e]]}", S.ACTIONS[acts[e + 1]]
        elif t == 3:
            yes = bool(rng.integers(2))
            shown = (
                acts[e] if yes else rng.choice([x for x in range(len(S.ACTIONS)) if x not in acts])
            )
            q, a = f"is there a {S.ACTIONS[int(shown)]} in the video", "yes" if yes else "no"
        elif t == 4:
            q, a = f"what color is the {obj}", S.COLORS[flash[2]]
        elif t == 5:
            q, a = "what appears on the screen", obj
        elif t == 6:
            q, a = "where is this", PLACES[place]
        elif t == 7:
            q, a = f"how many {obj}s are there", S.NUMBERS[flash[3]]
        else:
            q, a = f"who does the {act}", actor
        qas.append((q, a, t))
    return list(zip(acts, durs)), actors, place, flash, qas


def make_synthetic_activitynet(
    out_dir,
    num_videos: int = 1500,
    num_frames: int = 16,
    appearance_dim: int = 64,
    motion_dim: int = 32,
    seed: int = 0,
    questions_per_video: int = 4,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    noise: float = 0.5,
    dtype: str = "float16",
) -> Dict[str, Path]:
    """Write a synthetic ActivityNet-QA release into ``out_dir``.

    Returns ``{"data_dir", "features"}``. Questions are the nine types above
    (``questions_per_video`` distinct types per video); video names are unique
    YouTube-like strings. A complete folder made with the same parameters is reused.
    """
    S._check(num_videos, num_frames, appearance_dim, motion_dim, test_fraction)
    if not 1 <= questions_per_video <= len(ACTIVITYNET_TYPES):
        raise ConfigError(f"questions_per_video must be in 1..9, got {questions_per_video}")
    if not 0.0 < val_fraction < 1.0 - test_fraction:
        raise ConfigError(f"val_fraction must be in (0, 1 - test_fraction), got {val_fraction}")
    out_dir = Path(out_dir)
    params = S.synthetic_params(
        "activitynet",
        _VERSION,
        num_frames,
        appearance_dim,
        motion_dim,
        seed,
        noise,
        test_fraction,
        num_videos=int(num_videos),
        questions_per_video=int(questions_per_video),
        val_fraction=float(val_fraction),
        dtype=dtype,
    )
    splits = ("train", "val", "test")
    files = ["features.h5"] + [f"{s}_{k}.json" for s in splits for k in ("q", "a")]
    result = {"data_dir": out_dir, "features": out_dir / "features.h5"}
    if S._reuse(out_dir, params, files):
        return result
    out_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng([seed, 300])
    protos = S._Prototypes(rng, appearance_dim, motion_dim)
    place_protos = rng.standard_normal((len(PLACES), appearance_dim)).astype(np.float32)
    V = num_videos
    frame_action = np.zeros((V, num_frames), np.int64)
    frame_event = np.zeros((V, num_frames), np.int64)
    frame_actor = np.zeros((V, num_frames), np.int64)
    place = np.zeros(V, np.int64)
    flash = np.zeros((V, 5), np.int64)
    speed = np.ones((V, num_frames), np.float32)
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"))
    names = ["v_" + "".join(rng.choice(alphabet, 11)) + f"{v:05d}" for v in range(V)]
    rank = rng.permutation(V)
    n_test = max(1, int(round(V * test_fraction)))
    n_val = max(1, int(round(V * val_fraction)))
    out = {s: ([], []) for s in splits}
    for v in range(V):
        events, actors, place[v], flash[v], qas = _video(rng, num_frames, questions_per_video)
        frame_action[v], frame_event[v] = S._frames(events)
        frame_actor[v] = np.asarray(actors)[frame_event[v]]
        split = "test" if rank[v] < n_test else "val" if rank[v] < n_test + n_val else "train"
        for i, (q, a, t) in enumerate(qas):
            qid = f"{names[v]}_{i}"
            out[split][0].append({"video_name": names[v], "question": q, "question_id": qid})
            out[split][1].append({"answer": a, "type": t, "question_id": qid})
    render_rng = np.random.default_rng([seed, 301])
    app, mot = S._render(render_rng, protos, frame_action, frame_event, speed, noise)
    app += 0.8 * protos.actor[frame_actor] + 0.8 * place_protos[place][:, None, :]
    shown = (
        protos.object[flash[:, 1]]
        + protos.color[flash[:, 2]]
        + protos.number[flash[:, 3]]
        + protos.location[flash[:, 4]]
    )
    for step in range(3):  # the object stays on screen for three frames (fewer at the end)
        on = flash[:, 0] + step < num_frames
        app[np.nonzero(on)[0], flash[on, 0] + step] += shown[on]
    truth = {
        "frame_action": frame_action.astype(np.int16),
        "frame_actor": frame_actor.astype(np.int16),
        "place": place.astype(np.int16),
        "flash": flash.astype(np.int16),
    }
    S._write_h5(result["features"], names, app, mot, truth, protos, dtype)
    for s in splits:
        S._write_json(out_dir / f"{s}_q.json", out[s][0])
        S._write_json(out_dir / f"{s}_a.json", out[s][1])
    S._write_manifest(out_dir, params, files)
    return result
