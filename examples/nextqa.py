"""Train and evaluate MSPAN on NExT-QA (multiple choice, 5 candidates).

    python examples/nextqa.py --data-dir DIR --features FILE [--eval-split val|test] \
        [--val-fraction F] [--glove FILE] [--epochs E] [--batch-size B] [...] [--out DIR]

DIR holds the release's train.csv / val.csv / test.csv; FILE is made from the official
app_mot_{train,val,test}.h5 by ``mspan-pyg convert-features nextqa``. The model is selected on
held-out training videos (--val-fraction, default 0.1) and evaluated once on the official
val.csv (--eval-split val, what most papers report) or test.csv. OUT/metrics.json has accuracy
per type (CW CH TN TC DC DL DO; TP counts as TN), Acc@C/T/D and overall;
OUT/{val,test}_predictions_official.json is the file NExT-QA's eval_mc.py reads.

Without --data-dir it runs on built-in synthetic data in the same files, with the question-only
baseline beside it (``--task all``; docs/datasets.md).
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", "--dataset", "nextqa", *sys.argv[1:]]))
