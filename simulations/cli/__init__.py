"""The `smallloss` command line: the only place that reads argv or prints.

One module per command (``check``, ``estimate``, ``simulate``, ``train``, ``analyse``,
``probes``, ``figures``, ``sweep``, ``bench``, ``gpu-study``), each with ``HELP``,
``configure(parser)``, ``run(args) -> (result, text)`` and ``render(...)``; the library
functions they call take arrays and keywords. Building the parser imports no library module
(each command imports what it needs in ``run``), so ``--help`` and a bad option answer
without loading numpy's stack, scipy, Numba or torch.
"""

from __future__ import annotations

import argparse
import sys

from simulations.cli import (
    analyse,
    bench,
    check,
    estimate,
    figures,
    gpu_study,
    probes,
    simulate,
    sweep,
    train,
)

EXIT_BAD_INPUT = 2
# none of them imports the library at import time: each command loads it when it runs
COMMANDS = {
    "check": check,
    "estimate": estimate,
    "simulate": simulate,
    "train": train,
    "analyse": analyse,
    "probes": probes,
    "figures": figures,
    "sweep": sweep,
    "bench": bench,
    "gpu-study": gpu_study,
}


class UsageError(ValueError):
    """Bad usage of the command line (an unknown option, a missing argument): raised by the
    parser without importing ``theory`` (whose import loads scipy); exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage in one line (no usage dump), exit code 2."""

    def error(self, message):
        raise UsageError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="smallloss", description="Why the small-loss criterion works, and when it breaks."
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        module.configure(sub.add_parser(name, help=module.HELP, description=module.HELP))
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"smallloss: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    from simulations.io import dumps, record_command
    from theory.errors import InputError, as_flags

    record_command(["smallloss", *argv])
    command = COMMANDS[args.command]
    try:
        result, text = command.run(args)
    except InputError as exc:  # the library names parameters; the command line, its flags
        print(
            f"smallloss: error: {as_flags(exc, getattr(command, 'FLAGS', None))}", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    except OSError as exc:  # a file or folder the command was pointed at
        where = f": {exc.filename}" if exc.filename else ""
        print(f"smallloss: error: {exc.strerror or exc}{where}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("smallloss: interrupted", file=sys.stderr)
        return 130
    try:
        print(dumps(result) if args.json else text)
    except BrokenPipeError:  # the reader (`| head`) left early: not an error of ours
        sys.stdout = None
    return 0
