"""``python -m cryosim``: the command line (:func:`cryosim.cli.main`)."""

import sys

from .cli import main

sys.exit(main())
