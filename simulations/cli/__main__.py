"""`python -m simulations.cli`: the same as the `smallloss` console script."""

import sys

from simulations.cli import main

sys.exit(main())
