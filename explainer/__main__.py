"""`python -m explainer <command> ...`: every command of the project (see explainer/cli/)."""

import signal
import sys

from explainer.cli import common, main


def _terminated(signum: int, frame) -> None:
    """SIGTERM (a `kill`, a scheduler's stop) ends the command as Ctrl+C does, cleaning up on the way out (train's
    stage folder, a half-written results folder); Python's default ends the process at once, leaving them."""
    common.SIGTERM_SEEN = True  # Ray may turn the exception into its own SystemExit(1): see cli/engine_options
    raise common.Terminated(128 + signum)


def _interrupted(signum: int, frame) -> None:
    """Ctrl+C as Python's own handler says it (KeyboardInterrupt), noted first: a Ray worker's error that the
    interruption caused (a model half-read: "Adapter checkpoint ... is damaged") may reach the command before it."""
    common.SIGINT_SEEN = True
    signal.default_int_handler(signum, frame)


common.RUN_AS_PROGRAM = True  # the whole process is this command: it may keep stdout for its JSON
signal.signal(signal.SIGTERM, _terminated)
signal.signal(signal.SIGINT, _interrupted)
sys.exit(main())
