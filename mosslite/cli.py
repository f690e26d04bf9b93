"""The `mosslite` command: one subcommand per pipeline stage, each a thin layer over library functions."""

import argparse
import importlib
import sys

# Each module here has `register(subparsers)`, which adds its subcommands and sets `func` on them.
COMMAND_MODULES = [
    "mosslite.commands",
    "mosslite.tokenizer.cli",
    "mosslite.interop",
    "mosslite.train.cli",
    "mosslite.train.consolidate",
    "mosslite.experiments.cli",
    "mosslite.data.cli",
    "mosslite.serve",
    "mosslite.chat_cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mosslite", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra:  # a subcommand that defaults `overrides` takes unknown `--key value` pairs as config overrides
        if not hasattr(args, "overrides"):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.overrides = extra
    try:
        return args.func(args) or 0
    except (ValueError, FileNotFoundError, KeyError) as err:  # user errors: say what is wrong, no traceback
        print(f"mosslite {args.command}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
