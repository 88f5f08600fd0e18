"""Train MSPAN on your own videos and questions (docs/datasets.md, "Your own questions").

    python examples/own_questions.py --data-dir DIR --features FILE \
        [--task open|count|multichoice] [--epochs E] [...] [--out DIR]

DIR holds train.{csv,jsonl}, test.{csv,jsonl} and optionally val.{csv,jsonl} (without it, 10%
of the training videos select the model); FILE is an HDF5 feature file, e.g. made from one
.npy array per video by ``mspan-pyg convert-features npy``. With a ``type`` column,
OUT/metrics.json reports accuracy per type.

Without --data-dir it runs on built-in questions in this format (and the question-only
baseline beside it).
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", "--dataset", "own", *sys.argv[1:]]))
