"""REST API under /api/v1 (FastAPI), with its OpenAPI document at /api/v1/openapi.json.

The documentation page at /api/v1/docs is rendered here from the OpenAPI
document: no script or style is fetched from anywhere else.
"""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from bayanihan import __version__
from bayanihan.node import Node
from bayanihan.web.deps import CurrentPrincipal


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


class PrincipalPublic(BaseModel):
    org_identity_id: str
    org_name: str
    role: str


def rest_app(node: Node) -> FastAPI:
    app = FastAPI(
        title="Bayanihan REST API",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )

    app.state.node = node

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": exc.status_code, "message": str(exc.detail)}},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"error": {"code": 422, "message": "invalid request", "details": exc.errors()}},
            status_code=422,
        )

    @app.get("/node", response_model=NodePublic, summary="This node")
    def get_node(_principal: CurrentPrincipal) -> NodePublic:
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
    def whoami(principal: CurrentPrincipal) -> PrincipalPublic:
        return PrincipalPublic(
            org_identity_id=principal.org_identity,
            org_name=principal.org_name,
            role=principal.role.value,
        )

    @app.get("/orgs", response_model=list[OrgPublic], summary="Registered organisations")
    def list_orgs(_principal: CurrentPrincipal) -> list[OrgPublic]:
        orgs = node.orgs()
        by_row = {o.row_id: o.identity_id for o in orgs}
        return [
            OrgPublic(
                identity_id=o.identity_id,
                name=o.name,
                country=o.country,
                sector=o.sector,
                parent_identity_id=by_row.get(o.parent_row) if o.parent_row else None,
                hosted_here=o.local,
            )
            for o in orgs
        ]

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
Authenticate with <code>Authorization: Bearer KEY</code>.</p>
<table>{"".join(rows)}</table></body></html>"""
