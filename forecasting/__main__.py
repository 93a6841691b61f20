"""``python -m forecasting``: the command line."""

import sys

from forecasting.cli import main

sys.exit(main())
