"""``bayanihan peer add|set|list|outbox|remove`` and ``bayanihan sync``: federation from the shell.

The CLI operator holds the database, so these act as the node administrator.
Secrets given to ``peer add`` are stored for talking to the peer and never printed;
``--key-stdin`` and ``--password-stdin`` keep them off the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from bayanihan.federation import Federation, PeerView
from bayanihan.node import Node, NodeError

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


def _client_cert(view: PeerView) -> str:
    if view.client_cert is None:
        return "none"
    return view.client_cert + (f" (key {view.client_key})" if view.client_key else "")


def _stdin_secret(flag: str) -> str:
    """One line of standard input, without its line ending: a secret given this way is
    not seen in ``ps`` or kept in the shell's history."""
    line = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
    if not line.strip():
        raise NodeError(f"{flag}: standard input gave no secret (one line expected)")
    return line


def _cmd_add(make: NodeFactory, args: argparse.Namespace) -> int:
    if args.key_stdin and args.password_stdin:
        raise NodeError("give either --key-stdin or --password-stdin: one line, one secret")
    if args.password_stdin and not args.user:
        raise NodeError("--password-stdin is the HTTP Basic password of --user U")
    if args.key_stdin and args.user:
        raise NodeError("give either --key or --user with --password, not both")
    key = _stdin_secret("--key-stdin") if args.key_stdin else args.key
    password = _stdin_secret("--password-stdin") if args.password_stdin else args.password
    view = Federation(make(args)).add_peer(
        args.name,
        url=args.url,
        key=key,
        username=args.user,
        password=password,
        ca_file=args.ca_file,
        client_cert=args.client_cert,
        client_key=args.client_key,
        allow_insecure=args.allow_insecure,
        push_collection=args.push_collection,
        tlp=args.tlp,
        groups=args.groups,
    )
    how = "bearer key" if view.auth == "key" else f"HTTP Basic as {view.username}"
    if view.client_cert:
        how += ", client certificate"
    print(f"peer {view.name} added: {view.url} ({how}); run `bayanihan sync` to pull")
    if not view.outbound.open:
        print(f"  may leave towards it: {view.outbound_text}")
    return 0


def _cmd_set(make: NodeFactory, args: argparse.Namespace) -> int:
    view = Federation(make(args)).set_peer(
        args.name,
        tlp=args.tlp,
        groups=args.groups,
        client_cert=args.client_cert,
        client_key=args.client_key,
        no_client_cert=args.no_client_cert,
    )
    print(f"peer {view.name} changed")
    print(f"  may leave towards it: {view.outbound_text}")
    print(f"  client certificate: {_client_cert(view)}")
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
        print(f"  client certificate: {_client_cert(v)}")
        print(
            f"  last push success: {d['last_push_success'] or 'never'}  objects pushed: {v.pushed}"
        )
        print(f"  last push error: {v.last_push_error or '-'}")
        print(f"  may leave towards it: {v.outbound_text}")
        print(
            f"  outbox: {v.push_pending} pending, {v.push_failed} refused by the peer, "
            f"{v.push_held} held back by peer policy"
        )
    return 0


def _cmd_outbox(make: NodeFactory, args: argparse.Namespace) -> int:
    federation = Federation(make(args))
    entries = federation.outbox(args.name, dropped=args.dropped)
    if args.json:
        json.dump([e.as_dict() for e in entries], sys.stdout, indent=2, ensure_ascii=False)
        print()
        return 0
    if not entries:
        print(f"nothing waiting for {args.name} and nothing refused")
    for e in entries:
        d = e.as_dict()
        due = f", next attempt {d['next_attempt']}" if e.state == "pending" else ""
        print(f"{e.object_id} {d['version']}  {e.state}, {e.attempts} attempt(s){due}")
        if e.last_error:
            print(f"  {e.last_error}")
    held = federation.peer(args.name).push_held
    if held and not args.dropped:
        print(f"{held} held back by peer policy, not sent (listed with --dropped)")
    return 0


def _cmd_remove(make: NodeFactory, args: argparse.Namespace) -> int:
    Federation(make(args)).remove_peer(args.name)
    print(f"peer {args.name} removed (organisations and objects learned from it stay)")
    return 0


def _cmd_sync(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_current_schema()
    results = Federation(node).sync(args.peer, pull=not args.push_only, push=not args.pull_only)
    if args.json:
        json.dump([r.as_dict() for r in results], sys.stdout, indent=2, ensure_ascii=False)
        print()
    elif not results:
        print("no peers to sync with (add one with `bayanihan peer add`)")
    failed = 0
    for r in results:
        pulled, pushed = r.pull, r.push
        if not args.json and pulled is not None:
            print(
                f"{r.peer}: {pulled.stored} stored, {pulled.duplicate} duplicate, "
                f"{pulled.rejected} rejected, {pulled.skipped} skipped "
                f"({pulled.collections} collection(s))"
            )
            for reason, count in pulled.reasons.most_common(5):
                print(f"  rejected {count}: {reason}")
        if not args.json and pushed is not None:
            held = f", {pushed.held} held back by peer policy" if pushed.held else ""
            print(
                f"{r.peer}: pushed {pushed.sent} ({pushed.accepted} accepted, "
                f"{pushed.refused} refused, {pushed.pending} pending), "
                f"{pushed.waiting} waiting in the outbox{held}"
            )
            for reason, count in pushed.reasons.most_common(5):
                print(f"  refused {count}: {reason}")
        if pulled is not None and pulled.error is not None:
            print(f"error: peer {r.peer} failed: {pulled.error}", file=sys.stderr)
        if pushed is not None and pushed.error is not None:
            print(f"error: push to peer {r.peer} failed: {pushed.error}", file=sys.stderr)
        if not r.ok:
            failed += 1
    return 1 if failed else 0


def _policy_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tlp",
        metavar="LEVELS",
        help="TLP levels that may leave towards it (pushed, or read by its sync key here): "
        "all (the default: the audience alone decides) or a comma list of clear, green, "
        "amber, amber+strict, red",
    )
    parser.add_argument(
        "--groups",
        metavar="all|none|G1,G2",
        help="sharing groups (names or ids) whose objects may leave towards it (pushed, or "
        "read by its sync key here; default all)",
    )


def add_commands(commands: Any, make: NodeFactory) -> None:
    """Register ``peer`` and ``sync`` on the ``bayanihan`` parser."""

    def bind(parser: argparse.ArgumentParser, func: Callable[..., int]) -> None:
        parser.set_defaults(func=lambda args: func(make, args))

    peer = commands.add_parser(
        "peer", help="peer nodes this node pulls from and pushes to"
    ).add_subparsers(dest="peer_command", required=True, metavar="ACTION")
    add = peer.add_parser("add", help="record a peer by its TAXII discovery URL (no network)")
    add.add_argument("name", help="a short name: letters, digits, '.', '_', '-'")
    add.add_argument("--url", required=True, help="the peer's TAXII 2.1 discovery URL")
    key = add.add_mutually_exclusive_group()
    key.add_argument("--key", help="our API key on the peer (sent as a bearer token)")
    key.add_argument(
        "--key-stdin",
        action="store_true",
        help="read the key from standard input (one line), not from the command line",
    )
    add.add_argument("--user", help="HTTP Basic user name (with --password)")
    password = add.add_mutually_exclusive_group()
    password.add_argument("--password", help="HTTP Basic password (with --user)")
    password.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password of --user from standard input (one line)",
    )
    add.add_argument("--ca-file", help="PEM CA bundle to verify the peer's certificate")
    add.add_argument(
        "--client-cert",
        metavar="PEM",
        help="our certificate (chain) for a peer requiring mutual TLS; may hold the key too",
    )
    add.add_argument(
        "--client-key", metavar="PEM", help="the private key of --client-cert, if not in it"
    )
    add.add_argument(
        "--allow-insecure",
        action="store_true",
        help="allow sending credentials over plain http to a host other than this machine",
    )
    add.add_argument(
        "--push-collection",
        metavar="ID",
        help="the peer's collection to push to (default: the first our key may write to)",
    )
    _policy_options(add)
    bind(add, _cmd_add)
    change = peer.add_parser("set", help="change a peer (what is not given stays as it is)")
    change.add_argument("name")
    _policy_options(change)
    cert = change.add_mutually_exclusive_group()
    cert.add_argument(
        "--client-cert",
        metavar="PEM",
        help="present this certificate (chain) to the peer from now on; may hold the key too",
    )
    cert.add_argument(
        "--no-client-cert", action="store_true", help="present no client certificate any more"
    )
    change.add_argument(
        "--client-key", metavar="PEM", help="the private key of --client-cert, if not in it"
    )
    bind(change, _cmd_set)
    listing = peer.add_parser("list", help="peers, their state and the orgs they host")
    listing.add_argument("--json", action="store_true", help="print the list as JSON")
    bind(listing, _cmd_list)
    box = peer.add_parser("outbox", help="objects waiting to be pushed to a peer, or refused")
    box.add_argument("name")
    box.add_argument(
        "--dropped",
        action="store_true",
        help="also entries dropped unsent (held back by peer policy, deleted, no longer for it)",
    )
    box.add_argument("--json", action="store_true", help="print the entries as JSON")
    bind(box, _cmd_outbox)
    remove = peer.add_parser("remove", help="forget a peer")
    remove.add_argument("name")
    bind(remove, _cmd_remove)

    sync = commands.add_parser("sync", help="one round with every peer (or one): pull, then push")
    sync.add_argument("--peer", help="only this peer")
    only = sync.add_mutually_exclusive_group()
    only.add_argument("--pull-only", action="store_true", help="pull, do not push")
    only.add_argument("--push-only", action="store_true", help="push, do not pull")
    sync.add_argument("--json", action="store_true", help="print the results as JSON")
    bind(sync, _cmd_sync)
