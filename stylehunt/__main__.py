"""``python -m stylehunt``: the command line, `stylehunt.cli.main`."""

import sys

from .cli import main

sys.exit(main())
