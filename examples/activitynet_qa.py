"""Train and evaluate MSPAN on ActivityNet-QA (open-ended, 1000 most frequent answers).

    python examples/activitynet_qa.py --data-dir DIR --features FILE [--num-frames N] \
        [--clip-stride scale] [--gradient-checkpointing] [--epochs E] [...] [--out DIR]

DIR holds {train,val,test}_q.json and {train,val,test}_a.json; FILE's ids are the videos'
``video_name``. Selection uses the val files; OUT/metrics.json reports test accuracy overall
and per type (motion, spatial, temporal, yes_no, color, object, location, number, other).
Minutes-long videos: many frames (--num-frames 128), coarser clips at coarser scales
(--clip-stride scale) and recomputation in the backward pass (--gradient-checkpointing).

Without --data-dir it runs on built-in synthetic data in the same files, with the question-only
baseline beside it (``--task all``; docs/datasets.md).
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", "--dataset", "activitynet", *sys.argv[1:]]))
