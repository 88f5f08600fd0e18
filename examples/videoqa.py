"""Train and evaluate MSPAN on MSVD-QA or MSRVTT-QA (open-ended, 1000 most frequent answers).

    python examples/videoqa.py --dataset msvd --data-dir DIR --features FILE [--glove FILE] \
        [--epochs E] [--batch-size B] [--num-scales K] [--num-iterations T] [--visual-dim D] \
        [--module-dim M] [--word-dim W] [--num-frames N] [--limit N] [--question-only] \
        [--seed S] [--device cpu|cuda] [--out DIR]

Without --data-dir it runs on the built-in synthetic data. Selection uses val_qa.json;
OUT/metrics.json reports test accuracy overall and by question word (what/who/how/when/where).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mspan_pyg.cli.main import main  # noqa: E402


def run(dataset=None, argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    fixed = ["--dataset", dataset] if dataset else []
    if (
        dataset is None
        and "--dataset" not in argv
        and not any(a.startswith("--dataset=") for a in argv)
    ):
        fixed = ["--dataset", "msvd"]
    return main(["train", *fixed, *argv])


if __name__ == "__main__":
    sys.exit(run())
