"""REST API under /api/v1 (FastAPI), with its OpenAPI document at /api/v1/openapi.json.

Thin: each route checks its input, calls the node or the catalogue, and turns
their errors into JSON ``{"error": {"code", "message"}}``. The documentation page
at /api/v1/docs is rendered here from the OpenAPI document: nothing is fetched
from anywhere else.
"""

from __future__ import annotations

from html import escape
from typing import Annotated, Any, Literal

from fastapi import Body, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from bayanihan import __version__
from bayanihan.catalogue import Catalogue, Filters
from bayanihan.node import NewKey, Node, NodeError, NotFound, PermissionDenied, require
from bayanihan.policy.principal import Principal
from bayanihan.policy.roles import Action, parse_role
from bayanihan.stix.timestamps import TimestampError, format_timestamp, parse_timestamp
from bayanihan.web.deps import CurrentPrincipal
from bayanihan.web.rest_correlate import add_correlation_routes
from bayanihan.web.rest_federation import add_federation_routes

RoleName = Literal["admin", "org-admin", "analyst", "reader", "sync"]


class NodePublic(BaseModel):
    name: str
    country: str
    identity_id: str
    org_identity_id: str
    version: str


class OrgPublic(BaseModel):
    identity_id: str
    name: str
    country: str
    sector: str | None
    parent_identity_id: str | None
    hosted_here: bool


class OrgCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    country: str = Field(min_length=2, max_length=2)
    sector: str | None = None
    identity_id: str | None = Field(default=None, description="for an org hosted on another node")
    parent: str | None = Field(default=None, description="name of the parent organisation")


class PrincipalPublic(BaseModel):
    org_identity_id: str
    org_name: str
    role: str
    user: str | None = None
    peer_org_identity_ids: list[str] = Field(
        default_factory=list,
        description="a sync key: the other organisations it reads and writes as (hosted on "
        "the same peer node as its own); empty for every other key",
    )


class ObjectPage(BaseModel):
    objects: list[dict[str, Any]]
    next: str | None = Field(description="pass as `cursor` for the next page; null at the end")


class OutcomePublic(BaseModel):
    id: str
    version: str | None
    status: Literal["stored", "duplicate", "rejected"]
    message: str


class SubmitResult(BaseModel):
    stored: int
    duplicate: int
    rejected: int
    outcomes: list[OutcomePublic]


class GroupCreate(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = None
    members: list[str] = Field(default_factory=list, description="org names or identity ids")
    id: str | None = Field(default=None, description="keep a group's id from another node")


class GroupPublic(BaseModel):
    id: str
    name: str
    description: str | None
    owner_identity_id: str
    members: list[OrgPublic] | None = None


class MemberChange(BaseModel):
    org: str = Field(description="an org name or identity id")


class KeyCreate(BaseModel):
    role: RoleName
    org: str | None = Field(default=None, description="organisation name (default: yours)")
    label: str | None = None


class KeyCreated(BaseModel):
    key: str = Field(description="shown once; only its hash is kept")
    number: int
    org: str
    role: str


class KeyPublic(BaseModel):
    number: int
    prefix: str
    org: str
    role: str
    label: str | None
    user: str | None
    revoked: bool


class UserCreate(BaseModel):
    username: str
    password: str = Field(min_length=12)
    role: Literal["admin", "org-admin", "analyst", "reader"]
    org: str | None = None


class UserPublic(BaseModel):
    username: str
    identity_id: str
    org: str
    role: str
    disabled: bool


class Login(BaseModel):
    username: str
    password: str


class AuditPublic(BaseModel):
    seq: int
    at: str
    key_row: int | None
    org_row: int | None
    user_row: int | None
    action: str
    object_ids: list[str]
    remote: str | None
    detail: str | None
    hash: str


class AuditPage(BaseModel):
    entries: list[AuditPublic]
    next: int | None


class VerifyPublic(BaseModel):
    ok: bool
    checked: int
    first_broken: int | None
    reason: str | None


class PublicCollection(BaseModel):
    enabled: bool


def _org_public(org: Any, by_row: dict[int, str]) -> OrgPublic:
    return OrgPublic(
        identity_id=org.identity_id,
        name=org.name,
        country=org.country,
        sector=org.sector,
        parent_identity_id=by_row.get(org.parent_row) if org.parent_row else None,
        hosted_here=org.local,
    )


def _key_created(key: NewKey) -> KeyCreated:
    return KeyCreated(key=key.secret, number=key.row_id, org=key.org_name, role=key.role.value)


def _timestamp(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except TimestampError as exc:
        raise StarletteHTTPException(400, f"{name}: {exc}") from None


def _cursor(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit():
        raise StarletteHTTPException(400, "cursor: not a cursor this server issued")
    return int(value)


def rest_app(node: Node) -> FastAPI:
    app = FastAPI(
        title="Bayanihan REST API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.node = node
    catalogue = Catalogue(node)

    def error(status: int, message: str, **extra: Any) -> JSONResponse:
        return JSONResponse({"error": {"code": status, "message": message, **extra}}, status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = error(exc.status_code, str(exc.detail))
        for name, value in (getattr(exc, "headers", None) or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        details = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        return error(422, "invalid request", details=details)

    @app.exception_handler(NodeError)
    async def refused(_request: Request, exc: NodeError) -> JSONResponse:
        if isinstance(exc, PermissionDenied):
            return error(403, str(exc))
        if isinstance(exc, NotFound):
            return error(404, str(exc))
        return error(400, str(exc))

    def managed_org(who: Principal, what: str) -> int | None:
        """The org whose keys and users the caller manages; None: every org (node admin)."""
        if not (who.can(Action.CREATE_KEY_ANY_ORG) or who.can(Action.CREATE_KEY_OWN_ORG)):
            raise PermissionDenied(f"a {who.role} key may not list {what}")
        return None if who.can(Action.CREATE_KEY_ANY_ORG) else who.org_row

    # -- the node and the caller ---------------------------------------------------------

    @app.get("/node", response_model=NodePublic, summary="This node")
    def get_node(_who: CurrentPrincipal) -> NodePublic:
        record = node.node_record()
        org_identity = next(o.identity_id for o in node.orgs() if o.row_id == record.org_row)
        return NodePublic(
            name=record.name,
            country=record.country,
            identity_id=record.identity_id,
            org_identity_id=org_identity,
            version=__version__,
        )

    @app.get(
        "/whoami", response_model=PrincipalPublic, summary="The caller's organisation and role"
    )
    def whoami(who: CurrentPrincipal) -> PrincipalPublic:
        user = None
        if who.user_row is not None:
            user = next((u.username for u in node.users() if u.row_id == who.user_row), None)
        return PrincipalPublic(
            org_identity_id=who.org_identity,
            org_name=who.org_name,
            role=who.role.value,
            user=user,
            peer_org_identity_ids=[org.identity for org in who.peer_orgs],
        )

    @app.post("/login", response_model=KeyCreated, summary="Log in: a new key for that person")
    def login(body: Login) -> KeyCreated:
        key = node.login(body.username, body.password)
        if key is None:
            raise StarletteHTTPException(401, "wrong user name or password")
        return _key_created(key)

    # -- objects ---------------------------------------------------------------------------

    @app.get("/objects", response_model=ObjectPage, summary="Objects you may see, newest first")
    def list_objects(
        who: CurrentPrincipal,
        type: Annotated[list[str] | None, Query(description="STIX type; repeatable")] = None,
        org: Annotated[str | None, Query(description="author org name or identity id")] = None,
        country: Annotated[list[str] | None, Query(description="author's country")] = None,
        tlp: Annotated[list[str] | None, Query(description="clear, green, amber...")] = None,
        added_after: str | None = None,
        added_before: str | None = None,
        q: Annotated[str | None, Query(description="text in name or description")] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        cursor: str | None = None,
    ) -> ObjectPage:
        before = _timestamp("added_before", added_before)
        cursor_value = _cursor(cursor)
        if cursor_value is not None:
            before = cursor_value if before is None else min(before, cursor_value)
        try:
            found = catalogue.search(
                who,
                Filters(
                    types=type or (),
                    org=org,
                    countries=country or (),
                    tlps=tlp or (),
                    added_after=_timestamp("added_after", added_after),
                    added_before=before,
                    text=q,
                    limit=limit,
                ),
            )
        except ValueError as exc:  # an unknown TLP name
            raise StarletteHTTPException(400, str(exc)) from None
        next_cursor = None if found.next_cursor is None else str(found.next_cursor)
        return ObjectPage(objects=found.objects, next=next_cursor)

    @app.get("/objects/{object_id}", summary="The latest version of an object")
    def get_object(
        who: CurrentPrincipal, object_id: str, versions: Literal["last", "all"] = "last"
    ) -> Response:
        bodies = catalogue.get(who, object_id, all_versions=versions == "all")
        content = bodies[-1] if versions == "last" else b"[" + b",".join(bodies) + b"]"
        return Response(content, media_type="application/json")

    @app.post("/objects", response_model=SubmitResult, summary="Submit STIX objects")
    def submit(
        who: CurrentPrincipal,
        body: Annotated[
            dict[str, Any] | list[Any],
            Body(description="a STIX bundle, a TAXII envelope, or a list of objects"),
        ],
    ) -> SubmitResult:
        objects = body if isinstance(body, list) else body.get("objects")
        if not isinstance(objects, list) or not objects:
            raise StarletteHTTPException(400, "send a bundle or envelope with 'objects'")
        outcomes = catalogue.submit(who, objects)
        return SubmitResult(
            stored=sum(o.status == "stored" for o in outcomes),
            duplicate=sum(o.status == "duplicate" for o in outcomes),
            rejected=sum(o.status == "rejected" for o in outcomes),
            outcomes=[
                OutcomePublic(id=o.id, version=o.version, status=o.status, message=o.message)  # type: ignore[arg-type]
                for o in outcomes
            ],
        )

    @app.post(
        "/objects/{object_id}/revoke", response_model=OutcomePublic, summary="Revoke an object"
    )
    def revoke(who: CurrentPrincipal, object_id: str) -> OutcomePublic:
        o = catalogue.revoke(who, object_id)
        return OutcomePublic(id=o.id, version=o.version, status=o.status, message=o.message)  # type: ignore[arg-type]

    @app.get("/export", summary="Every object you may see, as one STIX bundle")
    def export(who: CurrentPrincipal) -> Response:
        from starlette.responses import StreamingResponse

        return StreamingResponse(
            catalogue.export(who), media_type="application/stix+json;version=2.1"
        )

    # -- organisations ---------------------------------------------------------------------

    @app.get("/orgs", response_model=list[OrgPublic], summary="Registered organisations")
    def list_orgs(_who: CurrentPrincipal) -> list[OrgPublic]:
        orgs = node.orgs()
        by_row = {o.row_id: o.identity_id for o in orgs}
        return [_org_public(o, by_row) for o in orgs]

    @app.post("/orgs", response_model=OrgPublic, status_code=201, summary="Register an org")
    def add_org(who: CurrentPrincipal, body: OrgCreate) -> OrgPublic:
        require(who, Action.MANAGE_ORGS, "register organisations")
        org = node.add_org(
            body.name,
            country=body.country,
            sector=body.sector,
            identity_id=body.identity_id,
            parent=body.parent,
            by=who,
        )
        return _org_public(org, {o.row_id: o.identity_id for o in node.orgs()})

    # -- sharing groups --------------------------------------------------------------------

    def group_public(who: Principal, group: Any, *, with_members: bool) -> GroupPublic:
        owners = {o.row_id: o.identity_id for o in node.orgs()}
        members = None
        if with_members:
            members = [
                OrgPublic(
                    identity_id=m.identity_id,
                    name=m.name,
                    country=m.country,
                    sector=None,
                    parent_identity_id=None,
                    hosted_here=False,
                )
                for m in node.group_members(who, group.id)
            ]
        return GroupPublic(
            id=group.id,
            name=group.name,
            description=group.description,
            owner_identity_id=owners[group.owner_org],
            members=members,
        )

    @app.get("/sharing-groups", response_model=list[GroupPublic], summary="Your sharing groups")
    def list_groups(who: CurrentPrincipal) -> list[GroupPublic]:
        return [group_public(who, g, with_members=False) for g in node.groups(who)]

    @app.post(
        "/sharing-groups", response_model=GroupPublic, status_code=201, summary="Create a group"
    )
    def add_group(who: CurrentPrincipal, body: GroupCreate) -> GroupPublic:
        group = node.add_group(
            body.name,
            owner=who,
            description=body.description,
            members=body.members,
            group_id=body.id,
        )
        return group_public(who, group, with_members=True)

    @app.get(
        "/sharing-groups/{group}", response_model=GroupPublic, summary="A group and its members"
    )
    def get_group(who: CurrentPrincipal, group: str) -> GroupPublic:
        record = next((g for g in node.groups(who) if group in (g.id, g.name)), None)
        if record is None:
            raise NotFound(f"no sharing group {group!r}")
        return group_public(who, record, with_members=True)

    @app.post("/sharing-groups/{group}/members", response_model=GroupPublic, summary="Add a member")
    def add_member(who: CurrentPrincipal, group: str, body: MemberChange) -> GroupPublic:
        node.change_group_member(who, group, body.org, add=True)
        return get_group(who, group)

    @app.delete(
        "/sharing-groups/{group}/members/{org}", response_model=GroupPublic, summary="Remove one"
    )
    def remove_member(who: CurrentPrincipal, group: str, org: str) -> GroupPublic:
        if not node.change_group_member(who, group, org, add=False):
            raise NotFound(f"{org!r} is not a member")
        return get_group(who, group)

    # -- keys and users --------------------------------------------------------------------

    @app.get("/keys", response_model=list[KeyPublic], summary="API keys (never their secrets)")
    def list_keys(who: CurrentPrincipal) -> list[KeyPublic]:
        scope = managed_org(who, "keys")
        return [
            KeyPublic(
                number=k.row_id,
                prefix=k.prefix,
                org=k.org_name,
                role=k.role,
                label=k.label,
                user=k.username,
                revoked=k.revoked is not None,
            )
            for k in node.keys()
            if scope is None or k.org_row == scope
        ]

    @app.post("/keys", response_model=KeyCreated, status_code=201, summary="Create an API key")
    def add_key(who: CurrentPrincipal, body: KeyCreate) -> KeyCreated:
        key = node.add_key(
            role=parse_role(body.role),
            org_name=body.org or who.org_name,
            label=body.label,
            granted_by=who,
        )
        return _key_created(key)

    @app.delete("/keys/{number}", status_code=204, summary="Revoke an API key")
    def revoke_key(who: CurrentPrincipal, number: int) -> Response:
        node.revoke_key_as(who, number)
        return Response(status_code=204)

    @app.get("/users", response_model=list[UserPublic], summary="People who log in")
    def list_users(who: CurrentPrincipal) -> list[UserPublic]:
        scope = managed_org(who, "users")
        return [
            UserPublic(
                username=u.username,
                identity_id=u.identity_id,
                org=u.org_name,
                role=u.role,
                disabled=u.disabled is not None,
            )
            for u in node.users(org_row=scope)
        ]

    @app.post("/users", response_model=UserPublic, status_code=201, summary="Add a person")
    def add_user(who: CurrentPrincipal, body: UserCreate) -> UserPublic:
        user = node.add_user(
            body.username,
            org_name=body.org,
            password=body.password,
            role=parse_role(body.role),
            granted_by=who,
        )
        return UserPublic(
            username=user.username,
            identity_id=user.identity_id,
            org=user.org_name,
            role=user.role,
            disabled=False,
        )

    # -- audit and node switches -----------------------------------------------------------

    @app.get("/audit", response_model=AuditPage, summary="The audit log (node admins)")
    def audit(
        who: CurrentPrincipal,
        after: Annotated[int, Query(ge=0)] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> AuditPage:
        require(who, Action.READ_AUDIT, "read the audit log")
        entries = node.audit_entries(after=after, limit=limit + 1)
        more = len(entries) > limit
        entries = entries[:limit]
        return AuditPage(
            entries=[
                AuditPublic(
                    seq=e.seq,
                    at=format_timestamp(e.at),
                    key_row=e.key_row,
                    org_row=e.org_row,
                    user_row=e.user_row,
                    action=e.action,
                    object_ids=list(e.object_ids),
                    remote=e.remote,
                    detail=e.detail,
                    hash=e.hash,
                )
                for e in entries
            ],
            next=entries[-1].seq if more else None,
        )

    @app.get("/audit/verify", response_model=VerifyPublic, summary="Check the audit hash chain")
    def audit_verify(who: CurrentPrincipal) -> VerifyPublic:
        require(who, Action.READ_AUDIT, "verify the audit log")
        report = node.verify_audit()
        return VerifyPublic(
            ok=report.ok,
            checked=report.checked,
            first_broken=report.first_broken,
            reason=report.reason,
        )

    @app.get("/public-collection", response_model=PublicCollection, summary="Is it published?")
    def get_public(_who: CurrentPrincipal) -> PublicCollection:
        return PublicCollection(enabled=node.public_collection())

    @app.put("/public-collection", response_model=PublicCollection, summary="Publish CLEAR or not")
    def set_public(who: CurrentPrincipal, body: PublicCollection) -> PublicCollection:
        node.set_public_collection(body.enabled, by=who)
        return PublicCollection(enabled=node.public_collection())

    add_correlation_routes(app, node)
    add_federation_routes(app, node)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(render_docs(app.openapi()))

    return app


def render_docs(schema: dict[str, Any]) -> str:
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, operation in operations.items():
            rows.append(
                f"<tr><td><code>{escape(method.upper())}</code></td>"
                f"<td><code>/api/v1{escape(path)}</code></td>"
                f"<td>{escape(operation.get('summary', ''))}</td></tr>"
            )
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>{escape(schema["info"]["title"])}</title>
<style>body {{ font-family: system-ui, sans-serif; max-width: 50rem; margin: 2rem auto; }}
td {{ padding: .3rem .8rem; border-bottom: 1px solid #dde; }}</style></head><body>
<h1>{escape(schema["info"]["title"])} {escape(schema["info"]["version"])}</h1>
<p>Machine-readable: <a href="/api/v1/openapi.json">/api/v1/openapi.json</a>.
Authenticate with <code>Authorization: Bearer KEY</code> (or log in with
<code>POST /api/v1/login</code> to get one). Errors are JSON:
<code>{{"error": {{"code": 403, "message": "..."}}}}</code>.</p>
<table>{"".join(rows)}</table></body></html>"""
