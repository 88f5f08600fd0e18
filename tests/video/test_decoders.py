"""``--decoder pyav|torchcodec``: the same frames from both (MP4, rotated MP4, gray FFV1, a
variable-delay GIF, a long MP4 sampled sparsely), and a clear error without torchcodec."""

import sys

import numpy as np
import pytest

from mspan_pyg.errors import ConfigError
from mspan_pyg.video.decode import decode, require_torchcodec
from mspan_pyg.video.extract import ExtractConfig
from mspan_pyg.video.sampling import plan


def _torchcodec_loads():
    try:
        require_torchcodec()
        return True
    except ConfigError:
        return False


needs_torchcodec = pytest.mark.skipif(
    not _torchcodec_loads(), reason="torchcodec (the torchcodec extra) is missing or cannot load"
)


def _decode(path, decoder, num_frames):
    def keep(index, rgb):
        return rgb

    the_plan, frames, info = decode(
        path, lambda n, t: plan(n, "mspan", num_frames, 4), keep, decoder=decoder
    )
    return the_plan, np.stack(frames), info


@needs_torchcodec
@pytest.mark.parametrize("kind", ["mp4", "gif", "rotated", "gray", "long"])
def test_both_decoders_give_the_same_frames(good_videos, kind, monkeypatch):
    from mspan_pyg.video import decode as decode_module

    calls = []
    real = decode_module._decode_torchcodec
    monkeypatch.setattr(
        decode_module, "_decode_torchcodec", lambda *a, **k: calls.append(1) or real(*a, **k)
    )
    a_plan, a, a_info = _decode(good_videos[kind], "pyav", 8)
    assert not calls
    b_plan, b, b_info = _decode(good_videos[kind], "torchcodec", 8)
    assert calls  # torchcodec really decoded the second copy
    assert a_info.num_frames == b_info.num_frames  # the GIF counts its 5 frames either way
    assert np.array_equal(a_plan.needed, b_plan.needed)
    assert a.shape == b.shape and np.array_equal(a, b)
    if kind == "rotated":
        assert a.shape[1:3] == (32, 16)  # turned upright (32 x 16 coded as 16 high, 32 wide)


def test_torchcodec_missing_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchcodec.decoders", None)
    with pytest.raises(ConfigError, match=r"mspan-pyg\[torchcodec\]"):
        ExtractConfig(appearance="pixels", motion="pixels", decoder="torchcodec").check()
    with pytest.raises(ConfigError, match="unknown --decoder"):
        ExtractConfig(decoder="opencv").check()
