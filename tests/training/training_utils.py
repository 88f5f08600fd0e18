"""Helpers of the training tests (tiny run options, subprocess environment)."""

import os
import shutil

import h5py
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
#: a model small enough for a one-epoch run in a couple of seconds on one core
TINY = dict(
    num_scales=2,
    num_iterations=1,
    visual_dim=16,
    module_dim=16,
    word_dim=16,
    epochs=1,
    batch_size=16,
    lr=3e-3,
    dropout=0.0,
    progress=False,
    device="cpu",
)


def tiny_args(data, out, **kw):
    """Run options for ``mspan_pyg.training.runner.train`` on the tiny data."""
    args = dict(TINY, data_dir=data["data_dir"], features=data["features"], out=str(out))
    args.update(kw)
    return args


def subprocess_env():
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=REPO)
    return env


def cli_flags(data, out, **kw):
    """The same tiny options as command-line flags."""
    args = tiny_args(data, out, **kw)
    flags = []
    for k, v in args.items():
        if k == "progress" or v is None or v is False:
            continue
        flags += [f"--{k.replace('_', '-')}"] + ([] if v is True else [str(v)])
    return flags + ["--no-progress"]


def another_sampling(main, path, offset):
    """A copy of the feature file ``main`` whose values are shifted by ``offset`` (so a read
    tells which file it came from) and whose videos are stored in another order."""
    shutil.copy(main, path)
    with h5py.File(path, "r+") as f:
        order = np.random.default_rng(offset).permutation(len(f["ids"]))
        for name in ("appearance", "motion", "ids"):
            values = f[name][...][order]
            f[name][...] = values if name == "ids" else values + offset
    return str(path)
