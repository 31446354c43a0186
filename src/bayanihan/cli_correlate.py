"""``bayanihan search``, ``hits``, ``warninglist``, ``alert`` and ``correlate`` commands.

Each acts as an organisation's local operator, so answers are that organisation's
view through the sharing policy (``--org``; default the node's own org).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from bayanihan.correlate.service import Correlation
from bayanihan.node import Node, NodeError
from bayanihan.policy.roles import Role

NodeFactory = Callable[[argparse.Namespace], Node]


def _org(view: dict[str, Any]) -> str:
    org = view.get("org") or {}
    return f"{org.get('name')} ({org.get('country')})"


def _print_json(value: Any) -> None:
    json.dump(value, sys.stdout, indent=2, ensure_ascii=False)
    print()


def _cmd_search(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    who = node.operator(args.org, role=Role.READER)
    found = Correlation(node).search(who, args.value, limit=args.limit)
    if args.json:
        _print_json(found)
        return 0
    if not found["interpretations"]:
        print(f"{args.value!r} is not a value correlation knows (IP, domain, URL, hash, ...)")
        return 1
    read = ", ".join(f"{i['kind']} {i['value']}" for i in found["interpretations"])
    print(f"searched as: {read}")
    for observable in found["observables"]:
        noise = f"  [noise: {observable['noise']}]" if observable["noise"] else ""
        print(f"  {observable['match']:5} {observable['kind']} {observable['value']}{noise}")
    if not found["objects"]:
        print(f"no object visible to {who.org_name} carries it")
    for obj in found["objects"]:
        print(
            f"object  {obj['id']}  {obj['tlp']:12} {_org(obj):32} {obj['match']:5} "
            f"{obj['observable']}  {obj['name'] or ''}"
        )
    for obj in found["related"]:
        print(
            f"related {obj['id']}  {obj['tlp']:12} {_org(obj):32} "
            f"{obj['observable']} (same registered domain {obj['registered_domain']})"
        )
    for hit in found["hits"]:
        _print_hit(hit)
    return 0


def _print_hit(hit: dict[str, Any]) -> None:
    border = "cross-border" if hit["cross_border"] else "domestic"
    print(
        f"hit #{hit['hit_id']} {hit['detected']} {border} {hit['match']}: "
        f"{hit['observable']['kind']} {hit['observable']['value']} — "
        f"{hit['object']['id']} [{_org(hit['object'])}] <-> "
        f"{hit['counterpart']['id']} [{_org(hit['counterpart'])}]"
    )


def _cmd_hits(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    who = node.operator(args.org, role=Role.READER)
    page = Correlation(node).hits(
        who,
        everything=args.all,
        cross_border=True if args.cross_border else None,
        limit=args.limit,
    )
    if args.json:
        _print_json(page.hits)
        return 0
    if not page.hits:
        print(f"no hits visible to {who.org_name}")
    for hit in page.hits:
        _print_hit(hit)
    return 0


def _cmd_warninglist_list(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    lists = Correlation(node).warninglists()
    print(f"{'state':8} {'type':9} {'entries':>8}  name")
    for item in lists:
        state = "on" if item["enabled"] else "off"
        print(f"{state:8} {item['type']:9} {item['entries']:>8}  {item['name']}")
    return 0


def _cmd_warninglist_switch(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    correlation = Correlation(node)
    names = list(args.names)
    if args.documentation:
        from bayanihan.correlate.warninglists import documentation_lists

        names.extend(documentation_lists())
    if not names:
        raise NodeError("name at least one warning-list (or --documentation)")
    disabled = correlation.set_warninglists(None, names, enabled=args.state == "on")
    print(f"warning-lists switched {args.state}: {', '.join(names)}")
    print(f"{len(disabled)} list(s) now off on this node")
    return 0


def _cmd_alert_add(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    kind, target = ("webhook", args.webhook) if args.webhook else ("email", args.email)
    created = Correlation(node).add_channel(
        None, org=args.org, kind=kind, target=target, secret=args.secret
    )
    print(f"alert channel #{created['id']}: {kind} {target} for {created['org']}")
    if created["secret"] and not args.secret:
        print(f"webhook secret (shown once): {created['secret']}")
    return 0


def _cmd_alert_list(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    print(f"{'#':>4} {'state':8} {'kind':8} {'org':28} target")
    for c in Correlation(node).channels(None):
        state = "active" if c["active"] else "removed"
        print(f"{c['id']:>4} {state:8} {c['kind']:8} {c['org'] or '':28} {c['target']}")
    return 0


def _cmd_alert_remove(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    Correlation(node).remove_channel(None, args.channel)
    print(f"alert channel #{args.channel} removed")
    return 0


def _cmd_alert_deliver(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    counts = Correlation(node).deliver(limit=args.limit)
    print(", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if counts["failed"] else 0


def _cmd_rebuild(make: NodeFactory, args: argparse.Namespace) -> int:
    node = make(args)
    node.require_initialised()
    sizes = Correlation(node).rebuild()
    print(
        f"correlation index rebuilt: {sizes['observables']} observables, "
        f"{sizes['postings']} postings, {sizes['hits']} hits"
    )
    return 0


def add_commands(commands: Any, make: NodeFactory) -> None:
    """Register the correlation commands on the ``bayanihan`` parser."""

    def bind(parser: argparse.ArgumentParser, func: Callable[..., int]) -> None:
        parser.set_defaults(func=lambda args: func(make, args))

    search = commands.add_parser("search", help="find a value: objects, orgs, countries, hits")
    search.add_argument("value", help="an IP, range, domain, URL, e-mail, hash, phone, IBAN...")
    search.add_argument("--org", help="whose view (default: the node's own org)")
    search.add_argument("--limit", type=int, default=200)
    search.add_argument("--json", action="store_true", help="print the answer as JSON")
    bind(search, _cmd_search)

    hits = commands.add_parser("hits", help="hits on an org's objects, newest first")
    hits.add_argument("--org", help="whose hits (default: the node's own org)")
    hits.add_argument("--all", action="store_true", help="every hit the org may see")
    hits.add_argument("--cross-border", action="store_true", help="only cross-border hits")
    hits.add_argument("--limit", type=int, default=50)
    hits.add_argument("--json", action="store_true")
    bind(hits, _cmd_hits)

    warn = commands.add_parser("warninglist", help="known-benign value lists").add_subparsers(
        dest="warninglist_command", required=True, metavar="ACTION"
    )
    bind(warn.add_parser("list", help="every list, on or off"), _cmd_warninglist_list)
    for state in ("on", "off"):
        switch = warn.add_parser(state, help=f"switch lists {state} by name")
        switch.add_argument("names", nargs="*", help="list names, as `warninglist list` shows")
        switch.add_argument(
            "--documentation",
            action="store_true",
            help="the lists naming documentation ranges and example.* domains",
        )
        switch.set_defaults(state=state)
        bind(switch, _cmd_warninglist_switch)

    alert = commands.add_parser("alert", help="where hit alerts go").add_subparsers(
        dest="alert_command", required=True, metavar="ACTION"
    )
    add = alert.add_parser("add", help="send an org's hit alerts to a webhook or e-mail")
    target = add.add_mutually_exclusive_group(required=True)
    target.add_argument("--webhook", help="URL receiving signed JSON POSTs")
    target.add_argument("--email", help="address receiving alert mail")
    add.add_argument("--org", help="whose alerts (default: the node's own org)")
    add.add_argument("--secret", help="webhook HMAC secret (default: a new random one)")
    bind(add, _cmd_alert_add)
    bind(alert.add_parser("list", help="alert channels"), _cmd_alert_list)
    remove = alert.add_parser("remove", help="stop a channel")
    remove.add_argument("channel", type=int)
    bind(remove, _cmd_alert_remove)
    deliver = alert.add_parser("deliver", help="one round of due deliveries (serve does this)")
    deliver.add_argument("--limit", type=int, default=1000)
    bind(deliver, _cmd_alert_deliver)

    correlate = commands.add_parser("correlate", help="the correlation index").add_subparsers(
        dest="correlate_command", required=True, metavar="ACTION"
    )
    bind(correlate.add_parser("rebuild", help="index every object again"), _cmd_rebuild)
