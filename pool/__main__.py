"""Command line: `python -m pool [demo | bench ... | diff ... | replay TRACE [--check]]`."""

import argparse
import sys


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["replay"]:  # its own parser: pool.traces.replay_main
        from .traces import replay_main

        return replay_main(argv[1:])
    if argv[:1] == ["diff"]:  # its own parser: pool.testing.diff.main
        from .testing import diff

        return diff.main(argv[1:])
    if argv[:1] == ["show"]:  # its own parser: pool.view.cli
        from .view import cli

        return cli.main(argv[1:])
    if argv[:1] == ["bench"]:  # its own parser: pool.bench.main
        from . import bench

        return bench.main(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m pool")
    sub = parser.add_subparsers(dest="command")
    demo_parser = sub.add_parser(
        "demo", help="run the SGI algorithm step by step on a real pool (default)")
    demo_parser.add_argument("--steps", action="store_true",
                             help="one call at a time, naming the step of docs/algorithm.md")
    sub.add_parser("bench", help="benchmark suite (python -m pool bench --help)")
    sub.add_parser("diff", help="differential campaign against the reference (diff --help)")
    sub.add_parser("replay", help="replay an allocation trace: replay TRACE [--check]")
    sub.add_parser("show", help="draw a pool's chunk map and free lists (show --help)")
    args = parser.parse_args(argv)
    if args.command == "demo" and args.steps:
        from .view import steps

        return steps.main()
    if args.command in (None, "demo"):
        from . import demo

        demo.main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
