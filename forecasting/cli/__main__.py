"""``python -m forecasting.cli``: the command line."""

import sys

from forecasting.cli import main

sys.exit(main())
