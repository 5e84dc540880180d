"""`python -m explainer <command> ...`: every command of the project (see explainer/cli/)."""

import sys

from explainer.cli import main

sys.exit(main())
