"""python -m pool.bench"""

import sys

from .cli import main

sys.exit(main())
