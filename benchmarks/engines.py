"""Engine-level measurements: the same as ``gradhess bench``.

    python benchmarks/engines.py [--quick] [--parts catboost soft] [--out DIR]
"""

import sys

from gradhess.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
