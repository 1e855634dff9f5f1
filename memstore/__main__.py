"""``python -m memstore``: the ``memstore`` command (``benchmarks.command``), for a checkout without the script."""

import sys

from benchmarks.command import main

sys.exit(main())
