"""Paper Table 4 and Fig. 4 ablations; the same as ``mspan-pyg ablate`` (see benchmarks/ABLATIONS.md).

python benchmarks/ablations.py --out /work/ablate_out --seeds 3 --workers 2
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from mspan_pyg.cli.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["ablate", *sys.argv[1:]]))
