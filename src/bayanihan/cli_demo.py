"""``bayanihan demo``: three federated nodes on this machine, with a scenario to share.

Thin: parse the options and hand them to ``bayanihan.demo.federated``. The demo
makes its own databases in its directory; ``--db`` is not used.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bayanihan.node import Node

NodeFactory = Callable[[argparse.Namespace], Node]


def _cmd_demo(args: argparse.Namespace) -> int:
    from bayanihan.demo.federated import DemoOptions, run_demo

    options = DemoOptions(
        directory=Path(args.dir),
        base_port=args.base_port,
        rounds=args.rounds,
        fresh=args.fresh,
        interval=args.interval,
    )
    return run_demo(options)


def add_commands(commands: Any, make: NodeFactory) -> None:
    """Register ``demo`` on the ``bayanihan`` parser (``make`` is unused: the demo makes
    its own three nodes)."""
    from bayanihan.demo.federated import DEFAULT_BASE_PORT, DEFAULT_DIR

    del make
    demo = commands.add_parser(
        "demo",
        help="three federated nodes on localhost (VN, SG, JP) sharing a scam campaign",
        description="Start three federated nodes on 127.0.0.1, each with its own SQLite "
        "file and organisations, load a phishing and scam campaign (TLP:GREEN, AMBER and "
        "RED items), sync them and show the cross-border hits on each node; then keep "
        "serving until Ctrl-C.",
    )
    demo.add_argument(
        "--dir",
        default=DEFAULT_DIR,
        help=f"directory for the databases, logs and keys (default ./{DEFAULT_DIR}); "
        "new, empty, or a previous demo's with --fresh",
    )
    demo.add_argument(
        "--base-port",
        type=int,
        default=DEFAULT_BASE_PORT,
        help=f"the nodes listen on this port and the next two (default {DEFAULT_BASE_PORT})",
    )
    how_long = demo.add_mutually_exclusive_group()
    how_long.add_argument(
        "--rounds", type=int, metavar="N", help="run N sync rounds, print, stop (for scripts)"
    )
    how_long.add_argument(
        "--forever",
        action="store_true",
        help="keep serving and syncing until Ctrl-C (the default)",
    )
    demo.add_argument(
        "--fresh", action="store_true", help="wipe a previous demo in --dir and start over"
    )
    demo.add_argument(
        "--interval",
        type=float,
        default=5.0,
        help="seconds between sync rounds while serving (default 5)",
    )
    demo.set_defaults(func=_cmd_demo)
