"""`python -m explainer <command> ...`: every command of the project (see explainer/cli/)."""

import sys

from explainer.cli import common, main

common.RUN_AS_PROGRAM = True  # the whole process is this command: it may keep stdout for its JSON
sys.exit(main())
