"""``--appearance clip:ARCH``: CLIP image embeddings from a local weights file (a tiny random
open_clip model saved here), with the model's own preprocessing, recorded in the provenance."""

import json
import subprocess
import sys

import h5py
import numpy as np
import pytest
import torch

from mspan_pyg.errors import CheckpointError, ConfigError
from mspan_pyg.video.backbones import build_backbone, rebuild_backbone
from mspan_pyg.video.backbones.clip import tiny_clip_config, write_tiny_clip
from mspan_pyg.video.extract import ExtractConfig, extract_features

open_clip = pytest.importorskip("open_clip")


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory):
    return write_tiny_clip(str(tmp_path_factory.mktemp("clip") / "tiny.pt"), seed=3)


def test_embedding_is_open_clips_encode_image_with_its_own_transform(tiny_weights):
    from PIL import Image

    backbone = build_backbone("appearance", "clip:tiny", tiny_weights)
    model = open_clip.CLIP(**tiny_clip_config())
    model.load_state_dict(torch.load(tiny_weights, weights_only=True)["state_dict"])
    transform = open_clip.image_transform(32, is_train=False)  # open_clip's eval transform
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (48, 80, 3), dtype=np.uint8) for _ in range(2)]
    frames.append(rng.integers(0, 256, (90, 40, 3), dtype=np.uint8))  # portrait
    ours = backbone(
        torch.from_numpy(np.stack([backbone.preprocess.resize_frame(f) for f in frames]))
    )
    with torch.no_grad():
        theirs = model.eval().encode_image(
            torch.stack([transform(Image.fromarray(f)) for f in frames])
        )
    assert ours.shape == (3, 32) and backbone.dim == 32
    assert torch.allclose(ours, theirs, atol=1e-4)


def test_extract_clip_features_records_the_weights(tiny_weights, good_videos, tmp_path):
    videos = [(k, p) for k, p in sorted(good_videos.items()) if k in ("mp4", "gif", "rotated")]
    config = ExtractConfig(
        appearance="clip:tiny", motion="none", appearance_weights=tiny_weights,
        workers=0, progress=False,
    )  # fmt: skip
    out = str(tmp_path / "clip.h5")
    summary = extract_features(videos, out, config)
    assert summary.written == 3
    with h5py.File(out, "r") as f:
        assert f["appearance"].shape == (3, 16, 32)
        record = json.loads(f.attrs["extraction"])
    app = record["appearance"]
    assert app["name"] == "clip:tiny" and app["weights"]["source"] == "file"
    from mspan_pyg.video.backbones import sha256_of

    assert app["weights"]["sha256"] == sha256_of(tiny_weights)
    assert app["preprocess"]["resize"] == "short_side" and app["preprocess"]["size"] == 32
    again = rebuild_backbone("appearance", app, tiny_weights)  # what `answer` does
    x = torch.randint(0, 256, (2, 32, 32, 3), dtype=torch.uint8)
    assert torch.equal(again(x), build_backbone("appearance", "clip:tiny", tiny_weights)(x))


def test_clip_errors(tiny_weights, tmp_path):
    with pytest.raises(ConfigError, match="needs weights"):
        build_backbone("appearance", "clip:ViT-B-32")
    with pytest.raises(ConfigError, match="unknown CLIP architecture"):
        build_backbone("appearance", "clip:ViT-Q-99", random_weights=True)
    other = write_tiny_clip(str(tmp_path / "other.pt"), seed=4)
    record = build_backbone("appearance", "clip:tiny", tiny_weights).provenance()
    with pytest.raises(CheckpointError, match="SHA-256"):
        rebuild_backbone("appearance", record, other)
    with pytest.raises(ConfigError, match="pass that file"):
        rebuild_backbone("appearance", record)
    with pytest.raises(CheckpointError, match="does not fit CLIP ViT-B-32"):
        torch.save(torch.load(tiny_weights, weights_only=True)["state_dict"], tmp_path / "sd.pt")
        build_backbone("appearance", "clip:ViT-B-32", str(tmp_path / "sd.pt"))


def test_open_clip_stays_optional(monkeypatch):
    code = (
        "import sys, mspan_pyg, mspan_pyg.video.extract, mspan_pyg.video.backbones; "
        "assert 'open_clip' not in sys.modules and 'torchcodec' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    monkeypatch.setitem(sys.modules, "open_clip", None)  # as if the extra were not installed
    with pytest.raises(ConfigError, match=r"mspan-pyg\[clip\]"):
        build_backbone("appearance", "clip:ViT-B-32", random_weights=True)


def test_pixels_to_answer_through_a_clip_backbone(tmp_path, capsys):
    """videos -> CLIP features (tiny random weights from a file) -> training -> `answer`, which
    re-extracts the new video with the checkpoint's CLIP provenance and the same weights file."""
    import examples.learn_from_pixels as example
    from mspan_pyg.video.answer import answer

    example.run(["--out", str(tmp_path), "--videos", "12", "--epochs", "1", "--tiny-clip",
                 "--motion", "none", "--no-progress"])  # fmt: skip
    checkpoint = str(tmp_path / "mspan" / "best.pt")
    state = torch.load(checkpoint, weights_only=False)
    record = json.loads(state["features_provenance"])
    assert record["appearance"]["name"] == "clip:tiny"
    weights = str(tmp_path / "data" / "tiny_clip.pt")
    video = str(tmp_path / "data" / "videos" / "v0001.mp4")
    r = answer(checkpoint, video, "what color is the small shape ?", appearance_weights=weights)
    assert r["head"] == "open" and len(r["answers"]) == 5
    with pytest.raises(ConfigError, match="pass that file"):
        answer(checkpoint, video, "what color is the small shape ?")
