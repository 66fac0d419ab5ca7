"""The ``babilong`` command line; each subcommand lives in the module that does the work.

A command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``;
it keeps heavy imports (torch, transformers, faiss) inside ``run`` so ``--help`` stays fast.
Bad input of every kind ends in one line on stderr and a non-zero exit code; an unexpected
exception (a bug) still shows its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from typing import NoReturn

from babilong import __version__
from babilong.errors import BabilongError

COMMANDS = {
    "setup": "babilong.assets",
    "generate": "babilong.generate",
    "show": "babilong.show",
    "eval": "babilong.evaluate",
    "report": "babilong.report",
    "rescore": "babilong.rescore",
    "merge": "babilong.merge",
    "show-verdict": "babilong.show_verdict",
    "view": "babilong.view",
    "train": "babilong.memory.train",
}
DESCRIPTION = ("Test how well language models find and reason over facts hidden in long contexts: generate "
               "BABILong data of any length, evaluate any model on it, report scores, train memory baselines.")
USAGE_ERROR = 2
BROKEN_PIPE = 141  # the status a shell reports for a program its reader's exit stopped (128 + SIGPIPE)


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line that points to ``--help`` (not the whole usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(USAGE_ERROR, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="babilong", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"babilong {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=OneLineParser)
    for name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name and module_name.startswith(error.name):
                continue  # a command not built yet
            raise
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as stop:  # a usage error (already printed as one line), --help or --version
        return stop.code if isinstance(stop.code, int) else USAGE_ERROR
    try:
        return int(args.run(args) or 0)
    except BabilongError as error:
        print(f"babilong: error: {error}", file=sys.stderr)
        return error.exit_code
    except BrokenPipeError:  # the reader left (``babilong show FILE | head -1``): stop quietly, as Unix tools do
        _silence_stdout()
        return BROKEN_PIPE
    except OSError as error:
        if not error.filename:
            raise  # not about a file we were given: a bug to see in full
        print(f"babilong: error: {_describe(error)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("babilong: interrupted", file=sys.stderr)
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so flushing it at exit cannot fail once more on the closed pipe."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, io.UnsupportedOperation):
        pass  # stdout is no file (tests capture it): nothing will flush to a pipe


def _describe(error: OSError) -> str:
    """One line for a file the system refused: which file, why, and what to do."""
    names = " -> ".join(str(name) for name in (error.filename, error.filename2) if name)
    return f"cannot use {names}: {error.strerror or error}; check the path and its permissions"


if __name__ == "__main__":
    sys.exit(main())
