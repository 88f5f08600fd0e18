"""Train and evaluate MSPAN on TGIF-QA (action, transition, count, frameqa).

    python examples/tgif_qa.py --task count --data-dir DIR --features FILE [--glove FILE] \
        [--epochs E] [--batch-size B] [--num-scales K] [--num-iterations T] [--visual-dim D] \
        [--module-dim M] [--word-dim W] [--num-frames N] [--limit N] [--question-only] \
        [--seed S] [--device cpu|cuda] [--out DIR]

Without --data-dir it runs on the built-in synthetic data; without --task (or --task all) it
trains all four tasks and the question-only baseline of each and prints a table of test
metrics. Writes OUT/metrics.json, OUT/test_predictions.jsonl, OUT/log.jsonl,
OUT/training_curves.png, OUT/best.pt and OUT/last.pt. `--help` lists every flag.
Under ``torchrun --nproc_per_node=N`` it trains with DistributedDataParallel.
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", "--dataset", "tgif", *sys.argv[1:]]))
