"""`python -m briefqa` is the `briefqa` command."""

import sys

from .ui.cli import main

sys.exit(main())
