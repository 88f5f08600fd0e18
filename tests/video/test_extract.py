import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from mspan_pyg.cli.main import main
from mspan_pyg.data import FeatureStore, convert_hcrn
from mspan_pyg.errors import ConfigError
from mspan_pyg.video.decode import torchcodec_loads
from mspan_pyg.video.extract import (
    ExtractConfig,
    extract_features,
    failures_path,
    list_videos,
    merge_feature_files,
)
from mspan_pyg.video.sampling import uniform_indices

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PIXELS = dict(appearance="pixels", motion="pixels", workers=0, progress=False, batch_videos=3)


@pytest.fixture(scope="module")
def folder(tmp_path_factory, good_videos, bad_videos):
    d = tmp_path_factory.mktemp("videos")
    for p in list(good_videos.values()) + list(bad_videos.values()):
        shutil.copy(p, d)
    return str(d)


@pytest.fixture(scope="module")
def extracted(folder, tmp_path_factory):
    out = str(tmp_path_factory.mktemp("out") / "feats.h5")
    videos, missing = list_videos(folder)
    summary = extract_features(videos, out, ExtractConfig(**PIXELS))
    return out, summary


def _rows(path):
    with h5py.File(path, "r") as f:
        ids = [x.decode() if isinstance(x, bytes) else x for x in f["ids"][()]]
        return {v: (f["appearance"][i], f["motion"][i]) for i, v in enumerate(ids)}


def test_output_is_a_feature_store_with_provenance(extracted, good_videos):
    out, summary = extracted
    store = FeatureStore(out)
    want = sorted(os.path.splitext(os.path.basename(p))[0] for p in good_videos.values())
    assert sorted(store.ids) == want and summary.written == len(want)
    assert (store.num_frames, store.appearance_dim, store.motion_dim) == (16, 51, 96)
    with h5py.File(out, "r") as f:
        a = dict(f.attrs)
        assert a["appearance_backbone"] == "pixels" and a["motion_backbone"] == "pixels"
        default_decoder = "torchcodec" if torchcodec_loads() else "pyav"  # --decoder auto
        assert a["decoder"] == default_decoder and a["decoder_version"] and a["num_frames"] == 16
        assert "floor((i+0.5)F/N)" in a["frame_rule"] and not a["random_weights"]
        record = json.loads(a["extraction"])
        assert record["appearance"]["preprocess"]["mean"] == [0.5, 0.5, 0.5]
        for i in range(len(f["ids"])):  # the rows' frames follow the sampling rule
            n = int(f["num_source_frames"][i])
            assert f["frame_indices"][i].tolist() == uniform_indices(n, 16).tolist()
    assert not os.path.exists(out + ".parts")


def test_bad_videos_are_failures_not_rows(extracted, bad_reasons):
    out, summary = extracted
    assert summary.failed == len(bad_reasons)
    with open(failures_path(out), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    got = {r["id"]: r["reason"] for r in rows}
    assert set(got) == set(bad_reasons)
    for kind, words in bad_reasons.items():
        assert words in got[kind], (kind, got[kind])
    assert not set(bad_reasons) & set(FeatureStore(out).ids)


def test_cli_exit_status_and_resume(folder, tmp_path, capsys):
    out = str(tmp_path / "f.h5")
    argv = ["extract-features", folder, "--out", out, "--appearance", "pixels", "--motion",
            "pixels", "--workers", "0", "--no-progress"]  # fmt: skip
    assert main(argv) == 1  # some videos failed
    err = capsys.readouterr().err
    assert "7 video(s) failed" in err and "empty file (0 bytes)" in err
    assert main(argv + ["--allow-failures"]) == 0
    assert "0 video(s) written, 7 already there" in capsys.readouterr().out


def test_workers_and_reruns_are_deterministic(folder, extracted, tmp_path):
    out2 = str(tmp_path / "w.h5")
    videos, _ = list_videos(folder)
    extract_features(videos, out2, ExtractConfig(**dict(PIXELS, workers=2, batch_videos=2)))
    a, b = _rows(extracted[0]), _rows(out2)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k][0], b[k][0]) and np.array_equal(a[k][1], b[k][1])


def test_resume_after_partial_run_and_settings_check(folder, extracted, tmp_path):
    videos, _ = list_videos(folder)
    out = str(tmp_path / "r.h5")
    first = extract_features(videos[:4], out, ExtractConfig(**PIXELS))
    second = extract_features(videos, out, ExtractConfig(**PIXELS))
    assert second.already_done == first.written and second.written == 7 - first.written
    ref, got = _rows(extracted[0]), _rows(out)
    assert ref.keys() == got.keys()
    assert all(np.array_equal(ref[k][0], got[k][0]) for k in ref)
    with pytest.raises(ConfigError, match="other settings"):
        extract_features(videos, out, ExtractConfig(**dict(PIXELS, num_frames=8)))


def test_shards_merge_into_the_single_run(folder, extracted, tmp_path):
    videos, _ = list_videos(folder)
    out = str(tmp_path / "s.h5")
    parts = []
    for i in range(2):
        s = extract_features(videos, out, ExtractConfig(**PIXELS), shard=(i, 2))
        parts.append(s.out)
    assert parts[0].endswith("s.shard0of2.h5")
    merged = str(tmp_path / "merged.h5")
    assert main(["merge-features", "--out", merged, "--compression", "lzf", *parts]) == 0
    ref, got = _rows(extracted[0]), _rows(merged)
    assert ref.keys() == got.keys()
    assert all(np.array_equal(ref[k][1], got[k][1]) for k in ref)
    with h5py.File(merged, "r") as f:  # the writers' layout: one chunk per video, compressed
        assert f["appearance"].chunks[0] == 1 and f["appearance"].compression == "lzf"
        assert f["frame_indices"].chunks is None  # bookkeeping stays contiguous
    with pytest.raises(Exception, match="is in both"):
        merge_feature_files([parts[0], parts[0]], str(tmp_path / "dup.h5"))


def test_hcrn_preset_layout(folder, tmp_path):
    videos = [v for v in list_videos(folder)[0] if v[0].startswith("clip_")]
    out = str(tmp_path / "hcrn.h5")
    extract_features(videos[:2], out, ExtractConfig(**dict(PIXELS, layout="hcrn")))
    with h5py.File(out, "r") as f:
        assert f["resnet_features"].shape == (2, 8, 16, 51)
        assert f["resnext_features"].shape == (2, 8, 96) and len(f["ids"]) == 2
    converted = str(tmp_path / "converted.h5")
    convert_hcrn(out, out, converted, num_frames=16)  # the same file feeds both HCRN inputs
    assert FeatureStore(converted).motion_dim == 96


def test_annotation_ids_select_videos(folder, tmp_path):
    csv_path = tmp_path / "Train_frameqa_question.csv"
    rows = ["gif_name\tquestion\tanswer\ttype\tkey", "clip_gif\twhat ?\tred\t2\t1"]
    csv_path.write_text("\n".join(rows + ["no_such\twhat ?\tred\t2\t2"]) + "\n")
    videos, missing = list_videos(folder, annotations=[str(csv_path)])
    assert [v for v, _ in videos] == ["clip_gif"]
    assert missing == [("no_such", "", "no video file for this annotation id")]


@pytest.mark.slow  # two subprocesses importing torch: ~20 s idle, more on a busy machine
def test_killed_run_loses_at_most_a_batch_and_resumes(folder, tmp_path):
    src = tmp_path / "many"
    src.mkdir()
    good = os.path.join(folder, "clip_mp4.mp4")
    for i in range(16):
        shutil.copy(good, src / f"v{i:02d}.mp4")
    out = str(tmp_path / "k.h5")
    argv = [sys.executable, "-m", "mspan_pyg.cli.main", "extract-features", str(src), "--out",
            out, "--appearance", "resnet50", "--random-weights", "--image-size", "32", "--motion",
            "none", "--num-frames", "4", "--batch-videos", "2", "--workers", "0",
            "--no-progress"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=ROOT)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    parts = out + ".parts"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if os.path.isdir(parts) and any(n.endswith(".h5") for n in os.listdir(parts)):
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = [os.path.join(parts, n) for n in os.listdir(parts) if n.endswith(".h5")]
    assert done and not os.path.exists(out)
    kept = set()
    for p in done:  # every file left behind is a complete feature file
        kept |= set(FeatureStore(p).ids)
    result = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert f"{len(kept)} already there" in result.stdout
    store = FeatureStore(out)
    assert sorted(store.ids) == [f"v{i:02d}" for i in range(16)]
    assert not os.path.exists(parts)
