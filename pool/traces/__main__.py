"""python -m pool.traces [list | replay ... | convert ...]"""

import sys

from .._cli import guarded
from . import main

sys.exit(guarded(lambda argv: main(argv, prog="python -m pool.traces"), sys.argv[1:]))
