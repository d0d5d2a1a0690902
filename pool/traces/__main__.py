"""python -m pool.traces {replay,convert} ..."""

import sys

from . import main

sys.exit(main())
