"""Built-in NExT-QA / ActivityNet-QA data: the releases' files, read back by the real readers."""

from collections import Counter

import h5py
import numpy as np

from mspan_pyg.data import FeatureStore
from mspan_pyg.data.activitynet import read_activitynet_qa
from mspan_pyg.data.nextqa import read_nextqa, read_video_map
from mspan_pyg.data.synthetic_activitynet import make_synthetic_activitynet
from mspan_pyg.data.synthetic_nextqa import NEXTQA_CSV_HEADER, prepare_synthetic_nextqa


def test_nextqa_release_files(tmp_path):
    made = prepare_synthetic_nextqa(tmp_path, num_videos=400)
    header = (tmp_path / "train.csv").read_text().splitlines()[0]
    assert header == ",".join(NEXTQA_CSV_HEADER)
    with h5py.File(tmp_path / "app_mot_val.h5") as f:
        assert f["feat"].shape[1:] == (16, 64 + 32) and f["ids"].dtype.kind == "i"
    records = {s: read_nextqa(tmp_path, s) for s in ("train", "val", "test")}
    videos = {s: {r.video_id for r in rs} for s, rs in records.items()}
    assert not videos["train"] & videos["val"] and not videos["val"] & videos["test"]
    store = FeatureStore(made["features"])
    assert len(store) == 400 and all(v in store for vs in videos.values() for v in vs)
    mapping = read_video_map(tmp_path / "map_vid_vidorID.json")
    assert all(str(v) in mapping for v in videos["val"])
    everything = [r for rs in records.values() for r in rs]
    assert set(Counter(r.qtype for r in everything)) == {"CW", "CH", "TN", "TC", "DC", "DL", "DO"}
    # the right answer's position carries no information
    positions = np.bincount([r.answer for r in everything], minlength=5) / len(everything)
    assert positions.min() > 0.13 and positions.max() < 0.27
    # TP questions ("before") are written with their own type and read as TN
    raw = (tmp_path / "train.csv").read_text()
    assert ",TP," in raw


def test_activitynet_release_files(tmp_path):
    made = make_synthetic_activitynet(tmp_path, num_videos=200)
    recs = read_activitynet_qa(tmp_path, "train")
    assert {r.qtype for r in recs} == {
        "motion",
        "spatial",
        "temporal",
        "yes_no",
        "color",
        "object",
        "location",
        "number",
        "other",
    }
    yes_no = Counter(r.answer for r in recs if r.qtype == "yes_no")
    assert set(yes_no) == {"yes", "no"} and min(yes_no.values()) > 0.3 * sum(yes_no.values())
    store = FeatureStore(made["features"])
    assert all(r.video_id in store for r in recs)
    again = make_synthetic_activitynet(tmp_path, num_videos=200)  # reused, not rewritten
    assert again["features"] == made["features"]
