"""Command line: `python -m pool [demo]`."""

import argparse
import sys


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m pool", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("demo", help="run the SGI algorithm step by step on a real pool (default)")
    args = parser.parse_args(argv)
    if args.command in (None, "demo"):
        from . import demo

        demo.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
