"""Paper Table 4 and Fig. 4 ablations: the same as ``mspan-pyg ablate`` (benchmarks/ABLATIONS.md).

python benchmarks/ablations.py --out runs/ablation --seeds 3 --workers 2
"""

import sys

from mspan_pyg.cli.main import main

if __name__ == "__main__":
    sys.exit(main(["ablate", *sys.argv[1:]]))
