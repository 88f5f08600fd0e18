"""Train and evaluate MSPAN on MSVD-QA or MSRVTT-QA (open-ended, 1000 most frequent answers).

    python examples/videoqa.py --dataset msvd --data-dir DIR --features FILE [--glove FILE] \
        [--epochs E] [--batch-size B] [--num-scales K] [--num-iterations T] [--visual-dim D] \
        [--module-dim M] [--word-dim W] [--num-frames N] [--limit N] [--question-only] \
        [--seed S] [--device cpu|cuda] [--out DIR]

Without --data-dir it runs on the built-in synthetic data (--dataset defaults to msvd here).
Selection uses val_qa.json; OUT/metrics.json reports test accuracy overall and by question word
(what/who/how/when/where).
"""

import sys

from mspan_pyg.cli.main import main


def run(dataset=None, argv=None):
    """``mspan-pyg train`` with ``--dataset`` fixed (or msvd unless the flags name one)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    named = any(a == "--dataset" or a.startswith("--dataset=") for a in argv)
    fixed = ["--dataset", dataset or "msvd"] if dataset or not named else []
    return main(["train", *fixed, *argv])


if __name__ == "__main__":
    sys.exit(run())
