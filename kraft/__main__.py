"""`python -m kraft ...`: the same as the `kraft` command."""

import sys

from kraft.cli import main

sys.exit(main())
