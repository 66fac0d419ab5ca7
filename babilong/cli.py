"""The ``babilong`` command. Thin: each subcommand lives in the module that does the work.

A command module exposes ``HELP`` (one line), ``add_arguments(parser)`` and ``run(args)``;
it keeps heavy imports (torch, transformers, faiss) inside ``run`` so ``--help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from babilong import __version__
from babilong.errors import BabilongError

COMMANDS = {
    "setup": "babilong.assets",
    "generate": "babilong.generate",
    "show": "babilong.show",
    "eval": "babilong.evaluate",
    "report": "babilong.report",
    "rescore": "babilong.rescore",
    "train": "babilong.memory.train",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="babilong", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"babilong {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
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
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except BabilongError as error:
        print(f"babilong: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("babilong: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
