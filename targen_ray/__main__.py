"""`python -m targen_ray ...` is the `targen` command (what tests and benchmarks run as a process)."""

import sys

from .interface.cli import main

sys.exit(main())
