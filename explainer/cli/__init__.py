"""The command layer: `python -m explainer <command> ...`, one module per command, each with `main(argv)`.

Commands import the library; the library never imports from here.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from contextlib import nullcontext

# command -> (module under explainer.cli, one line for --help). Modules load only when their command runs, so
# `--help` and the data-only commands start without importing torch.
COMMANDS: dict[str, tuple[str, str]] = {
    "trace": ("trace", "trace one input: prediction, tokens and the shape of every captured array (JSON)"),
    "attribute": ("attribute", "attribute one prediction with a method, or build the attribution graph (JSON)"),
    "counterfactual": ("counterfactual", "the smallest word edits that flip a prediction, or a file's mistakes (JSON)"),
    "patch": ("patch", "activation patching from a clean text into a corrupted one (JSON)"),
    "ablate": ("ablate", "ablate every head (and MLP) of a model on one text (JSON)"),
    "evaluate": ("evaluate", "evaluate one or two models on a labelled file; --sweep-tau for the beacon sweep"),
    "map": ("map", "map a labelled file: 2-D projection, nearest neighbours, likely mislabels (Parquet + JSON)"),
    "markers": ("markers", "build the thought-marker dictionary of a data set (JSON and CSV)"),
    "train": ("train", "train a ThoughtBeacon or baseline model (from scratch or retrofitted with LoRA)"),
    "challenge": ("challenge", "write the CheckList-style labelled challenge set"),
    "model-card": ("model_card", "re-render a model folder's card from its metrics.json"),
    "report": ("report", "write a self-contained HTML report of one input that opens offline"),
    "bench": ("bench", "run a benchmark against its reference: bench NAME --json"),
}


# The operator's tools, which EXPLAINER_DEMO does not restrict (README): their tracebacks stay theirs to read.
OPERATOR_COMMANDS = frozenset({"train", "challenge", "model-card", "bench"})


def usage() -> str:
    # not map(): once the `map` command's module is imported, `map` here is explainer.cli.map
    width = max(len(name) for name in COMMANDS)
    lines = ["usage: python -m explainer <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {summary}" for name, (_, summary) in COMMANDS.items()]
    lines += ["", "python -m explainer <command> --help shows a command's options."]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(usage(), file=sys.stdout if args else sys.stderr)  # no command is an error: said on stderr
        return 0 if args else 2
    command, rest = args[0], args[1:]
    from explainer.serving.demo import environment_only

    environment_only()  # here a demo is EXPLAINER_DEMO's: these arguments are the user's, not the operator's
    if command not in COMMANDS:
        print(f"error: unknown command '{command}'\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"explainer.cli.{COMMANDS[command][0]}")
    from tqdm.contrib.logging import logging_redirect_tqdm

    from explainer.cli.common import Terminated, typed_by_visitor

    visitor = nullcontext() if command in OPERATOR_COMMANDS else typed_by_visitor(rest)
    try:
        # a warning (a cache that cannot be written) on its own line, not in a bar's; the renamed stderr first: the
        # log's handler writes to the stderr it finds
        with visitor, logging_redirect_tqdm():
            logging.root.handlers[-1].setLevel(logging.WARNING)  # its handler: what logging's last resort printed
            code = module.main(rest) or 0
            sys.stdout.flush()  # a table print()ed: a reader gone shows here (BrokenPipeError below), not at exit
            return code
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback (a results folder keeps no partial run)
        print("\ninterrupted", file=sys.stderr)
        return 130
    except Terminated as stop:  # SIGTERM (explainer/__main__.py), cleaned up on the way out as for Ctrl-C
        print("\nterminated", file=sys.stderr)
        return int(stop.code)
    except BrokenPipeError:  # the reader of stdout left (`| head`): end quietly, as a shell's SIGPIPE ends a program
        if not _stdout_gone():  # another pipe broke (a worker's, a subprocess's): a failure to show, not to hide
            raise
        _stdout_to_devnull()
        return 141
    except Exception as error:
        if command in OPERATOR_COMMANDS or not os.environ.get("EXPLAINER_DEMO", "").strip():
            raise
        # a demo hides an analysis command's traceback, as the app does: it names server paths and quotes files
        print(f"error: {command} failed ({type(error).__name__}); run it without EXPLAINER_DEMO to see why",
              file=sys.stderr)
        return 1


def _stdout_gone() -> bool:
    """Whether stdout's reader has left: a pipe's write end whose read end is closed polls as an error (Linux and
    macOS). Where that cannot be asked, a broken pipe is taken to be stdout's, as before."""
    try:
        import select

        poller = select.poll()
        poller.register(sys.__stdout__.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, OSError, ValueError):  # no poll (Windows), no descriptor (a test's capture)
        return True


def _stdout_to_devnull() -> None:
    """Python flushes stdout again at exit: into the closed pipe that is a second BrokenPipeError, printed as
    "Exception ignored". Pointing the descriptor at /dev/null lets the exit pass in silence (Python's docs, signal)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno())  # descriptor 1, even while sys.stdout is stderr (--json on Ray)
    except (AttributeError, OSError, ValueError):  # no descriptor (a test's capture, pythonw)
        pass
