"""``python -m livingreview.surveillance ...`` (until the main CLI wires ``python -m livingreview search``)."""

import sys

from livingreview.surveillance.cli import main

sys.exit(main())
