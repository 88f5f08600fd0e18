"""The official releases' files, as users download them, and small fixtures that reproduce
every quirk found in them (CI cannot fetch the releases).

``MSPAN_RELEASES=DIR`` points the conformance tests at real copies laid out as::

    DIR/tgif-qa/{Train,Test,Total}_{action,transition,count,frameqa}_question.csv
    DIR/msvd-qa/{train,val,test}_qa.json     DIR/msrvtt-qa/{train,val,test}_qa.json
    DIR/nextqa/{train,val,test}.csv, map_vid_vidorID.json
    DIR/activitynet-qa/{train,val,test}_{q,a}.json

Any file may be missing; each test reads what is there.
"""

import csv
import json
import os
import shutil
from pathlib import Path

import h5py
import numpy as np

RELEASES_ENV = "MSPAN_RELEASES"
TGIF_TASKS = ("action", "transition", "count", "frameqa")
TGIF_HEADERS = {
    "action": "gif_name question a1 a2 a3 a4 a5 answer vid_id key",
    "transition": "gif_name question a1 a2 a3 a4 a5 answer vid_id key",
    "count": "gif_name question answer vid_id key",
    "frameqa": "gif_name question answer type vid_id key description",
}
NEXTQA_HEADER = "video,frame_count,width,height,question,answer,qid,type,a0,a1,a2,a3,a4"


def release_root():
    """The folder of real release copies, or ``None``."""
    root = os.environ.get(RELEASES_ENV)
    return Path(root) if root else None


def _write_tsv(path: Path, header: str, rows):
    # as released: tab-separated, CRLF line ends, no quoting
    lines = ["\t".join(header.split())] + ["\t".join(str(x) for x in r) for r in rows]
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("utf-8"))


# -------------------------------------------------------------------------------- TGIF-QA
def _gif(i):
    return f"tumblr_fixture{i:03d}o1_250"


_VERBS = ("nod", "jump", "wave", "clap", "spin", "kick", "smile", "blink")


def tgif_rows(task: str, split: str):
    """Rows of ``{Split}_{task}_question.csv`` with the release's quirks: transition and FrameQA
    ask several questions about one GIF (a shared ``key``, one ``vid_id`` each), count answers
    include 0 and never 1, FrameQA carries a ``description``, and a question may hold a ``"``."""
    first = 0 if split == "train" else 1000
    rows = []
    for n in range(24 if split == "train" else 8):
        g = first + n
        vid = first + n + 1
        five = [_VERBS[(g + k) % len(_VERBS)] + f" {k}" for k in range(5)]
        if task == "action":
            rows.append(
                [
                    _gif(g),
                    f"What does the man do {2 + g % 3} times ?",
                    *five,
                    g % 5,
                    f"ACTION{vid}",
                    g + 1,
                ]
            )
        elif task == "transition":
            # two questions about the same GIF: one key, two vid_ids
            for k, word in enumerate(("after", "before")):
                q = (
                    f'What does the man do {word} "{five[k]}" ?'
                    if g == first
                    else (f"What does the man do {word} {five[k]} ?")
                )
                rows.append([_gif(g), q, *five, (g + k) % 5, f"TRANS{2 * vid + k}", g + 1])
        elif task == "count":
            answer = (0, 2, 3, 4, 10)[g % 5]  # 0 as released; the release has no 1
            rows.append(
                [
                    _gif(g),
                    f"How many times does the man {_VERBS[g % 8]} ?",
                    answer,
                    f"COUNT{vid}",
                    g + 1,
                ]
            )
        else:
            colour = ("red", "blue", "green")[g % 3]
            for k in range(1 + g % 3):  # 1..3 questions per GIF
                rows.append(
                    [
                        _gif(g),
                        f"what is the color of the car number {k} ?",
                        colour,
                        2,
                        f"FRAMEQA{3 * vid + k}",
                        g + 1,
                        f"a {colour} car is parked .",
                    ]
                )
    return rows


def write_tgif_fixture(folder) -> Path:
    """Train, Test and Total files of the four tasks, byte-for-byte in the release's format."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for task in TGIF_TASKS:
        train, test = tgif_rows(task, "train"), tgif_rows(task, "test")
        _write_tsv(folder / f"Train_{task}_question.csv", TGIF_HEADERS[task], train)
        _write_tsv(folder / f"Test_{task}_question.csv", TGIF_HEADERS[task], test)
        _write_tsv(folder / f"Total_{task}_question.csv", TGIF_HEADERS[task], train + test)
    return folder


def tsv_data_lines(path) -> int:
    """Data lines of a release TSV (the header and blank lines not counted)."""
    text = Path(path).read_bytes().decode("utf-8-sig")
    return sum(1 for line in text.split("\n")[1:] if line.strip())


def tsv_column(path, name):
    text = Path(path).read_bytes().decode("utf-8-sig").replace("\r\n", "\n")
    lines = [line.split("\t") for line in text.split("\n") if line.strip()]
    i = lines[0].index(name)
    return [fields[i] for fields in lines[1:]]


# -------------------------------------------------------------------------------- NExT-QA
def write_nextqa_fixture(folder) -> Path:
    """``train/val/test.csv`` and ``map_vid_vidorID.json`` as released (comma-separated, LF)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    types = ("CW", "CH", "TN", "TP", "TC", "DC", "DL", "DO")
    mapping = {}
    for s, (first, n) in {"train": (0, 30), "val": (100, 10), "test": (200, 10)}.items():
        lines = [NEXTQA_HEADER]
        for v in range(first, first + n):
            video = 4010069381 + v
            mapping[str(video)] = f"{v % 7:04d}/{video}"
            for qid in range(2):
                t = types[(v + qid) % len(types)]
                lines.append(
                    f"{video},369,640,480,why did the boy pick up present {qid},{(v + qid) % 5},"
                    f"{qid},{t},share,approach lady,unwrap it,play with toy train,gesture"
                )
        (folder / f"{s}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "map_vid_vidorID.json").write_text(json.dumps(mapping), encoding="utf-8")
    return folder


def csv_rows(path) -> int:
    with open(path, newline="", encoding="utf-8-sig") as f:
        return sum(1 for _ in csv.DictReader(f))


# ------------------------------------------------------------------------- ActivityNet-QA
def write_activitynet_fixture(folder) -> Path:
    """``{split}_q.json`` and ``{split}_a.json`` as released, including an answer with two
    spaces (``"14.62  seconds"`` is in the release's val_a.json)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    answers = ("yes", "no", "red", "in the room", "2", "14.62  seconds")
    for s, (first, n) in {"train": (0, 30), "val": (100, 10), "test": (200, 10)}.items():
        qs, ans = [], []
        for v in range(first, first + n):
            for k in range(3):
                qid = f"v_fixture{v:04d}_{k}"
                qs.append(
                    {"video_name": f"fixture{v:04d}", "question": f"is it {k}", "question_id": qid}
                )
                ans.append(
                    {
                        "answer": answers[(v + k) % len(answers)],
                        "type": (v + k) % 9,
                        "question_id": qid,
                    }
                )
        (folder / f"{s}_q.json").write_text(json.dumps(qs), encoding="utf-8")
        (folder / f"{s}_a.json").write_text(json.dumps(ans), encoding="utf-8")
    return folder


# ---------------------------------------------------------------------------- features
def synthesize_features(path, video_ids, num_frames=4, dim=4, seed=0) -> str:
    """A feature file holding every id in ``video_ids`` (random values: enough to train)."""
    ids = sorted(set(video_ids), key=lambda v: (type(v).__name__, v))
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        shape = (len(ids), num_frames, dim)
        f["appearance"] = rng.standard_normal(shape).astype(np.float16)
        f["motion"] = rng.standard_normal(shape).astype(np.float16)
        if all(isinstance(v, int) for v in ids):
            f["ids"] = np.asarray(ids, np.int64)
        else:
            f.create_dataset("ids", data=[str(v) for v in ids], dtype=h5py.string_dtype())
    return str(path)


def training_folder(source, dest, needed, stand_ins) -> Path:
    """``dest`` with the files ``needed`` linked from ``source``; a missing one is copied from
    its stand-in (``stand_ins[name]``, another file of the same release and format), so that a
    copy without e.g. Train_transition_question.csv still trains on real rows."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for name in needed:
        src = Path(source) / name
        if not src.exists():
            src = Path(source) / stand_ins[name]
        shutil.copyfile(src, dest / name)
    return dest
