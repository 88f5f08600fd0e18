"""Checkpoint integrity and file modes (issue 14): a damaged checkpoint is a clear error, never a
silent load; every output of a run has the mode of an ordinary file."""

import os
import shutil
import struct
import zipfile

import pytest
import torch

from mspan_pyg.errors import CheckpointError
from mspan_pyg.training.checkpoint import load_checkpoint, save_checkpoint


def tensor_bytes_offset(path):
    """(offset, size) of the largest tensor record inside a torch.save zip archive."""
    with zipfile.ZipFile(path) as z:
        info = max(
            (i for i in z.infolist() if "/data/" in i.filename and not i.filename.endswith("/")),
            key=lambda i: i.file_size,
        )
    with open(path, "rb") as f:
        f.seek(info.header_offset)
        header = f.read(30)
    name_len, extra_len = struct.unpack("<HH", header[26:30])
    return info.header_offset + 30 + name_len + extra_len, info.file_size


def test_a_flipped_byte_inside_a_tensor_is_detected(count_checkpoint, tmp_path, cli):
    damaged = tmp_path / "damaged.pt"
    shutil.copy(count_checkpoint, damaged)
    offset, size = tensor_bytes_offset(damaged)
    with open(damaged, "r+b") as f:
        f.seek(offset + size // 2)
        byte = f.read(1)
        f.seek(offset + size // 2)
        f.write(bytes([byte[0] ^ 0x10]))
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(str(damaged))
    cli.error(["evaluate", damaged], "damaged.pt", "is damaged", label="flipped byte")


def test_changed_metadata_is_detected(count_checkpoint, tmp_path):
    state = torch.load(count_checkpoint, weights_only=True)
    state["best"]["value"] = 0.0  # edited, the stored checksum kept
    torch.save(state, tmp_path / "edited.pt")
    with pytest.raises(CheckpointError, match="damaged"):
        load_checkpoint(str(tmp_path / "edited.pt"))


def test_the_checksum_is_stored_and_old_checkpoints_still_load(count_checkpoint, tmp_path):
    state = torch.load(count_checkpoint, weights_only=True)
    assert str(state.get("checksum", "")).startswith("sha256:")
    state.pop("checksum")  # a checkpoint of an older version
    torch.save(state, tmp_path / "old.pt")
    assert load_checkpoint(str(tmp_path / "old.pt"))["epoch"] == state["epoch"]


def test_save_then_load_round_trip(tmp_path):
    state = {
        "model_config": {"a": 1},
        "model_state": {"w": torch.randn(3, 2), "h": torch.ones(4, dtype=torch.bfloat16)},
        "task": "count",
        "dataset": "tgif",
        "vocab": {"question": {"itos": ["<pad>", "<unk>", "x"]}, "answer": None},
        "args": {"lr": 1e-3},
        "rng": [{"python": (3, tuple(range(5)), None)}],
        "scalar": torch.tensor(2.5),
    }
    save_checkpoint(state, str(tmp_path / "c.pt"))
    loaded = load_checkpoint(str(tmp_path / "c.pt"))
    assert torch.equal(loaded["model_state"]["h"], state["model_state"]["h"])


@pytest.mark.parametrize("mask", [0o022, 0o002])
def test_every_output_has_the_mode_of_an_ordinary_file(tgif, cli, tmp_path, mask):
    from mspan_pyg.data.synthetic import make_synthetic_videoqa

    old = os.umask(mask)
    try:
        status, _, err = cli.run(cli.train(tgif, tmp_path / "run"))
        assert status == 0, err
        make_synthetic_videoqa(tmp_path / "synthetic", num_videos=4, num_frames=8)
    finally:
        os.umask(old)
    expected = 0o666 & ~mask
    # every file, the TensorBoard events in run/tb/ included (folders have a folder's mode)
    paths = [p for p in (tmp_path / "run").rglob("*") if p.is_file() and p.name != ".lock"]
    paths += list((tmp_path / "synthetic").iterdir())
    modes = {p.name: oct(p.stat().st_mode & 0o777) for p in paths}
    assert set(modes.values()) == {oct(expected)}, modes
    assert {"best.pt", "last.pt", "metrics.json", "log.jsonl", "features.h5"} <= set(modes)
