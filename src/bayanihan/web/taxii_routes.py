"""TAXII 2.1 over HTTP: routing, content negotiation, authentication, size limits."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bayanihan.policy.principal import Principal
from bayanihan.taxii import TAXII_MEDIA_TYPE
from bayanihan.taxii.errors import TaxiiError
from bayanihan.taxii.service import Page, TaxiiService
from bayanihan.web.auth import CHALLENGE, authenticate

_TAXII = "application/taxii+json"


def _media_type(value: str) -> tuple[str, dict[str, str]]:
    kind, *params = value.split(";")
    parsed: dict[str, str] = {}
    for param in params:
        name, _, val = param.partition("=")
        parsed[name.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), parsed


def accepts_taxii(accept: str | None) -> bool:
    """True when the Accept header admits TAXII 2.1 JSON (bare taxii+json means 2.1)."""
    if not accept or not accept.strip():
        return True
    for part in accept.split(","):
        kind, params = _media_type(part)
        if params.get("q") in ("0", "0.0", "0.00", "0.000"):
            continue
        if kind in ("*/*", "application/*"):
            return True
        if kind == _TAXII and params.get("version", "2.1") == "2.1":
            return True
    return False


def is_taxii_content(content_type: str | None) -> bool:
    if not content_type:
        return False
    kind, params = _media_type(content_type)
    return kind == _TAXII and params.get("version", "2.1") == "2.1"


def taxii_response(page: Page) -> Response:
    return Response(
        content=page.body,
        status_code=page.status,
        media_type=TAXII_MEDIA_TYPE,
        headers=page.header_items(),
    )


def error_response(error: TaxiiError) -> Response:
    return Response(
        content=error.body(),
        status_code=error.http_status,
        media_type=TAXII_MEDIA_TYPE,
        headers=error.headers,
    )


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        params.setdefault(name, []).append(value)
    return params


async def read_limited(request: Request, limit: int) -> bytes:
    """The request body, refusing with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise TaxiiError(400, "Bad Content-Length", f"{declared!r} is not a length")
        if int(declared) > limit:
            raise TaxiiError(
                413,
                "Request too large",
                f"the body is {declared} bytes; this API root accepts at most {limit} "
                "(max_content_length)",
            )
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TaxiiError(
                413, "Request too large", f"this API root accepts at most {limit} bytes"
            )
        chunks.append(chunk)
    return b"".join(chunks)


Handler = Callable[[Request, TaxiiService, Principal | None], Awaitable[Page]]


def taxii_routes(service: TaxiiService) -> list[Route]:
    node = service.node

    def endpoint(handler: Handler, *, public: bool = False) -> Callable[[Request], Any]:
        async def run(request: Request) -> Response:
            try:
                if not accepts_taxii(request.headers.get("accept")):
                    raise TaxiiError(
                        406,
                        "Not Acceptable",
                        f"this server answers {TAXII_MEDIA_TYPE}; the request accepts "
                        f"{request.headers.get('accept')!r}",
                    )
                principal = await run_in_threadpool(
                    authenticate,
                    node,
                    request.headers.get("authorization"),
                    request.client.host if request.client else None,
                )
                if principal is None and request.headers.get("authorization") and not public:
                    # a key was sent but is unknown or revoked: never fall back to anonymous
                    raise TaxiiError(
                        401,
                        "Unauthorized",
                        "the API key is unknown or revoked",
                        headers={"WWW-Authenticate": CHALLENGE},
                    )
                return taxii_response(await handler(request, service, principal))
            except TaxiiError as error:
                return error_response(error)

        return run

    def p(request: Request, name: str) -> str:
        return str(request.path_params[name])

    async def discovery(request: Request, svc: TaxiiService, _: Principal | None) -> Page:
        base = str(request.url_for("taxii_discovery"))
        return await run_in_threadpool(svc.discovery, base)

    async def api_root(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        return await run_in_threadpool(svc.api_root, who, p(request, "root"))

    async def status(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        return await run_in_threadpool(svc.status, who, p(request, "root"), p(request, "status"))

    async def collections(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        return await run_in_threadpool(svc.collections, who, p(request, "root"))

    async def collection(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        return await run_in_threadpool(
            svc.collection, who, p(request, "root"), p(request, "collection")
        )

    async def objects(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        root, collection_id = p(request, "root"), p(request, "collection")
        if request.method == "POST":
            if not is_taxii_content(request.headers.get("content-type")):
                raise TaxiiError(
                    415,
                    "Unsupported Media Type",
                    f"POST a TAXII envelope as {TAXII_MEDIA_TYPE}, not "
                    f"{request.headers.get('content-type')!r}",
                )
            body = await read_limited(request, svc.settings.max_content_length)
            return await run_in_threadpool(svc.add_objects, who, root, collection_id, body)
        return await run_in_threadpool(svc.get_objects, who, root, collection_id, _params(request))

    async def one_object(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        root, collection_id = p(request, "root"), p(request, "collection")
        object_id = p(request, "object")
        if request.method == "DELETE":
            return await run_in_threadpool(
                svc.delete_object, who, root, collection_id, object_id, _params(request)
            )
        return await run_in_threadpool(
            lambda: svc.get_objects(who, root, collection_id, _params(request), object_id=object_id)
        )

    async def versions(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        return await run_in_threadpool(
            svc.versions,
            who,
            p(request, "root"),
            p(request, "collection"),
            p(request, "object"),
            _params(request),
        )

    async def manifest(request: Request, svc: TaxiiService, who: Principal | None) -> Page:
        return await run_in_threadpool(
            svc.manifest, who, p(request, "root"), p(request, "collection"), _params(request)
        )

    base = "/taxii2"
    col = base + "/{root}/collections/{collection}"
    return [
        Route(base + "/", endpoint(discovery, public=True), name="taxii_discovery"),
        Route(base + "/{root}/", endpoint(api_root)),
        Route(base + "/{root}/status/{status}/", endpoint(status)),
        # taxii2-client polls the status without the trailing slash
        Route(base + "/{root}/status/{status}", endpoint(status)),
        Route(base + "/{root}/collections/", endpoint(collections)),
        Route(col + "/", endpoint(collection)),
        Route(col + "/objects/", endpoint(objects), methods=["GET", "POST"]),
        Route(col + "/objects/{object}/", endpoint(one_object), methods=["GET", "DELETE"]),
        Route(col + "/objects/{object}/versions/", endpoint(versions)),
        Route(col + "/manifest/", endpoint(manifest)),
    ]
