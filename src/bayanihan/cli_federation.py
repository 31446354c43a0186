"""``bayanihan peer add|list|remove`` and ``bayanihan sync``: federation from the shell.

The CLI operator holds the database, so these act as the node administrator.
Secrets given to ``peer add`` are stored for talking to the peer and never printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from bayanihan.federation import Federation, PeerView
from bayanihan.node import Node

NodeFactory = Callable[[argparse.Namespace], Node]


def _lag(view: PeerView) -> str:
    if view.lag is None:
        return "never"
    seconds = int(view.lag)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def _cmd_add(make: NodeFactory, args: argparse.Namespace) -> int:
    view = Federation(make(args)).add_peer(
        args.name,
        url=args.url,
        key=args.key,
        username=args.user,
        password=args.password,
        ca_file=args.ca_file,
        allow_insecure=args.allow_insecure,
    )
    how = "bearer key" if view.auth == "key" else f"HTTP Basic as {view.username}"
    print(f"peer {view.name} added: {view.url} ({how}); run `bayanihan sync` to pull")
    return 0


def _cmd_list(make: NodeFactory, args: argparse.Namespace) -> int:
    views = Federation(make(args)).peers()
    if args.json:
        json.dump([v.as_dict() for v in views], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    if not views:
        print("no peers (add one with `bayanihan peer add`)")
        return 0
    for v in views:
        d = v.as_dict()
        print(f"{v.name}  {v.url}")
        print(f"  last success: {d['last_success'] or 'never'}  lag: {_lag(v)}")
        print(f"  last error:   {v.last_error or '-'}")
        print(f"  objects pulled: {v.pulled}")
        print(f"  orgs: {', '.join(v.orgs) if v.orgs else '(none learned yet)'}")
    return 0


def _cmd_remove(make: NodeFactory, args: argparse.Namespace) -> int:
    Federation(make(args)).remove_peer(args.name)
    print(f"peer {args.name} removed (organisations and objects learned from it stay)")
    return 0


def _cmd_sync(make: NodeFactory, args: argparse.Namespace) -> int:
    results = Federation(make(args)).sync(args.peer)
    if args.json:
        json.dump([r.as_dict() for r in results], sys.stdout, indent=2, ensure_ascii=False)
        print()
    elif not results:
        print("no peers to sync with (add one with `bayanihan peer add`)")
    failed = 0
    for r in results:
        if not args.json:
            print(
                f"{r.peer}: {r.stored} stored, {r.duplicate} duplicate, {r.rejected} rejected, "
                f"{r.skipped} skipped ({r.collections} collection(s))"
            )
            for reason, count in r.reasons.most_common(5):
                print(f"  rejected {count}: {reason}")
        if r.error is not None:
            failed += 1
            print(f"error: peer {r.peer} failed: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def add_commands(commands: Any, make: NodeFactory) -> None:
    """Register ``peer`` and ``sync`` on the ``bayanihan`` parser."""

    def bind(parser: argparse.ArgumentParser, func: Callable[..., int]) -> None:
        parser.set_defaults(func=lambda args: func(make, args))

    peer = commands.add_parser("peer", help="peer nodes this node pulls from").add_subparsers(
        dest="peer_command", required=True, metavar="ACTION"
    )
    add = peer.add_parser("add", help="record a peer by its TAXII discovery URL (no network)")
    add.add_argument("name", help="a short name: letters, digits, '.', '_', '-'")
    add.add_argument("--url", required=True, help="the peer's TAXII 2.1 discovery URL")
    add.add_argument("--key", help="our API key on the peer (sent as a bearer token)")
    add.add_argument("--user", help="HTTP Basic user name (with --password)")
    add.add_argument("--password", help="HTTP Basic password (with --user)")
    add.add_argument("--ca-file", help="PEM CA bundle to verify the peer's certificate")
    add.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow sending credentials over plain http to a host other than this machine",
    )
    bind(add, _cmd_add)
    listing = peer.add_parser("list", help="peers, their state and the orgs they host")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    bind(listing, _cmd_list)
    remove = peer.add_parser("remove", help="forget a peer")
    remove.add_argument("name")
    bind(remove, _cmd_remove)

    sync = commands.add_parser("sync", help="one pull round with every peer (or one)")
    sync.add_argument("--peer", help="only this peer")
    sync.add_argument("--json", action="store_true", help="print the results as JSON")
    bind(sync, _cmd_sync)
