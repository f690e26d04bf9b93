"""`mosslite experiment NAME [options]`: one subcommand per experiment module.

To add an experiment, add its module to `EXPERIMENTS`. The module needs a docstring (its first line is the help),
`add_arguments(parser)` and `main(args) -> int`; it should import heavy libraries inside `main`, since building the
parser imports every experiment module.
"""

from __future__ import annotations

import argparse
import importlib

EXPERIMENTS: dict[str, str] = {
    "alignment": "mosslite.experiments.alignment",
    "scaling": "mosslite.experiments.scaling",
    "tools": "mosslite.experiments.tools",
    "translation": "mosslite.experiments.translation.cli",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("experiment", help="run a controlled experiment (scaling, …)",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    experiments = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    for name, module_name in EXPERIMENTS.items():
        module = importlib.import_module(module_name)
        doc = module.__doc__ or name
        p = experiments.add_parser(name, help=doc.strip().splitlines()[0], description=doc,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.main)
