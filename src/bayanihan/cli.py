"""The ``bayanihan`` command: parse arguments, build one ``Node``, call it.

The database comes from ``--db`` or ``BAYANIHAN_DB`` (default: ``bayanihan.db``
in the working directory). Errors print one line on stderr and exit non-zero.
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bayanihan import __version__
from bayanihan.cli_correlate import add_commands as add_correlation_commands
from bayanihan.cli_demo import add_commands as add_demo_commands
from bayanihan.cli_federation import add_commands as add_federation_commands
from bayanihan.node import Node, NodeError
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Role, parse_role
from bayanihan.policy.tlp import Tlp
from bayanihan.settings import Settings
from bayanihan.store.engine import StoreError

EXIT_USAGE = 2
EXIT_REJECTED = 1


def _settings(args: argparse.Namespace, **overrides: object) -> Settings:
    values: dict[str, object] = {k: v for k, v in overrides.items() if v is not None}
    if args.db:
        values["db"] = args.db
    return Settings(**values)  # type: ignore[arg-type]


def _node(args: argparse.Namespace, **overrides: object) -> Node:
    return Node(_settings(args, **overrides))


def cmd_init(args: argparse.Namespace) -> int:
    node = _node(args)
    created = node.init(node_name=args.node_name, country=args.country)
    record = node.node_record()
    state = "initialised" if created else "already initialised (schema migrated)"
    print(f"node {record.name!r} ({record.country}) {state}; node identity {record.identity_id}")
    return 0


def cmd_org_add(args: argparse.Namespace) -> int:
    org = _node(args).add_org(
        args.name, country=args.country, sector=args.sector, identity_id=args.id, parent=args.parent
    )
    print(org.identity_id)
    return 0


def cmd_org_list(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    orgs = node.orgs()
    names = {o.row_id: o.name for o in orgs}
    print(f"{'identity id':46} {'cc':2}  {'where':6} {'sector':22} {'parent':20} name")
    for o in orgs:
        where = "here" if o.local else "remote"
        parent = names.get(o.parent_row, "") if o.parent_row else ""
        print(
            f"{o.identity_id:46} {o.country:2}  {where:6} {o.sector or '':22} {parent:20} {o.name}"
        )
    return 0


def cmd_key_add(args: argparse.Namespace) -> int:
    key = _node(args).add_key(
        role=parse_role(args.role), org_name=args.org, label=args.label, username=args.user
    )
    print(key.secret)
    print(f"({key.role} key #{key.row_id} for {key.org_name}; shown once)", file=sys.stderr)
    return 0


def cmd_key_list(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    print(f"{'#':>4} {'prefix':12} {'role':10} {'state':8} {'org':28} label")
    for k in node.keys():
        state = "revoked" if k.revoked else "active"
        print(f"{k.row_id:>4} {k.prefix:12} {k.role:10} {state:8} {k.org_name:28} {k.label or ''}")
    return 0


def cmd_key_revoke(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    if not node.revoke_key(args.key_id):
        raise NodeError(f"no active key #{args.key_id}")
    print(f"key #{args.key_id} revoked")
    return 0


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    import getpass

    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise NodeError("the two passwords differ")
    return first


def cmd_user_add(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    user = node.add_user(
        args.username, org_name=args.org, password=_password(args), role=parse_role(args.role)
    )
    print(user.identity_id)
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    print(f"{'user':24} {'role':10} {'state':8} {'identity id':46} org")
    for u in node.users():
        state = "disabled" if u.disabled else "active"
        print(f"{u.username:24} {u.role:10} {state:8} {u.identity_id:46} {u.org_name}")
    return 0


def _acting(node: Node, org: str | None) -> Principal:
    """The local operator, acting as an org-admin of ``org`` (default: the node admin)."""
    if org is None:
        return node.operator(None, role=Role.ADMIN)
    return node.operator(org, role=Role.ORG_ADMIN)


def cmd_group_add(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    group = node.add_group(
        args.name,
        owner=_acting(node, args.org),
        description=args.description,
        members=args.member or [],
        group_id=args.id,
    )
    print(group.id)
    return 0


def cmd_group_list(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    admin = _acting(node, None)
    for group in node.groups(admin):
        members = node.group_members(admin, group.id)
        names = ", ".join(m.name for m in members)
        print(f"{group.id}  {group.name}  ({len(members)} members: {names})")
    return 0


def cmd_group_member(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    changed = node.change_group_member(
        _acting(node, None), args.group, args.org, add=args.member_command == "add"
    )
    verb = "added to" if args.member_command == "add" else "removed from"
    print(f"{args.org} {verb} {args.group}" if changed else "nothing to change")
    return 0


def cmd_public(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    node.set_public_collection(args.state == "on")
    print(f"public collection {'on' if node.public_collection() else 'off'}")
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    report = node.verify_audit()
    if report.ok:
        print(f"audit log intact: {report.checked} entries")
        return 0
    print(f"audit log broken at entry {report.first_broken}: {report.reason}", file=sys.stderr)
    return EXIT_REJECTED


def cmd_audit_export(args: argparse.Namespace) -> int:
    node = _node(args)
    node.require_initialised()
    if args.out:
        with open(args.out, "w", encoding="utf-8") as out:
            count = node.export_audit(out)
    else:
        count = node.export_audit(sys.stdout)
    print(f"{count} entries", file=sys.stderr)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from bayanihan.catalogue import Catalogue

    if args.format != "stix":
        raise NodeError(f"--format {args.format}: this version exports STIX 2.1 bundles only")
    node = _node(args)
    reader = node.operator(args.org, role=Role.READER)
    chunks = Catalogue(node).export(reader)
    if args.out:
        partial = Path(args.out + ".partial")
        with partial.open("wb") as out:
            for chunk in chunks:
                out.write(chunk)
        partial.replace(args.out)
    else:
        for chunk in chunks:
            sys.stdout.buffer.write(chunk)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from bayanihan.web.app import create_app

    if bool(args.tls_cert) != bool(args.tls_key):
        raise NodeError("HTTPS needs both --tls-cert and --tls-key")
    settings = _settings(
        args,
        host=args.host,
        port=args.port,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        tls_client_ca=args.tls_client_ca,
    )
    if settings.tls_client_ca is not None:
        if settings.tls_cert is None:
            raise NodeError("--tls-client-ca (mutual TLS) needs HTTPS: --tls-cert and --tls-key")
        if not settings.tls_client_ca.is_file():
            raise NodeError(f"--tls-client-ca: no such file: {settings.tls_client_ca}")
    node = Node(settings)
    record = node.require_current_schema()
    scheme = "https" if settings.tls_cert else "http"
    print(
        f"serving node {record.name!r} on {scheme}://{settings.host}:{settings.port}/ "
        f"(TAXII at /taxii2/, REST at /api/v1/)",
        file=sys.stderr,
        flush=True,
    )
    uvicorn.run(
        create_app(node),
        host=settings.host,
        port=settings.port,
        ssl_certfile=str(settings.tls_cert) if settings.tls_cert else None,
        ssl_keyfile=str(settings.tls_key) if settings.tls_key else None,
        ssl_ca_certs=str(settings.tls_client_ca) if settings.tls_client_ca else None,
        ssl_cert_reqs=ssl.CERT_REQUIRED if settings.tls_client_ca else ssl.CERT_NONE,
        log_level=args.log_level,
        access_log=args.access_log,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from bayanihan.ingest.importer import import_file
    from bayanihan.ingest.stix_file import StixFileError

    if args.format not in ("auto", "stix"):
        raise NodeError(f"--format {args.format}: only STIX 2.1 JSON is imported by this version")
    node = _node(args)
    principal = node.operator(args.org)
    force_tlp = Tlp.parse(args.tlp) if args.tlp else None
    path = Path(args.file)
    if not path.is_file():
        raise NodeError(f"no such file: {path}")
    started = time.perf_counter()
    with tqdm(
        total=path.stat().st_size,
        unit="B",
        unit_scale=True,
        desc=f"importing {path.name}",
        disable=False if args.progress else None,
        file=sys.stderr,
    ) as bar:

        def advance(position: int) -> None:
            bar.update(position - bar.n)

        try:
            summary = import_file(
                node,
                principal,
                path,
                force_tlp=force_tlp,
                progress=advance,
                parallel=not args.single_process,
            )
        except StixFileError as exc:
            bar.close()
            print(f"error: {path}: {exc}; nothing was imported", file=sys.stderr)
            return EXIT_USAGE
    elapsed = time.perf_counter() - started
    rate = summary.total / elapsed if elapsed > 0 else 0.0
    print(
        f"{summary.total} objects read in {elapsed:.1f} s ({rate:,.0f}/s): "
        f"{summary.stored} stored, {summary.duplicate} duplicate, {summary.rejected} rejected"
    )
    for outcome in summary.reasons:
        print(f"rejected {outcome.id}: {outcome.message}", file=sys.stderr)
    if summary.rejected > len(summary.reasons):
        print(f"... and {summary.rejected - len(summary.reasons)} more rejected", file=sys.stderr)
    return EXIT_REJECTED if summary.rejected else 0


def cmd_load_demo(args: argparse.Namespace) -> int:
    from bayanihan.demo.scenario import load_demo

    node = _node(args)
    node.require_initialised()
    print(load_demo(node, base_url=f"http://127.0.0.1:{args.port}"))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bayanihan",
        description="A Bayanihan node: STIX 2.1 store and TAXII 2.1 server with TLP 2.0 sharing.",
    )
    parser.add_argument("--version", action="version", version=f"bayanihan {__version__}")
    parser.add_argument(
        "--db",
        default=os.environ.get("BAYANIHAN_DB"),
        help="database URL (sqlite:///PATH or postgresql://...); default $BAYANIHAN_DB or "
        "./bayanihan.db",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    init = commands.add_parser("init", help="create or migrate the database and the node's org")
    init.add_argument("--node-name", help="name of the node and of its own organisation")
    init.add_argument("--country", help="ISO 3166-1 alpha-2 country of the node (default PH)")
    init.set_defaults(func=cmd_init)

    org = commands.add_parser("org", help="organisations").add_subparsers(
        dest="org_command", required=True, metavar="ACTION"
    )
    org_add = org.add_parser("add", help="register an organisation; prints its identity id")
    org_add.add_argument("name")
    org_add.add_argument("--country", required=True, help="ISO 3166-1 alpha-2 code")
    org_add.add_argument("--sector", help="sector (STIX industry-sector vocabulary)")
    org_add.add_argument("--id", help="identity--UUID of an org hosted on another node")
    org_add.add_argument("--parent", help="name of the parent organisation (constituency)")
    org_add.set_defaults(func=cmd_org_add)
    org.add_parser("list", help="list organisations").set_defaults(func=cmd_org_list)

    key = commands.add_parser("key", help="API keys").add_subparsers(
        dest="key_command", required=True, metavar="ACTION"
    )
    key_add = key.add_parser("add", help="create an API key; prints it alone on stdout")
    key_add.add_argument("--org", help="organisation name (default: the node's own org)")
    key_add.add_argument("--role", required=True, help="admin, org-admin, analyst, reader or sync")
    key_add.add_argument("--label", help="a note to recognise the key by")
    key_add.add_argument("--user", help="a person's own key (their org; no wider than their role)")
    key_add.set_defaults(func=cmd_key_add)
    key.add_parser("list", help="list keys (never the secrets)").set_defaults(func=cmd_key_list)
    key_revoke = key.add_parser("revoke", help="revoke a key by its number")
    key_revoke.add_argument("key_id", type=int)
    key_revoke.set_defaults(func=cmd_key_revoke)

    user = commands.add_parser("user", help="people who log in").add_subparsers(
        dest="user_command", required=True, metavar="ACTION"
    )
    user_add = user.add_parser("add", help="add a person; prints their identity id")
    user_add.add_argument("username")
    user_add.add_argument("--org", help="organisation (default: the node's own)")
    user_add.add_argument("--role", required=True, help="admin, org-admin, analyst or reader")
    user_add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    user_add.set_defaults(func=cmd_user_add)
    user.add_parser("list", help="list people").set_defaults(func=cmd_user_list)

    group = commands.add_parser("group", help="sharing groups").add_subparsers(
        dest="group_command", required=True, metavar="ACTION"
    )
    group_add = group.add_parser("add", help="create a sharing group; prints its id")
    group_add.add_argument("name")
    group_add.add_argument("--org", help="owner organisation (default: the node's own)")
    group_add.add_argument("--member", action="append", help="member org name or id; repeatable")
    group_add.add_argument("--description")
    group_add.add_argument("--id", help="the group's id on another node, to keep it the same")
    group_add.set_defaults(func=cmd_group_add)
    group.add_parser("list", help="list groups and members").set_defaults(func=cmd_group_list)
    member = group.add_parser("member", help="change a group's members").add_subparsers(
        dest="member_command", required=True, metavar="ACTION"
    )
    for action in ("add", "remove"):
        change = member.add_parser(action, help=f"{action} a member")
        change.add_argument("group", help="group name or id")
        change.add_argument("org", help="org name or identity id")
        change.set_defaults(func=cmd_group_member)

    public = commands.add_parser("public", help="publish TLP:CLEAR without a key, or stop")
    public.add_argument("state", choices=["on", "off"])
    public.set_defaults(func=cmd_public)

    audit = commands.add_parser("audit", help="the audit log").add_subparsers(
        dest="audit_command", required=True, metavar="ACTION"
    )
    audit.add_parser("verify", help="check the hash chain").set_defaults(func=cmd_audit_verify)
    audit_export = audit.add_parser("export", help="write the log as JSON lines")
    audit_export.add_argument("--out", help="file to write (default: standard output)")
    audit_export.set_defaults(func=cmd_audit_export)

    exp = commands.add_parser("export", help="export what an org may see")
    exp.add_argument(
        "--format", default="stix", choices=["stix", "misp", "csv", "suricata", "blocklist"]
    )
    exp.add_argument("--org", required=True, help="the organisation whose view is exported")
    exp.add_argument("--out", help="file to write (default: standard output)")
    exp.set_defaults(func=cmd_export)

    serve = commands.add_parser("serve", help="serve the web UI, REST and TAXII")
    serve.add_argument("--host", default=None, help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=None, help="port (default 8640)")
    serve.add_argument("--tls-cert", default=None, help="PEM certificate chain: serve HTTPS")
    serve.add_argument("--tls-key", default=None, help="PEM private key for --tls-cert")
    serve.add_argument(
        "--tls-client-ca",
        default=None,
        help="PEM CA bundle: require a client certificate signed by it (mutual TLS)",
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)

    imp = commands.add_parser("import", help="import a STIX 2.1 file (streamed)")
    imp.add_argument("file")
    imp.add_argument("--format", default="auto", choices=["auto", "stix", "misp", "csv", "text"])
    imp.add_argument("--org", required=True, help="organisation the objects are attributed to")
    imp.add_argument("--tlp", help="TLP marking for objects that carry none")
    imp.add_argument(
        "--progress", action="store_true", help="show the progress bar even when not on a terminal"
    )
    imp.add_argument(
        "--single-process",
        action="store_true",
        help="read and write in one process (default: a reader process feeds the writer)",
    )
    imp.set_defaults(func=cmd_import)

    demo = commands.add_parser(
        "load-demo", help="add demo organisations, data and keys to this node (for `make run`)"
    )
    demo.add_argument("--port", type=int, default=8640, help="port shown in the instructions")
    demo.set_defaults(func=cmd_load_demo)
    add_correlation_commands(commands, _node)
    add_federation_commands(commands, _node)
    add_demo_commands(commands, _node)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except (NodeError, StoreError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
