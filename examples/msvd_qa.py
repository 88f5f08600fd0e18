"""Train and evaluate MSPAN on MSVD-QA: ``examples/videoqa.py --dataset msvd`` (same flags).

    python examples/msvd_qa.py --data-dir DIR --features FILE [--epochs E] [...] [--out DIR]

Without --data-dir it runs on the built-in synthetic data.
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["train", "--dataset", "msvd", *sys.argv[1:]]))
