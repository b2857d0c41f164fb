"""``python -m regie_chaleur.cli``: the command line."""

import sys

from regie_chaleur.cli import main

sys.exit(main())
