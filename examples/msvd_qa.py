"""Train and evaluate MSPAN on MSVD-QA: ``examples/videoqa.py --dataset msvd`` (same flags).

    python examples/msvd_qa.py --data-dir DIR --features FILE [--epochs E] [...] [--out DIR]

Without --data-dir it runs on the built-in synthetic data.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from videoqa import run  # noqa: E402

if __name__ == "__main__":
    sys.exit(run("msvd"))
