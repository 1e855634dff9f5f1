"""``python -m benchmarks`` runs the default benchmark (see ``benchmarks.cli``)."""

import sys

from .cli import main

sys.exit(main())
