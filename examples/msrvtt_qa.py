"""Train and evaluate MSPAN on MSRVTT-QA: ``examples/videoqa.py --dataset msrvtt`` (same flags).

    python examples/msrvtt_qa.py --data-dir DIR --features FILE [--epochs E] [...] [--out DIR]

Without --data-dir it runs on the built-in synthetic data.
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", "--dataset", "msrvtt", *sys.argv[1:]]))
