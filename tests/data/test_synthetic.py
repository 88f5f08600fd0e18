import csv
import json
import os
from collections import Counter, defaultdict

import h5py
import numpy as np
import pytest

from mspan_pyg.data.synthetic import (
    ACTIONS,
    COLORS,
    COUNT_MAX,
    LOCATIONS,
    NUMBERS,
    OBJECTS,
    TGIF_HEADERS,
    TGIF_TASKS,
    make_synthetic_tgif,
    make_synthetic_videoqa,
)
from mspan_pyg.errors import ConfigError

NUM_VIDEOS = 400


@pytest.fixture(scope="module")
def tgif(tmp_path_factory):
    return make_synthetic_tgif(tmp_path_factory.mktemp("tgif"), num_videos=NUM_VIDEOS, seed=3)


@pytest.fixture(scope="module")
def videoqa(tmp_path_factory):
    return make_synthetic_videoqa(tmp_path_factory.mktemp("videoqa"), num_videos=300, seed=3)


def read_rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f, delimiter="\t"))
    return rows[0], [dict(zip(rows[0], r)) for r in rows[1:]], rows[1:]


def runs(labels, action):
    hit = np.asarray(labels) == action
    return int(hit[0]) + int(np.sum(hit[1:] & ~hit[:-1]))


def test_files_and_exact_headers(tgif):
    for task in TGIF_TASKS:
        total = 0
        for split in ("train", "test"):
            path = tgif["annotations"][(task, split)]
            assert path.name == f"{split.capitalize()}_{task}_question.csv"
            header, _, raw = read_rows(path)
            assert tuple(header) == TGIF_HEADERS[task]
            assert all(len(r) == len(header) for r in raw)
            total += len(raw)
        assert total == NUM_VIDEOS
    test_rows = read_rows(tgif["annotations"][("count", "test")])[1]
    assert len(test_rows) == round(0.2 * NUM_VIDEOS)


def test_feature_file_layout_and_ids(tgif):
    with h5py.File(tgif["features"], "r") as f:
        app, mot = f["appearance"], f["motion"]
        assert app.shape == (NUM_VIDEOS * 4, 16, 64) and mot.shape == (NUM_VIDEOS * 4, 16, 32)
        assert app.dtype == np.float16
        ids = [i.decode("utf-8") for i in f["ids"][:]]
        assert h5py.check_string_dtype(f["ids"].dtype).encoding == "utf-8"
    assert len(set(ids)) == len(ids)
    known = set(ids)
    for path in tgif["annotations"].values():
        _, rows, _ = read_rows(path)
        assert {r["gif_name"] for r in rows} <= known
        assert all(ids[int(r["key"]) - 1] == r["gif_name"] for r in rows)
    keys = [r["vid_id"] for p in tgif["annotations"].values() for r in read_rows(p)[1]]
    assert len(set(keys)) == len(keys)


def test_deterministic_for_a_seed_and_seed_matters(tmp_path):
    a = make_synthetic_tgif(tmp_path / "a", num_videos=30, seed=7)
    b = make_synthetic_tgif(tmp_path / "b", num_videos=30, seed=7)
    c = make_synthetic_tgif(tmp_path / "c", num_videos=30, seed=8)
    for key in a["annotations"]:
        assert a["annotations"][key].read_bytes() == b["annotations"][key].read_bytes()
    assert (
        a["annotations"][("count", "train")].read_bytes()
        != c["annotations"][("count", "train")].read_bytes()
    )
    with (
        h5py.File(a["features"]) as fa,
        h5py.File(b["features"]) as fb,
        h5py.File(c["features"]) as fc,
    ):
        np.testing.assert_array_equal(fa["appearance"][:], fb["appearance"][:])
        np.testing.assert_array_equal(fa["motion"][:], fb["motion"][:])
        assert not np.array_equal(fa["appearance"][:], fc["appearance"][:])
    va = make_synthetic_videoqa(tmp_path / "va", num_videos=20, seed=7)
    vb = make_synthetic_videoqa(tmp_path / "vb", num_videos=20, seed=7)
    assert va["annotations"]["train"].read_bytes() == vb["annotations"]["train"].read_bytes()


def test_reuses_complete_dataset_and_regenerates_on_change(tmp_path):
    out = make_synthetic_tgif(tmp_path, num_videos=20, tasks=("count",))
    feat = out["features"]
    stamp = os.stat(feat).st_mtime_ns
    os.utime(feat, ns=(stamp - 10**9, stamp - 10**9))
    stamp = os.stat(feat).st_mtime_ns
    make_synthetic_tgif(tmp_path, num_videos=20, tasks=("count",))
    assert os.stat(feat).st_mtime_ns == stamp  # reused
    make_synthetic_tgif(tmp_path, num_videos=21, tasks=("count",))
    assert os.stat(feat).st_mtime_ns != stamp  # other parameters: regenerated
    with h5py.File(feat) as f:
        assert f["appearance"].shape[0] == 21
    assert not [p for p in os.listdir(tmp_path) if ".tmp-" in p]
    (tmp_path / "Test_count_question.csv").unlink()  # incomplete: regenerated
    make_synthetic_tgif(tmp_path, num_videos=21, tasks=("count",))
    assert (tmp_path / "Test_count_question.csv").is_file()


def test_videos_per_task_from_a_mapping(tmp_path):
    out = make_synthetic_tgif(
        tmp_path,
        num_videos={"action": 30, "count": 10},
        tasks=("action", "count"),
        test_fraction=0.2,
    )
    sizes = {key: len(read_rows(path)[1]) for key, path in out["annotations"].items()}
    assert sizes == {
        ("action", "train"): 24,
        ("action", "test"): 6,
        ("count", "train"): 8,
        ("count", "test"): 2,
    }
    with h5py.File(out["features"]) as f:
        assert f["appearance"].shape[0] == 40
    with pytest.raises(ConfigError, match="no count for task.*count"):
        make_synthetic_tgif(tmp_path / "b", num_videos={"action": 30}, tasks=("action", "count"))


def test_built_in_defaults_give_action_more_questions():
    from mspan_pyg.training.config import SYNTHETIC, synthetic_num_videos

    assert synthetic_num_videos("action") == 3 * SYNTHETIC["num_videos"]
    assert [synthetic_num_videos(t) for t in ("transition", "count", "frameqa", "qa")] == [2500] * 4
    assert synthetic_num_videos("action", 40) == 40  # a given count applies to every task


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="bogus"):
        make_synthetic_tgif(tmp_path, tasks=("bogus",))
    with pytest.raises(ConfigError, match="test_fraction"):
        make_synthetic_tgif(tmp_path, test_fraction=1.5)


def truth(tgif):
    with h5py.File(tgif["features"], "r") as f:
        g = f["synthetic"]
        return {k: g[k][:] for k in g}, f["appearance"][:].astype(np.float32)


def all_rows(tgif, task):
    return [r for s in ("train", "test") for r in read_rows(tgif["annotations"][(task, s)])[1]]


def test_answers_follow_from_the_video(tgif):
    t, _ = truth(tgif)
    fa, fe = t["frame_action"], t["frame_event"]
    # consecutive events never repeat an action: an event is a maximal run of labels
    change = fa[:, 1:] != fa[:, :-1]
    np.testing.assert_array_equal(change, fe[:, 1:] != fe[:, :-1])

    counts = Counter()
    for r in all_rows(tgif, "count"):
        action = ACTIONS.index(r["question"].rstrip("?").split()[-1])
        assert runs(fa[int(r["key"]) - 1], action) == int(r["answer"])
        counts[int(r["answer"])] += 1
    assert set(counts) == set(range(1, COUNT_MAX + 1))

    for r in all_rows(tgif, "action"):
        k = int(r["question"].split()[-2])
        labels = fa[int(r["key"]) - 1]
        cands = [ACTIONS.index(r[f"a{i}"]) for i in range(1, 6)]
        n = [runs(labels, a) for a in cands]
        assert n[int(r["answer"])] == k
        assert sum(x == k for x in n) == 1
        assert sorted(n) == [0, 0, 1, 2, 3]  # lures repeat too: presence is not enough

    for r in all_rows(tgif, "transition"):
        labels = fa[int(r["key"]) - 1]
        x = ACTIONS.index(r["question"].rstrip("?").split()[-1])
        events = [labels[0]] + [b for a, b in zip(labels[:-1], labels[1:]) if a != b]
        assert events.count(x) == 1
        nxt = events[events.index(x) + 1]
        cands = [ACTIONS.index(r[f"a{i}"]) for i in range(1, 6)]
        assert cands[int(r["answer"])] == nxt and cands.count(nxt) == 1
        assert x not in cands

    vocab = (OBJECTS, NUMBERS, COLORS, LOCATIONS)
    for r in all_rows(tgif, "frameqa"):
        flash = t["flash"][int(r["key"]) - 1]
        words = r["question"].rstrip("?").split()
        qtype = int(r["type"])
        if qtype == 0:
            (hit,) = [fl for fl in flash if COLORS[fl[2]] == words[1]]
        else:
            name = words[2] if qtype == 1 else words[-1]
            (hit,) = [fl for fl in flash if OBJECTS[fl[1]] == name.rstrip("s")]
        column = {0: 1, 1: 3, 2: 2, 3: 4}[qtype]  # flash = frame, object, color, number, location
        assert vocab[qtype][hit[column]] == r["answer"]


def test_features_show_the_stored_events(tgif):
    t, app = truth(tgif)
    proto = t["action_prototypes"]
    flashed = np.zeros(t["frame_action"].shape, bool)
    v, k = np.nonzero(t["flash"][:, :, 0] >= 0)
    flashed[v, t["flash"][v, k, 0]] = True
    centred = app - app.mean(axis=1, keepdims=True)  # remove most of the scene offset
    dist = ((centred[:, :, None, :] - (proto - proto.mean(0))[None, None]) ** 2).sum(-1)
    decoded = dist.argmin(-1)
    agree = (decoded == t["frame_action"])[~flashed].mean()
    assert agree > 0.95


def majority_accuracy(train, test, key):
    """Accuracy on `test` of the most frequent training answer per `key(row)`."""
    by = defaultdict(Counter)
    overall = Counter()
    for r in train:
        by[key(r)][r["answer"]] += 1
        overall[r["answer"]] += 1
    guess = lambda r: (by.get(key(r)) or overall).most_common(1)[0][0]  # noqa: E731
    return np.mean([guess(r) == r["answer"] for r in test])


def test_answer_positions_uniform_and_question_only_priors_at_chance(tmp_path):
    out = make_synthetic_tgif(
        tmp_path, num_videos=2000, seed=1, tasks=("action", "transition", "count", "frameqa")
    )
    split = {
        t: (
            read_rows(out["annotations"][(t, "train")])[1],
            read_rows(out["annotations"][(t, "test")])[1],
        )
        for t in TGIF_TASKS
    }
    for task in ("action", "transition"):
        train, test = split[task]
        pos = np.bincount([int(r["answer"]) for r in train + test], minlength=5) / 2000
        assert np.all(np.abs(pos - 0.2) < 0.035), pos
        # question text -> answer position, and candidate-name prior -> answer
        assert majority_accuracy(train, test, lambda r: r["question"]) < 0.3
        freq = Counter(r[f"a{int(r['answer']) + 1}"] for r in train)
        pick = [
            np.argmax([freq[r[f"a{i}"]] for i in range(1, 6)]) == int(r["answer"]) for r in test
        ]
        assert np.mean(pick) < 0.3
    train, test = split["count"]
    y = np.array([int(r["answer"]) for r in test], float)
    mean = np.mean([int(r["answer"]) for r in train])
    assert np.mean((np.clip(np.round(mean), 1, 10) - y) ** 2) > 3.0  # uniform 1..7: var 4
    assert majority_accuracy(train, test, lambda r: r["question"].split()[-1]) < 0.25
    train, test = split["frameqa"]
    types = Counter(r["type"] for r in train + test)
    assert set(types) == {"0", "1", "2", "3"} and min(types.values()) > 400
    assert majority_accuracy(train, test, lambda r: r["question"]) < 0.3
    assert majority_accuracy(train, test, lambda r: r["type"]) < 0.3


def test_videoqa_format(videoqa):
    splits = {s: json.loads(p.read_text()) for s, p in videoqa["annotations"].items()}
    with h5py.File(videoqa["features"], "r") as f:
        ids = f["ids"][:]
        assert ids.dtype == np.int64 and f["appearance"].shape[:2] == (300, 16)
    seen = {}
    for split, items in splits.items():
        assert items
        for item in items:
            assert set(item) == {"question", "answer", "video_id", "id"}
            assert isinstance(item["video_id"], int) and item["video_id"] in set(ids.tolist())
            assert seen.setdefault(item["video_id"], split) == split  # videos not shared
    words = Counter(i["question"].split()[0] for items in splits.values() for i in items)
    assert set(words) == {"what", "who", "how", "when", "where"}
    ids_all = [i["id"] for items in splits.values() for i in items]
    assert len(set(ids_all)) == len(ids_all)


def test_videoqa_answers_follow_from_the_video(videoqa):
    with h5py.File(videoqa["features"], "r") as f:
        g = f["synthetic"]
        fa, actor, flash = g["frame_action"][:], g["frame_actor"][:], g["flash"][:]
        row = {int(v): i for i, v in enumerate(f["ids"][:])}
    from mspan_pyg.data.synthetic import ACTORS

    for item in json.loads(videoqa["annotations"]["train"].read_text()):
        v = row[item["video_id"]]
        w = item["question"].rstrip("?").split()
        if w[0] == "what":
            frames = actor[v] == ACTORS.index(w[3])
            assert set(fa[v][frames]) == {ACTIONS.index(item["answer"])}
        elif w[0] == "who":
            frames = fa[v] == ACTIONS.index(w[-1])
            assert set(actor[v][frames]) == {ACTORS.index(item["answer"])}
        elif w[0] == "where":
            assert OBJECTS[flash[v, 1]] == w[-1] and LOCATIONS[flash[v, 2]] == item["answer"]


def test_motion_shows_the_previous_action_and_the_cuts(tgif):
    """Every frame's motion carries "coming from" the previous event's action (the first
    event: a start prototype) and each event's first frame the start of its action, so
    "after X" differs from "before X" and the events of an action can be counted."""
    with h5py.File(tgif["features"], "r") as f:
        g = f["synthetic"]
        fa, fe, speed = g["frame_action"][:], g["frame_event"][:], g["event_speed"][:]
        motion_proto, source_proto = g["motion_prototypes"][:], g["source_prototypes"][:]
        start = g["onset_prototypes"][:]
        mot = f["motion"][:].astype(np.float32)
    assert source_proto.shape[0] == len(ACTIONS) + 1
    onset = np.ones(fa.shape, bool)
    onset[:, 1:] = fe[:, 1:] != fe[:, :-1]
    prev = np.full(fa.shape, len(ACTIONS))
    for v in range(fa.shape[0]):  # the previous event's action, frame by frame
        for n in range(1, fa.shape[1]):
            prev[v, n] = fa[v, n - 1] if onset[v, n] else prev[v, n - 1]
    residual = mot - motion_proto[fa] * np.take_along_axis(speed, fe, 1)[..., None]
    residual -= onset[..., None] * start[fa]
    dist = ((residual[:, :, None, :] - source_proto[None, None]) ** 2).sum(-1)
    assert (dist.argmin(-1) == prev).mean() > 0.95
    # the start is visible: projecting on the action's start separates first frames
    rest = mot - motion_proto[fa] * np.take_along_axis(speed, fe, 1)[..., None] - source_proto[prev]
    score = (rest * start[fa]).sum(-1) / (start[fa] ** 2).sum(-1)
    assert score[onset].mean() > 0.8 and np.abs(score[~onset].mean()) < 0.2


def test_short_videos_fit_every_question(tmp_path):
    out = make_synthetic_tgif(tmp_path, num_videos=60, num_frames=8, seed=2)
    with h5py.File(out["features"], "r") as f:
        fa = f["synthetic"]["frame_action"][:]
    assert fa.shape[1] == 8
    answers = [int(r["answer"]) for r in all_rows(out, "count")]
    assert max(answers) <= 4  # four events of one action need 7 of the 8 frames
    for r in all_rows(out, "count"):
        action = ACTIONS.index(r["question"].rstrip("?").split()[-1])
        assert runs(fa[int(r["key"]) - 1], action) == int(r["answer"])


def test_runner_writes_each_task_its_default_count(tmp_path, monkeypatch):
    from mspan_pyg.training import config
    from mspan_pyg.training.config import RunConfig
    from mspan_pyg.training.runner import synthetic_data

    monkeypatch.setitem(config.SYNTHETIC, "num_videos", 10)
    monkeypatch.setitem(config.SYNTHETIC_TASK_VIDEOS, "action", 30)
    config = RunConfig.from_dict(
        dict(task="count", out=str(tmp_path), synthetic_tasks=["action", "count"])
    )
    data_dir = synthetic_data(config.resolve())["data_dir"]
    sizes = {
        t: sum(
            len(read_rows(os.path.join(data_dir, f"{s}_{t}_question.csv"))[1])
            for s in ("Train", "Test")
        )
        for t in ("action", "count")
    }
    assert sizes == {"action": 30, "count": 10}
