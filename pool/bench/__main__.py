"""python -m pool.bench"""

import sys

from .._cli import guarded
from .cli import main

sys.exit(guarded(main, sys.argv[1:]))
