"""`python -m briefqa` is the `briefqa` command."""

import sys

from .cli import main

sys.exit(main())
