"""The ``metakan`` command line: one sub-command per module in this package."""

from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from . import bench, demo, plot, sweep, train

# Each command module has HELP, add_arguments(parser) and run(args) -> exit code.
COMMANDS = {"demo": demo, "train": train, "sweep": sweep, "plot": plot, "bench": bench}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="metakan", description="KAN and MetaKAN on fused B-spline kernels.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module in COMMANDS.items():
        sub = commands.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(sub)
        sub.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
