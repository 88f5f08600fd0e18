import time

import numpy as np
import pytest
import torch

from mspan_pyg.errors import CheckpointError, ConfigError
from mspan_pyg.video.backbones import build_backbone, rebuild_backbone
from mspan_pyg.video.backbones.resnext3d import HaraResNeXt3D, load_hara_checkpoint
from mspan_pyg.video.preprocess import IMAGENET_STD_TYPO, Preprocess, compat_preprocess


def test_pixels_backbones_read_colour_and_layout():
    a = build_backbone("appearance", "pixels", size=8)
    frames = torch.zeros(1, 8, 8, 3, dtype=torch.uint8)
    frames[0, :2, :2] = torch.tensor([255, 0, 0], dtype=torch.uint8)  # red top-left corner
    f = a(frames)[0]
    assert f.shape == (a.dim,) == (51,)
    cells = f[:48].view(3, 4, 4)
    assert cells[0, 0, 0] == 1.0 and cells[0, 3, 3] == -1.0  # (x / 255 - 0.5) / 0.5
    assert f[48:].tolist() == [1.0, -1.0, -1.0]  # brightest colour = red
    m = build_backbone("motion", "pixels", size=8)
    assert m(torch.zeros(2, 16, 8, 8, 3, dtype=torch.uint8)).shape == (2, m.dim)


def test_network_backbones_need_weights_explicitly():
    with pytest.raises(ConfigError, match="--appearance-weights PATH"):
        build_backbone("appearance", "resnet152")
    with pytest.raises(ConfigError, match="--random-weights"):
        build_backbone("motion", "resnext101")
    with pytest.raises(ConfigError, match="not found"):
        build_backbone("motion", "r3d_18", weights="/nonexistent/weights.pth")


def test_random_weights_are_seeded_and_recorded():
    a = build_backbone("appearance", "resnet50", random_weights=True, seed=3, size=32)
    c = build_backbone("appearance", "resnet50", random_weights=True, seed=4, size=32)
    x = torch.randint(0, 255, (1, 32, 32, 3), dtype=torch.uint8)
    assert a.weights == {"source": "random", "seed": 3}
    assert not torch.equal(a(x), c(x))
    again = rebuild_backbone("appearance", a.provenance())  # what `answer` does
    assert torch.equal(again(x), a(x))


def _small_hara():
    torch.manual_seed(0)
    return HaraResNeXt3D(layers=(1, 1, 1, 1)).eval()


def test_hara_checkpoint_layout_round_trip(tmp_path):
    """The public checkpoint is {"state_dict": {"module.<name>": ...}} from nn.DataParallel."""
    src = _small_hara()
    path = tmp_path / "resnext-kinetics.pth"
    torch.save({"epoch": 1, "arch": "resnext-101", "state_dict": {
        "module." + k: v for k, v in src.state_dict().items()}}, path)  # fmt: skip
    dst = HaraResNeXt3D(layers=(1, 1, 1, 1)).eval()
    load_hara_checkpoint(dst, str(path))
    x = torch.randn(1, 3, 16, 32, 32)
    assert torch.equal(src(x), dst(x)) and dst(x).shape == (1, 2048)
    torch.save({"state_dict": {"module.conv1.weight": torch.zeros(1)}}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="not a 3D ResNeXt-101 checkpoint"):
        load_hara_checkpoint(dst, str(tmp_path / "bad.pth"))


def test_weights_file_sha256_is_recorded_and_checked(tmp_path):
    torch.manual_seed(0)
    net = HaraResNeXt3D()
    path = tmp_path / "resnext-101-kinetics.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, path)
    b = build_backbone("motion", "resnext101", weights=str(path), size=32)
    assert b.weights["source"] == "file" and len(b.weights["sha256"]) == 64
    with pytest.raises(ConfigError, match="--motion-weights PATH"):
        rebuild_backbone("motion", b.provenance())
    with pytest.raises(CheckpointError, match="SHA-256"):
        build_backbone("motion", "resnext101", weights=str(path), expected_sha256="0" * 64)


def test_real_architectures_run_at_tiny_size():
    """ResNet-152 (2048-d pool5) and the full 3D ResNeXt-101 (2048-d) with random weights."""
    start = time.time()
    a = build_backbone("appearance", "resnet152", random_weights=True, size=32)
    m = build_backbone("motion", "resnext101", random_weights=True, size=32)
    r = build_backbone("motion", "r2plus1d_18", random_weights=True, size=32)
    fa = a(torch.randint(0, 255, (2, 32, 32, 3), dtype=torch.uint8))
    fm = m(torch.randint(0, 255, (1, 16, 32, 32, 3), dtype=torch.uint8))
    fr = r(torch.randint(0, 255, (1, 8, 32, 32, 3), dtype=torch.uint8))
    assert fa.shape == (2, 2048) and fm.shape == (1, 2048) and fr.shape == (1, 512)
    assert torch.isfinite(fa).all() and torch.isfinite(fm).all()
    assert sum(p.numel() for p in m.parameters()) > 45_000_000  # the real ResNeXt-101
    assert time.time() - start < 120


def test_compat_preprocessing_reproduces_the_scripts():
    app = compat_preprocess("appearance", "mspan")
    assert (app.size, app.resize, app.interpolation, app.std) == (
        224, "squash", "bicubic", IMAGENET_STD_TYPO)  # fmt: skip
    mot = compat_preprocess("motion", "hcrn")
    x = torch.full((1, 112, 112, 3), 200, dtype=torch.uint8)
    assert torch.equal(mot.normalise(x), torch.full((1, 3, 112, 112), 200.0))  # unnormalised
    rgb = np.zeros((30, 60, 3), np.uint8)
    assert app.resize_frame(rgb).shape == (224, 224, 3)
    crop = Preprocess(32)
    rgb[:, :15] = 255  # the left quarter is white: the centre crop drops it
    assert crop.resize_frame(rgb).shape == (32, 32, 3) and crop.resize_frame(rgb).max() == 0
