"""Helpers of the training tests (tiny run options, subprocess environment)."""

import os

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
