r"""Built-in synthetic video-QA data, written in the real on-disk formats.

The generators write exactly the files the real readers consume (docs/data.md), so every
code path — annotation parsing, feature loading, vocabularies, training — runs unchanged
on data that is small, fast to make and learnable in minutes on a CPU.

**What a video is.** A video is a sequence of *events*. Each event is one action (from
:data:`ACTIONS`) shown for a few consecutive frames; a frame's appearance feature is the
action's prototype vector plus a per-video scene offset plus noise. Its motion feature, like
that of a 3D CNN whose window reaches back over the neighbouring frames, is the action's motion
prototype scaled by the event's speed, plus a "coming from" prototype of the *previous* event's
action (on every frame of the event), plus, on the event's first frame only, the prototype of
the action *starting*, plus noise. Two consecutive events never show the same action, so an
event is a maximal run of equal frame labels.

Why motion looks like this: MSPAN's nodes carry no position and its graphs and pooling are
symmetric in time, so "after X" is only distinguishable from "before X" through features that
are themselves directional (as real motion features are). And its attention and read-out are
softmax-weighted averages, so a count is recoverable as the *fraction* of frames or clips with a
locally visible property (an action starting), not from frames of events of varying length.

**What the questions ask** (the question always names what to look for; no answer is
recoverable from the question text, the candidate order or the answer distribution):

- ``count``: "how many times does the man <action>?" — the number of events of that action
  (uniform in ``1..COUNT_MAX``); a *lure* action also repeats, so the question matters.
- ``action``: "what does the man do <k> times?" (5 candidates, ``k`` in 1..3) — the answer
  repeats ``k`` times, two lures repeat the other two of 1, 2, 3 times, two are absent.
- ``transition``: "what does the man do after <action>?" (5 candidates) — the action of the next
  event; two lures are other actions of the same video (the one *before* when there is one),
  two are absent.
- ``frameqa``: two objects flash for one frame each, each with a colour, a number and a
  location; the question names one of them (by object, or by colour for ``object`` questions)
  and asks for an attribute. Types object/number/color/location are equally frequent and the
  answers are uniform within a type.

The ground truth is stored beside the features in the ``/synthetic`` group of
``features.h5`` (``frame_action [V, N]``, ``frame_event [V, N]``, the prototypes, …), which
the real readers ignore and the tests use to re-derive every answer.

Example::

    >>> from mspan_pyg.data.synthetic import make_synthetic_tgif
    >>> paths = make_synthetic_tgif("data/synthetic_tgif", num_videos=500)
    >>> paths["features"], paths["annotations"][("count", "train")]
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import h5py
import numpy as np

from ..errors import ConfigError
from ..files import atomic_path
from ..tasks import TGIF_TASKS

__all__ = [
    "ACTIONS",
    "OBJECTS",
    "COLORS",
    "NUMBERS",
    "LOCATIONS",
    "ACTORS",
    "COUNT_MAX",
    "TGIF_HEADERS",
    "make_synthetic_tgif",
    "make_synthetic_videoqa",
]

ACTIONS: Tuple[str, ...] = (
    "jump",
    "wave",
    "run",
    "dance",
    "nod",
    "spin",
    "clap",
    "kick",
    "sit",
    "swim",
)
OBJECTS: Tuple[str, ...] = ("ball", "hat", "cup", "car", "kite", "flower")
COLORS: Tuple[str, ...] = ("red", "blue", "green", "yellow", "white", "black")
NUMBERS: Tuple[str, ...] = ("one", "two", "three", "four", "five")
LOCATIONS: Tuple[str, ...] = ("left", "right", "top", "bottom", "center")
ACTORS: Tuple[str, ...] = ("man", "woman", "child", "dog", "cat")
SUBJECTS: Tuple[str, ...] = ("man", "woman", "girl", "boy")
SPEEDS: Tuple[str, ...] = ("slowly", "quickly")
POSITIONS: Tuple[str, ...] = ("first", "middle", "last")
COUNT_MAX = 7

TGIF_HEADERS: Dict[str, Tuple[str, ...]] = {
    "action": ("gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "vid_id", "key"),
    "transition": ("gif_name", "question", "a1", "a2", "a3", "a4", "a5", "answer", "vid_id", "key"),
    "count": ("gif_name", "question", "answer", "vid_id", "key"),
    "frameqa": ("gif_name", "question", "answer", "type", "vid_id", "key", "description"),
}
#: the release's per-question ids are the task's prefix and a number: ACTION4, TRANS23, ...
TGIF_QUESTION_PREFIX: Dict[str, str] = {
    "action": "ACTION",
    "transition": "TRANS",
    "count": "COUNT",
    "frameqa": "FRAMEQA",
}

_FORMAT_VERSION = 2
# 3: vid_id names the question and key the GIF, as in the release (2 had them the other way)
_TGIF_FORMAT_VERSION = 3
_MANIFEST = "synthetic.json"


# ----------------------------------------------------------------------------------------
# Timelines: a video is a list of (action, duration) events covering exactly N frames.
# ----------------------------------------------------------------------------------------
def _layout(
    rng: np.random.Generator,
    num_frames: int,
    required: Sequence[int],
    protected: Iterable[int],
    dur: Tuple[int, int] = (1, 3),
    droppable: Sequence[int] = (),
) -> List[Tuple[int, int]]:
    """Arrange ``required`` events (action ids, any order) into ``num_frames`` frames.

    Distractor events (actions outside ``protected``) separate equal neighbours and fill the
    remaining frames, so that every action keeps exactly its required number of events.
    ``droppable`` actions lose all their events if the required ones cannot fit otherwise.
    """
    protected = set(int(a) for a in protected) | set(int(a) for a in required)
    pool = np.array([a for a in range(len(ACTIONS)) if a not in protected])
    req = [int(a) for a in required]
    while True:
        order = [req[i] for i in rng.permutation(len(req))]
        seps = sum(order[i] == order[i + 1] for i in range(len(order) - 1))
        if len(order) + seps <= num_frames:
            break
        if not droppable:  # reshuffle until the events fit (callers keep this feasible)
            continue
        drop, droppable = droppable[0], droppable[1:]
        req = [a for a in req if a != drop]

    def distractor(left: Optional[int], right: Optional[int]) -> int:
        choices = pool[(pool != left) & (pool != right)] if len(pool) > 2 else pool
        return int(rng.choice(choices))

    # events as [action, duration, is_required]
    events: List[List[int]] = []
    for a in order:
        if events and events[-1][0] == a:
            events.append([distractor(a, a), 1, 0])
        events.append([a, int(rng.integers(dur[0], dur[1] + 1)), 1])
    total = sum(e[1] for e in events)
    while total > num_frames:  # shorten the longest events first
        i = max(range(len(events)), key=lambda j: (events[j][1], rng.random()))
        events[i][1] -= 1
        total -= 1
    while total < num_frames:  # fill with distractors at random boundaries
        pos = int(rng.integers(0, len(events) + 1))
        left = events[pos - 1][0] if pos > 0 else None
        right = events[pos][0] if pos < len(events) else None
        d = min(int(rng.integers(1, 4)), num_frames - total)
        events.insert(pos, [distractor(left, right), d, 0])
        total += d
    return [(a, d) for a, d, _ in events]


def _frames(events: List[Tuple[int, int]]) -> Tuple[np.ndarray, np.ndarray]:
    """Per-frame action id and event index of a timeline."""
    actions = np.repeat([a for a, _ in events], [d for _, d in events])
    index = np.repeat(np.arange(len(events)), [d for _, d in events])
    return actions, index


def _num_events(frame_action: np.ndarray, action: int) -> int:
    """Number of maximal runs of ``action`` in a frame-label vector."""
    hit = frame_action == action
    return int(hit[0]) + int(np.sum(hit[1:] & ~hit[:-1]))


# ----------------------------------------------------------------------------------------
# Per-task question generators. Each returns (events, question fields, extra flash info).
# ----------------------------------------------------------------------------------------
def _shuffle_candidates(rng, answer: int, lures: List[int]) -> Tuple[List[int], int]:
    cands = [answer] + lures
    perm = rng.permutation(5)
    cands = [cands[i] for i in perm]
    return cands, int(np.argmax(perm == 0))


def _fill_lures(rng, lures: List[int], exclude: Iterable[int], n: int = 4) -> List[int]:
    exclude = set(exclude) | set(lures)
    rest = [a for a in range(len(ACTIONS)) if a not in exclude]
    return lures + [int(a) for a in rng.choice(rest, n - len(lures), replace=False)]


def _max_events(num_frames: int) -> int:
    """Most events of one action that fit (they need a distractor between each two)."""
    return min(COUNT_MAX, (num_frames + 1) // 2)


def _gen_count(rng, num_frames):
    target, lure = (int(a) for a in rng.choice(len(ACTIONS), 2, replace=False))
    c = int(rng.integers(1, _max_events(num_frames) + 1))
    c_lure = int(rng.integers(0, 4))
    events = _layout(
        rng, num_frames, [target] * c + [lure] * c_lure, [target, lure], droppable=[lure]
    )
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    q = f"how many times does the {subject} {ACTIONS[target]}?"
    return events, {"question": q, "answer": c}


def _gen_action(rng, num_frames):
    # five distinct candidates: the answer and two lures are done 1, 2 and 3 times (in some
    # order), two are absent; all are kept out of the distractor events. Only counting tells
    # the three present candidates apart.
    five = [int(a) for a in rng.choice(len(ACTIONS), 5, replace=False)]
    ans, l1, l2 = five[:3]
    k, k1, k2 = (int(x) + 1 for x in rng.permutation(3))
    required = [ans] * k + [l1] * k1 + [l2] * k2
    events = _layout(rng, num_frames, required, five)
    cands, idx = _shuffle_candidates(rng, ans, five[1:])
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    q = f"what does the {subject} do {k} times?"
    return events, {"question": q, "candidates": [ACTIONS[a] for a in cands], "answer": idx}


def _gen_transition(rng, num_frames):
    durs: List[int] = []
    while sum(durs) < num_frames:
        durs.append(int(rng.integers(2, 5)))  # 2..4 frames: at most N / 2 distinct events
    durs[-1] -= sum(durs) - num_frames
    if durs[-1] < 1:
        durs.pop()
        durs[-1] += num_frames - sum(durs)
    while len(durs) < 3:  # at least three events
        i = int(np.argmax(durs))
        durs[i : i + 1] = [durs[i] // 2, durs[i] - durs[i] // 2]
    acts = [int(a) for a in rng.choice(len(ACTIONS), len(durs), replace=False)]
    events = list(zip(acts, durs))
    x = int(rng.integers(0, len(events) - 1))
    ans = acts[x + 1]
    others = [a for i, a in enumerate(acts) if i not in (x, x + 1)]
    before = [acts[x - 1]] if x > 0 else []
    rest = [a for a in others if a not in before]
    rest = [rest[i] for i in rng.permutation(len(rest))]
    lures = (before + rest)[:2]  # two lures from the video (one is the event before), two absent
    cands, idx = _shuffle_candidates(rng, ans, _fill_lures(rng, lures, acts))
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    q = f"what does the {subject} do after {ACTIONS[acts[x]]}?"
    return events, {"question": q, "candidates": [ACTIONS[a] for a in cands], "answer": idx}


def _gen_frameqa(rng, num_frames):
    events = _layout(rng, num_frames, [], [], dur=(1, 4))
    objs = rng.choice(len(OBJECTS), 2, replace=False)
    cols = rng.choice(len(COLORS), 2, replace=False)
    nums = rng.integers(0, len(NUMBERS), 2)
    locs = rng.integers(0, len(LOCATIONS), 2)
    when = np.sort(rng.choice(num_frames, 2, replace=False))
    flash = np.stack([when, objs, cols, nums, locs], axis=1)  # [2, 5]
    which = int(rng.integers(2))
    qtype = int(rng.integers(4))
    o, c, n, l = (int(v) for v in flash[which, 1:])
    subject = SUBJECTS[rng.integers(len(SUBJECTS))]
    if qtype == 0:
        q, a = f"what {COLORS[c]} thing does the {subject} show?", OBJECTS[o]
    elif qtype == 1:
        q, a = f"how many {OBJECTS[o]}s are there?", NUMBERS[n]
    elif qtype == 2:
        q, a = f"what color is the {OBJECTS[o]}?", COLORS[c]
    else:
        q, a = f"where is the {OBJECTS[o]}?", LOCATIONS[l]
    desc = f"a {subject}: " + ", ".join(ACTIONS[e[0]] for e in events)
    return events, {"question": q, "answer": a, "type": qtype, "description": desc, "flash": flash}


_GENERATORS = {
    "count": _gen_count,
    "action": _gen_action,
    "transition": _gen_transition,
    "frameqa": _gen_frameqa,
}


# ----------------------------------------------------------------------------------------
# Features
# ----------------------------------------------------------------------------------------
class _Prototypes:
    """Random prototype vectors for every visual concept (fixed by the seed)."""

    def __init__(self, rng, appearance_dim: int, motion_dim: int):
        def unit(n, d):
            return rng.standard_normal((n, d)).astype(np.float32)

        self.action = unit(len(ACTIONS), appearance_dim)
        self.motion = unit(len(ACTIONS), max(motion_dim, 1))[:, :motion_dim]
        # "coming from" motion of an event: row a = after action a, the last row = the
        # video's first event (no action before it); and the start of each action, shown
        # by an event's first frame
        self.source = unit(len(ACTIONS) + 1, max(motion_dim, 1))[:, :motion_dim]
        self.onset = unit(len(ACTIONS), max(motion_dim, 1))[:, :motion_dim]
        self.object = unit(len(OBJECTS), appearance_dim)
        self.color = unit(len(COLORS), appearance_dim)
        self.number = unit(len(NUMBERS), appearance_dim)
        self.location = unit(len(LOCATIONS), appearance_dim)
        self.actor = unit(len(ACTORS), appearance_dim)

    def save(self, group: h5py.Group) -> None:
        for name in (
            "action",
            "motion",
            "source",
            "onset",
            "object",
            "color",
            "number",
            "location",
            "actor",
        ):
            group.create_dataset(f"{name}_prototypes", data=getattr(self, name))


def _previous_action(frame_action: np.ndarray, frame_event: np.ndarray) -> np.ndarray:
    """Per frame, the action of the previous event (``len(ACTIONS)`` in the first event)."""
    V, N = frame_action.shape
    onset = np.ones((V, N), bool)
    onset[:, 1:] = frame_event[:, 1:] != frame_event[:, :-1]
    before = np.full((V, N), len(ACTIONS), np.int64)
    before[:, 1:] = np.where(onset[:, 1:], frame_action[:, :-1], -1)
    before[:, 0] = len(ACTIONS)
    # carry each event's value forward over its frames
    idx = np.where(onset, np.arange(N), 0)
    idx = np.maximum.accumulate(idx, axis=1)
    return np.take_along_axis(before, idx, axis=1)


def _render(
    rng, protos: _Prototypes, frame_action, frame_event, speed, noise: float, scene_std: float = 0.5
):
    """Vectorised features: appearance [V, N, Da] and motion [V, N, Dm] (float32)."""
    V, N = frame_action.shape
    Da = protos.action.shape[1]
    Dm = protos.motion.shape[1]
    scene = scene_std * rng.standard_normal((V, 1, Da)).astype(np.float32)
    app = protos.action[frame_action] + scene
    app += noise * rng.standard_normal(app.shape).astype(np.float32)
    s = np.take_along_axis(speed, frame_event, axis=1)[..., None]  # [V, N, 1]
    mot = protos.motion[frame_action] * s
    # like a 3D CNN whose window reaches back into the previous event, an event's frames
    # also show the motion of "coming from" the previous event's action, and its first
    # frame shows the action starting: "after X" is not "before X", and the events of an
    # action can be counted (a fraction of the frames), whatever their durations
    source = _previous_action(frame_action, frame_event)
    onset = np.ones((V, N), bool)
    onset[:, 1:] = frame_event[:, 1:] != frame_event[:, :-1]
    mot += protos.source[source] + onset[..., None] * protos.onset[frame_action]
    mot += noise * rng.standard_normal((V, N, Dm)).astype(np.float32)
    return app, mot


# ----------------------------------------------------------------------------------------
# Writing (temporary names, then rename; a manifest marks a complete dataset)
# ----------------------------------------------------------------------------------------
def _outputs(out_dir: Path, annotations: dict):
    """What a generator returns, and the files a complete data set has."""
    result = {"data_dir": out_dir, "features": out_dir / "features.h5", "annotations": annotations}
    return result, ["features.h5"] + [p.name for p in annotations.values()]


def synthetic_params(
    kind: str,
    version: int,
    num_frames,
    appearance_dim,
    motion_dim,
    seed,
    noise,
    test_fraction,
    **extra,
) -> dict:
    """The parameters that identify a generated data set: a folder made with equal parameters
    is reused (:func:`_reuse`). ``extra`` holds the generator's own, already typed."""
    return dict(
        kind=kind,
        version=version,
        num_frames=int(num_frames),
        appearance_dim=int(appearance_dim),
        motion_dim=int(motion_dim),
        seed=int(seed),
        noise=float(noise),
        test_fraction=float(test_fraction),
        **extra,
    )


def _reuse(out_dir: Path, params: dict, files: List[str]) -> bool:
    manifest = out_dir / _MANIFEST
    if not manifest.is_file():
        return False
    try:
        stored = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return False
    return stored.get("params") == params and all((out_dir / f).is_file() for f in files)


def _write_manifest(out_dir: Path, params: dict, files: List[str]) -> None:
    with atomic_path(out_dir / _MANIFEST) as tmp:
        Path(tmp).write_text(
            json.dumps({"params": params, "files": files}, indent=1, sort_keys=True)
        )


def _write_h5(
    path: Path, ids, app, mot, truth: Dict[str, np.ndarray], protos: _Prototypes, dtype
) -> None:
    with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
        f.create_dataset("appearance", data=app.astype(dtype))
        if mot.shape[-1] > 0:
            f.create_dataset("motion", data=mot.astype(dtype))
        if isinstance(ids[0], str):
            f.create_dataset(
                "ids", data=np.array(ids, dtype=object), dtype=h5py.string_dtype("utf-8")
            )
        else:
            f.create_dataset("ids", data=np.asarray(ids, dtype=np.int64))
        g = f.create_group("synthetic")
        for name, value in truth.items():
            g.create_dataset(name, data=value)
        protos.save(g)


def _write_csv(path: Path, header: Sequence[str], rows: List[Sequence]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, delimiter="\t", lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


def _write_json(path: Path, obj) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj))


def _per_task(num_videos, tasks: Sequence[str]) -> Dict[str, int]:
    """``{task: videos}`` from one number or a mapping that must name every task."""
    if isinstance(num_videos, Mapping):
        missing = [t for t in tasks if t not in num_videos]
        if missing:
            raise ConfigError(f"num_videos names no count for task(s) {', '.join(missing)}")
        return {t: int(num_videos[t]) for t in tasks}
    return {t: int(num_videos) for t in tasks}


def _check(num_videos, num_frames, appearance_dim, motion_dim, test_fraction):
    if num_videos < 2:
        raise ConfigError(f"num_videos must be at least 2, got {num_videos}")
    if num_frames < 8:
        raise ConfigError(f"num_frames must be at least 8 (events need room), got {num_frames}")
    if appearance_dim < 1 or motion_dim < 0:
        raise ConfigError(
            f"appearance_dim must be >= 1 and motion_dim >= 0, got {appearance_dim}, {motion_dim}"
        )
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")


# ----------------------------------------------------------------------------------------
# Public API
# ----------------------------------------------------------------------------------------
def make_synthetic_tgif(
    out_dir,
    num_videos: Union[int, Mapping[str, int]] = 2500,
    num_frames: int = 16,
    appearance_dim: int = 64,
    motion_dim: int = 32,
    seed: int = 0,
    tasks: Sequence[str] = TGIF_TASKS,
    test_fraction: float = 0.2,
    noise: float = 0.5,
    dtype: str = "float16",
) -> dict:
    """Write a synthetic TGIF-QA dataset (docs/data.md) into ``out_dir``.

    Args:
        out_dir: folder to write into (created if needed).
        num_videos: videos *per task* (one number, or a ``{task: number}`` mapping that
            names every task); each video has one question, so this is also the number of
            questions per task (train + test).
        num_frames: frames per video ``N``.
        appearance_dim, motion_dim: feature sizes (``motion_dim=0``: no ``/motion``).
        seed: everything is a deterministic function of the arguments.
        tasks: any of ``"action", "transition", "count", "frameqa"``.
        test_fraction: share of each task's videos written to ``Test_*``.
        noise: standard deviation of the per-frame feature noise (prototypes have unit
            variance per dimension).
        dtype: ``"float16"`` or ``"float32"`` feature storage.

    Returns:
        ``{"data_dir": Path, "features": Path, "annotations": {(task, "train"|"test"): Path}}``.

    Files: ``{Train,Test}_{task}_question.csv`` (tab-separated, release headers),
    ``features.h5`` (``/appearance``, ``/motion``, ``/ids`` = gif names, plus the ground truth
    in ``/synthetic``) and ``synthetic.json`` (the parameters). When ``out_dir`` already holds a
    complete dataset made with the same parameters, nothing is regenerated.
    """
    tasks = tuple(tasks)
    unknown = [t for t in tasks if t not in TGIF_TASKS]
    if unknown or not tasks:
        raise ConfigError(
            f"unknown synthetic TGIF-QA task(s) {unknown or tasks}; "
            f"choose from {', '.join(TGIF_TASKS)}"
        )
    counts = _per_task(num_videos, tasks)
    for n in counts.values():
        _check(n, num_frames, appearance_dim, motion_dim, test_fraction)
    if dtype not in ("float16", "float32"):
        raise ConfigError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    out_dir = Path(out_dir)
    params = synthetic_params(
        "tgif",
        _TGIF_FORMAT_VERSION,
        num_frames,
        appearance_dim,
        motion_dim,
        seed,
        noise,
        test_fraction,
        num_videos=counts,
        tasks=list(tasks),
        dtype=dtype,
    )
    annotations = {
        (t, s): out_dir / f"{s.capitalize()}_{t}_question.csv"
        for t in tasks
        for s in ("train", "test")
    }
    result, files = _outputs(out_dir, annotations)
    if _reuse(out_dir, params, files):
        return result
    out_dir.mkdir(parents=True, exist_ok=True)

    protos = _Prototypes(np.random.default_rng(seed), appearance_dim, motion_dim)
    truth, ids, rows = _tgif_videos(tasks, counts, num_frames, seed, test_fraction)
    app, mot = _render_tgif(np.random.default_rng([seed, 0]), protos, truth, noise)
    _write_h5(result["features"], ids, app, mot, truth, protos, dtype)
    for (task, split), path in annotations.items():
        _write_csv(path, TGIF_HEADERS[task], rows[(task, split)])
    _write_manifest(out_dir, params, files)
    return result


def _tgif_videos(tasks, counts: Dict[str, int], num_frames: int, seed: int, test_fraction):
    """The videos' ground truth (frame actions and events, flashed objects), their gif names
    and the question rows of each (task, split)."""
    V = sum(counts.values())
    frame_action = np.zeros((V, num_frames), np.int64)
    frame_event = np.zeros((V, num_frames), np.int64)
    flash = np.full((V, 2, 5), -1, np.int64)  # frame, object, color, number, location
    ids: List[str] = []
    rows: Dict[Tuple[str, str], List[list]] = {(t, s): [] for t in tasks for s in ("train", "test")}
    v = 0
    for t, task in enumerate(tasks):
        task_rng = np.random.default_rng([seed, t + 1])
        count = counts[task]
        num_test = max(1, int(round(count * test_fraction)))
        test_ids = set(task_rng.choice(count, num_test, replace=False).tolist())
        for i in range(count):
            events, qa = _GENERATORS[task](task_rng, num_frames)
            frame_action[v], frame_event[v] = _frames(events)
            gif = f"synthetic_{task}_{i:06d}"
            ids.append(gif)
            split = "test" if i in test_ids else "train"
            # as in the release: vid_id names the question, key (from 1) the GIF
            vid_id, key = f"{TGIF_QUESTION_PREFIX[task]}{i + 1}", v + 1
            if task == "count":
                row = [gif, qa["question"], qa["answer"], vid_id, key]
            elif task == "frameqa":
                flash[v] = qa["flash"]
                row = [gif, qa["question"], qa["answer"], qa["type"], vid_id, key]
                row.append(qa["description"])
            else:
                row = [gif, qa["question"], *qa["candidates"], qa["answer"], vid_id, key]
            rows[(task, split)].append(row)
            v += 1
    truth = {"frame_action": frame_action, "frame_event": frame_event, "flash": flash}
    return truth, ids, rows


def _render_tgif(rng, protos: "_Prototypes", truth: Dict[str, np.ndarray], noise: float):
    """Features of the videos in ``truth`` (which gains the event speeds; stored as int16)."""
    frame_action, frame_event, flash = truth["frame_action"], truth["frame_event"], truth["flash"]
    V, num_frames = frame_action.shape
    speed = rng.uniform(0.5, 1.5, (V, num_frames)).astype(np.float32)
    app, mot = _render(rng, protos, frame_action, frame_event, speed, noise)
    has = flash[:, :, 0] >= 0  # add the flashed objects' attributes to their frame
    vv, kk = np.nonzero(has)
    f = flash[vv, kk]
    app[vv, f[:, 0]] += (
        protos.object[f[:, 1]]
        + protos.color[f[:, 2]]
        + protos.number[f[:, 3]]
        + protos.location[f[:, 4]]
    )
    truth.update(
        frame_action=frame_action.astype(np.int16),
        frame_event=frame_event.astype(np.int16),
        event_speed=speed,
        flash=flash.astype(np.int16),
    )
    return app, mot


def _gen_videoqa(rng, num_frames, questions_per_video):
    """One video for MSVD/MSRVTT-style QA: 3..5 events, distinct actions and actors."""
    m = int(rng.integers(3, 6))
    cuts = np.sort(rng.choice(np.arange(1, num_frames), m - 1, replace=False))
    durs = np.diff(np.concatenate([[0], cuts, [num_frames]])).tolist()
    acts = [int(a) for a in rng.choice(len(ACTIONS), m, replace=False)]
    actors = [int(a) for a in rng.choice(len(ACTORS), m, replace=False)]
    speed = rng.integers(0, 2, m)  # 0 = slowly, 1 = quickly
    flash_frame = int(rng.integers(num_frames))
    obj, loc = int(rng.integers(len(OBJECTS))), int(rng.integers(len(LOCATIONS)))
    qas = []
    for qtype in rng.choice(5, questions_per_video, replace=False):
        if qtype == 3:  # when: pick the answer first so that it is uniform
            pos = int(rng.integers(3))
            e = 0 if pos == 0 else m - 1 if pos == 2 else int(rng.integers(1, m - 1))
        else:
            e = int(rng.integers(m))
        actor, act = ACTORS[actors[e]], ACTIONS[acts[e]]
        if qtype == 0:
            q, a = f"what does the {actor} do?", act
        elif qtype == 1:
            q, a = f"who does the {act}?", actor
        elif qtype == 2:
            q, a = f"how does the {actor} {act}?", SPEEDS[speed[e]]
        elif qtype == 3:
            q, a = f"when does the {actor} {act}?", POSITIONS[pos]
        else:
            q, a = f"where is the {OBJECTS[obj]}?", LOCATIONS[loc]
        qas.append((q, a))
    return list(zip(acts, durs)), actors, speed, (flash_frame, obj, loc), qas


def make_synthetic_videoqa(
    out_dir,
    num_videos: int = 1500,
    num_frames: int = 16,
    appearance_dim: int = 64,
    motion_dim: int = 32,
    seed: int = 0,
    questions_per_video: int = 3,
    val_fraction: float = 0.1,
    test_fraction: float = 0.2,
    noise: float = 0.5,
    dtype: str = "float16",
) -> dict:
    """Write a synthetic MSVD-QA / MSRVTT-QA style dataset (docs/data.md).

    Each video is 3..5 events (distinct actions, each done by a distinct actor whose
    prototype is added to the event's frames, at a slow or quick motion speed) and one
    flashed object at a location. Questions start with what / who / how / when / where
    (``questions_per_video`` distinct kinds per video, at most 5):
    "what does the <actor> do?", "who does the <action>?", "how does the <actor> <action>?"
    (slowly/quickly, from motion), "when does the <actor> <action>?" (first/middle/last),
    "where is the <object>?".

    Returns ``{"data_dir", "features", "annotations": {"train"|"val"|"test": Path}}``; writes
    ``{train,val,test}_qa.json`` (lists of ``{"question", "answer", "video_id", "id"}``) and
    ``features.h5`` with int64 ``/ids``; reuses a complete dataset with the same parameters.
    """
    _check(num_videos, num_frames, appearance_dim, motion_dim, test_fraction)
    if not 1 <= questions_per_video <= 5:
        raise ConfigError(f"questions_per_video must be in 1..5, got {questions_per_video}")
    if not 0.0 <= val_fraction < 1.0 - test_fraction:
        raise ConfigError(f"val_fraction must be in [0, 1 - test_fraction), got {val_fraction}")
    if dtype not in ("float16", "float32"):
        raise ConfigError(f"dtype must be 'float16' or 'float32', got {dtype!r}")
    out_dir = Path(out_dir)
    params = synthetic_params(
        "videoqa",
        _FORMAT_VERSION,
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
    annotations = {s: out_dir / f"{s}_qa.json" for s in ("train", "val", "test")}
    result, files = _outputs(out_dir, annotations)
    if _reuse(out_dir, params, files):
        return result
    out_dir.mkdir(parents=True, exist_ok=True)

    rng = np.random.default_rng([seed, 100])
    protos = _Prototypes(rng, appearance_dim, motion_dim)
    V = num_videos
    frame_action = np.zeros((V, num_frames), np.int64)
    frame_event = np.zeros((V, num_frames), np.int64)
    frame_actor = np.zeros((V, num_frames), np.int64)
    speed = np.zeros((V, num_frames), np.float32)
    flash = np.zeros((V, 3), np.int64)  # frame, object, location
    split_of = rng.permutation(V)
    n_test = max(1, int(round(V * test_fraction)))
    n_val = int(round(V * val_fraction))
    splits = {"test": [], "val": [], "train": []}
    video_ids = (1000 + np.arange(V)).astype(np.int64)
    qid = 0
    for v in range(V):
        events, actors, spd, fl, qas = _gen_videoqa(rng, num_frames, questions_per_video)
        frame_action[v], frame_event[v] = _frames(events)
        frame_actor[v] = np.asarray(actors)[frame_event[v]]
        speed[v, : len(spd)] = np.where(spd == 1, 1.5, 0.5)
        flash[v] = fl
        rank = split_of[v]
        split = "test" if rank < n_test else "val" if rank < n_test + n_val else "train"
        for q, a in qas:
            splits[split].append(
                {"question": q, "answer": a, "video_id": int(video_ids[v]), "id": qid}
            )
            qid += 1

    render_rng = np.random.default_rng([seed, 101])
    app, mot = _render(render_rng, protos, frame_action, frame_event, speed, noise)
    app += 0.8 * protos.actor[frame_actor]
    app[np.arange(V), flash[:, 0]] += protos.object[flash[:, 1]] + protos.location[flash[:, 2]]
    truth = {
        "frame_action": frame_action.astype(np.int16),
        "frame_event": frame_event.astype(np.int16),
        "frame_actor": frame_actor.astype(np.int16),
        "event_speed": speed,
        "flash": flash.astype(np.int16),
    }
    _write_h5(result["features"], video_ids, app, mot, truth, protos, dtype)
    for split, path in annotations.items():
        _write_json(path, splits[split])
    _write_manifest(out_dir, params, files)
    return result
